"""The stage machine: where each contact stands, and every move, in both directions.

The stage at any moment is a function of what the contact had done by then (the *features*
of :data:`clientela.config.STAGE_FEATURES`: orders, renewals, cancellations, advocacy, days
since the last activity or purchase, ...). The configured rules are tried in order and the
first whose conditions all hold gives the stage. Features change only at the contact's
events and when a ``days_since_*`` threshold of some rule is crossed, so the machine is
evaluated exactly there: at every milestone event (purchase, renewal, cancellation, advocacy,
identification), at the first and last activity of each day, and at every threshold crossing
before the next event. Consecutive equal stages collapse into one stay, which gives the
history: entered, exited, time in stage, the reason (the rule that placed the contact) and
the stage before. A churned customer who buys again moves back to ``customer``.

**Subscriptions keep customers customers.** :func:`subscriptions` reads every subscription
from its events (``[stages.subscriptions]``): a *payment* (a start, a renewal, a payment, or a
purchase with a subscription id or plan) keeps the subscription active for its interval plus
the grace period; a cancellation ends it at once; no payment in time and it *lapsed* at the
end of that grace. The next payment after an end starts a new *spell* (a reactivation). Plan,
interval and MRR are those of the latest payment that states them. The ``subscribed``
feature is 1 while one of the contact's subscriptions is active; the start of a spell counts
as an order unless a purchase event started it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import (
    INTERVAL_DAYS,
    INTERVAL_WORDS,
    SUBSCRIPTION_INTERVALS,
    StageSettings,
)
from clientela.engine import Engine
from clientela.engine.portable import trim, union_all
from clientela.scoring.events import SECONDS_PER_DAY

# days_since_* feature → the state column holding the time it counts from.
ANCHORS: dict[str, str] = {
    "days_since_activity": "last_active",
    "days_since_purchase": "last_purchase",
    "days_since_order": "last_order",
    "days_since_first_purchase": "first_purchase",
    "days_since_advocacy": "last_advocacy",
    "days_since_identified": "first_identified",
}
FLAGS = (
    "purchase",
    "renewal",
    "paid",
    "cancel",
    "advocacy",
    "identify",
    "active",
    "sub_start",
    "sub_end",
)


@dataclass(frozen=True)
class Stages:
    history: ir.Table
    """contact_id, stage, previous_stage, entered_at, exited_at, days_in_stage, reason"""
    current: ir.Table
    """contact_id, stage, stage_since, days_in_stage, stage_reason"""


@dataclass(frozen=True)
class Subscriptions:
    spells: ir.Table
    """contact_id, subscription_id, spell, started_secs, start_is_purchase, ended_secs
    (null while active), ended ('cancelled', 'lapsed' or null)"""
    history: ir.Table
    """The published ``subscriptions``: one row per stretch of a spell with the same plan,
    interval and MRR: contact_id, subscription_id, spell, plan, interval, mrr, started_at
    (the spell's start), from_at, until_at (null while it lasts), ended ('changed',
    'cancelled', 'lapsed' or null)"""


def _subscription_kinds(
    settings: StageSettings, events: ir.Table
) -> tuple[ir.BooleanValue, ir.BooleanValue]:
    """(is a subscription payment, is a cancellation) of each event."""
    ev, sub = settings.events, settings.subscriptions
    track = events.type == "track"
    named = events.s_subscription_id.notnull() | events.s_plan.notnull()
    cancel = (track & events.event.isin(ev.cancel)).fill_null(False)
    pay = (
        track
        & (
            events.event.isin([*sub.started, *ev.renewal, *sub.payment])
            | (events.event.isin(ev.purchase) & named)
        )
        & ~cancel
    ).fill_null(False)
    return pay, cancel


def _carried(table: ir.Table, column: str, keys: list[str], order: list[str]) -> ir.Table:
    """``column``, or where it is null the last non-null value before it in ``order``."""
    group = f"_{column}_group"
    counted = table.mutate(
        **{
            group: table[column]
            .notnull()
            .cast("int64")
            .sum()
            .over(ibis.window(group_by=keys, order_by=order, rows=(None, 0)))
        }
    )
    return counted.mutate(
        **{column: counted[column].max().over(ibis.window(group_by=[*keys, group]))}
    ).drop(group)


def subscriptions(
    engine: Engine, settings: StageSettings, events: ir.Table, as_of: datetime
) -> Subscriptions:
    """Every subscription's spells and its history of plan and MRR, as of ``as_of``, both
    materialised (the stage machine, the lifecycle view and the publisher read them).

    ``events`` are prepared scoring events (with the ``s_*`` subscription fields)."""
    sub = settings.subscriptions
    as_of_secs = int(as_of.timestamp())
    pay, cancel = _subscription_kinds(settings, events)
    word = trim(events.s_interval.lower())
    interval = ibis.cases(*((word == w, i) for w, i in INTERVAL_WORDS.items()), else_=None)
    amount = ibis.coalesce(
        *(events[f"s_amount_{i}"].try_cast("float64") for i in range(len(sub.fields.amount)))
    )
    plan = trim(events.s_plan)
    rows = events.filter(pay | cancel).select(
        "contact_id",
        "secs",
        "message_id",
        is_cancel=cancel.cast("int64"),
        is_purchase=events.event.isin(settings.events.purchase).cast("int64"),
        subscription_id=ibis.coalesce(trim(events.s_subscription_id), ibis.literal("")),
        plan=ibis.ifelse(cancel | (plan == ""), ibis.null("string"), plan),
        interval=ibis.ifelse(cancel, ibis.null("string"), interval),
        stated_mrr=ibis.ifelse(cancel, ibis.null("float64"), events.s_mrr.try_cast("float64")),
        amount=ibis.ifelse(cancel, ibis.null("float64"), amount),
    )
    keys = ["contact_id", "subscription_id"]
    # A payment and a cancellation in the same second: the payment first.
    order = ["secs", "is_cancel", "message_id"]
    rows = _carried(rows, "interval", keys, order)
    rows = rows.mutate(interval=rows.interval.fill_null(sub.default_interval))
    months = ibis.cases(
        *((rows.interval == i, float(m)) for i, m in SUBSCRIPTION_INTERVALS.items()), else_=1.0
    )
    rows = rows.mutate(
        mrr=ibis.coalesce(rows.stated_mrr, rows.amount / months),
        due=rows.secs
        + ibis.cases(
            *(
                (rows.interval == i, round((d + sub.grace_days) * SECONDS_PER_DAY))
                for i, d in INTERVAL_DAYS.items()
            ),
            else_=0,
        ),
    )
    rows = _carried(rows, "plan", keys, order)
    rows = _carried(rows, "mrr", keys, order)
    w = ibis.window(group_by=keys, order_by=order)
    prev_cancel = rows.is_cancel.lag().over(w)
    prev_until = ibis.ifelse(prev_cancel == 1, rows.secs.lag().over(w), rows.due.lag().over(w))
    rows = rows.mutate(
        new_spell=ibis.ifelse(
            (rows.is_cancel == 0)
            & (prev_cancel.isnull() | (prev_cancel == 1) | (rows.secs >= prev_until)),
            1,
            0,
        ),
        # A cancellation counts only while the subscription is active.
        counts=(rows.is_cancel == 0) | ((prev_cancel == 0) & (rows.secs < prev_until)),
    )
    rows = rows.filter(rows.counts.fill_null(False))
    w_cum = ibis.window(group_by=keys, order_by=order, rows=(None, 0))
    rows = rows.mutate(spell=rows.new_spell.sum().over(w_cum))
    spell_keys = [*keys, "spell"]
    # The spell's last payment says until when it is paid (a cancellation comes last).
    following = rows.is_cancel.lead().over(ibis.window(group_by=spell_keys, order_by=order))
    # Materialised once: the spells and the stretches are both read from it.
    rows = engine.cache(
        rows.mutate(last_pay=(rows.is_cancel == 0) & (following.isnull() | (following == 1)))
    )
    pays = rows.filter(rows.is_cancel == 0)
    spells = rows.group_by(spell_keys).aggregate(
        started_secs=rows.secs.min(),
        start_is_purchase=ibis.ifelse(rows.new_spell == 1, rows.is_purchase, 0).max(),
        cancelled_secs=ibis.ifelse(rows.is_cancel == 1, rows.secs, ibis.null("int64")).max(),
        paid_through=ibis.ifelse(rows.last_pay, rows.due, ibis.null("int64")).max(),
    )
    lapsed = spells.paid_through <= as_of_secs
    spells = engine.cache(
        spells.select(
            *spell_keys,
            "started_secs",
            "start_is_purchase",
            ended_secs=ibis.coalesce(
                spells.cancelled_secs, ibis.ifelse(lapsed, spells.paid_through, ibis.null("int64"))
            ),
            ended=ibis.cases(
                (spells.cancelled_secs.notnull(), "cancelled"), (lapsed, "lapsed"), else_=None
            ),
        )
    )
    # Stretches: consecutive payments of a spell with the same plan, interval and MRR.
    pw = ibis.window(group_by=spell_keys, order_by=["secs", "message_id"])

    def differs(column: str) -> ir.BooleanValue:
        before = pays[column].lag().over(pw)
        same = (pays[column] == before) | (pays[column].isnull() & before.isnull())
        return ~same.fill_null(False)

    pays = pays.mutate(
        changed=ibis.ifelse(
            (pays.new_spell == 1) | differs("plan") | differs("interval") | differs("mrr"), 1, 0
        )
    )
    pays = pays.mutate(
        stretch=pays.changed.sum().over(
            ibis.window(group_by=spell_keys, order_by=["secs", "message_id"], rows=(None, 0))
        )
    )
    stretches = pays.group_by([*spell_keys, "stretch"]).aggregate(
        plan=pays.plan.max(),
        interval=pays.interval.max(),
        mrr=pays.mrr.max(),
        from_secs=pays.secs.min(),
    )
    stretches = stretches.join(spells, spell_keys)
    sw = ibis.window(group_by=spell_keys, order_by=stretches.stretch)
    next_from = stretches.from_secs.lead().over(sw)
    until = ibis.coalesce(next_from, stretches.ended_secs)

    def utc(secs: ir.IntegerValue) -> ir.TimestampValue:
        return secs.as_timestamp("s").cast("timestamp('UTC')")

    history = stretches.select(
        "contact_id",
        "subscription_id",
        "spell",
        "plan",
        "interval",
        "mrr",
        started_at=utc(stretches.started_secs),
        from_at=utc(stretches.from_secs),
        until_at=utc(until),
        ended=ibis.ifelse(next_from.notnull(), "changed", stretches.ended),
    )
    return Subscriptions(spells=spells, history=engine.cache(history))


def _points(
    settings: StageSettings, events: ir.Table, contacts: ir.Table, spells: ir.Table
) -> ir.Table:
    """One row per (contact, second) at which something the machine reads happened."""
    ev = settings.events
    track = events.type == "track"
    pay, _cancel = _subscription_kinds(settings, events)
    flagged = events.mutate(
        purchase=(track & events.event.isin(ev.purchase)).cast("int64"),
        renewal=(track & events.event.isin(ev.renewal)).cast("int64"),
        paid=pay.cast("int64"),
        cancel=(track & events.event.isin(ev.cancel)).cast("int64"),
        advocacy=(track & events.event.isin(ev.advocacy)).cast("int64"),
        identify=(events.user_id.notnull() | events.email.notnull()).cast("int64"),
        active=(
            events.type.isin(["track", "page", "screen", "identify"])
            & ~(track & events.event.isin(ev.passive)).fill_null(False)
        ).cast("int64"),
        sub_start=ibis.literal(0, type="int64"),
        sub_end=ibis.literal(0, type="int64"),
    )
    milestones = flagged.filter(
        (_.purchase + _.renewal + _.paid + _.cancel + _.advocacy) > 0
    ).select("contact_id", "secs", *FLAGS)
    zero = {f: ibis.literal(0, type="int64") for f in FLAGS}
    # A spell's start is an order (unless a purchase started it); its end is a point in time
    # where ``subscribed`` may flip.
    spell_starts = spells.select(
        "contact_id",
        secs=spells.started_secs,
        **{
            **zero,
            "purchase": 1 - spells.start_is_purchase,
            "sub_start": ibis.literal(1, type="int64"),
        },
    )
    spell_ends = spells.filter(spells.ended_secs.notnull()).select(
        "contact_id", secs=spells.ended_secs, **{**zero, "sub_end": ibis.literal(1, type="int64")}
    )
    first_id = (
        flagged.filter(_.identify > 0)
        .group_by("contact_id")
        .aggregate(secs=_.secs.min())
        .select("contact_id", "secs", **{**zero, "identify": ibis.literal(1, type="int64")})
    )
    # Known from the CRM without ever identifying in events: identified when first seen.
    crm_only = (
        contacts.filter(_.in_crm & _.first_seen.notnull())
        .anti_join(first_id, "contact_id")
        .select(
            "contact_id",
            secs=_.first_seen.truncate("s").epoch_seconds().cast("int64"),
            **{**zero, "identify": ibis.literal(1, type="int64")},
        )
    )
    days = (
        flagged.filter(_.active > 0)
        .group_by(["contact_id", "day"])
        .aggregate(first=_.secs.min(), last=_.secs.max())
    )
    active = {**zero, "active": ibis.literal(1, type="int64")}
    first_of_day = days.select("contact_id", secs=_.first, **active)
    last_of_day = days.select("contact_id", secs=_.last, **active)
    rows = union_all(
        [milestones, first_id, crm_only, first_of_day, last_of_day, spell_starts, spell_ends]
    )
    return rows.group_by(["contact_id", "secs"]).aggregate(**{f: rows[f].sum() for f in FLAGS})


def _state(points: ir.Table) -> ir.Table:
    """Cumulative state after each point: counts so far and the times features count from."""
    w = ibis.window(group_by="contact_id", order_by="secs", rows=(None, 0))
    p = points

    def last(flag: ir.IntegerValue) -> ir.IntegerValue:
        return ibis.ifelse(flag > 0, p.secs, ibis.null("int64")).max().over(w)

    def first(flag: ir.IntegerValue) -> ir.IntegerValue:
        return ibis.ifelse(flag > 0, p.secs, ibis.null("int64")).min().over(w)

    return p.select(
        "contact_id",
        "secs",
        orders=p.purchase.sum().over(w),
        renewals=p.renewal.sum().over(w),
        cancels=p.cancel.sum().over(w),
        advocacy=p.advocacy.sum().over(w),
        identified=ibis.ifelse(p.identify.max().over(w) > 0, 1, 0),
        subscribed=ibis.ifelse((p.sub_start - p.sub_end).sum().over(w) > 0, 1, 0),
        last_active=last(p.active),
        last_purchase=last(p.purchase + p.renewal + p.paid),
        last_order=last(p.purchase),
        first_purchase=first(p.purchase),
        last_advocacy=last(p.advocacy),
        last_cancel=last(p.cancel),
        first_identified=first(p.identify),
        next_secs=p.secs.lead().over(ibis.window(group_by="contact_id", order_by="secs")),
    )


def _thresholds(settings: StageSettings) -> set[tuple[str, int]]:
    """(anchor column, seconds after it) at which some rule's condition flips."""
    out = set()
    for rule in settings.rules:
        for cond in rule.conditions:
            if cond.feature in ANCHORS:
                # '>' and '<=' flip one second after the exact threshold, '>=' and '<' at it.
                extra = 1 if cond.op in (">", "<=") else 0
                out.add((ANCHORS[cond.feature], round(cond.number * SECONDS_PER_DAY) + extra))
    return out


def _condition(table: ir.Table, feature: str, op: str, number: float) -> ir.BooleanValue:
    value: ir.NumericValue
    if feature in ANCHORS:
        value = (table.point - table[ANCHORS[feature]]).cast("float64") / SECONDS_PER_DAY
    elif feature == "cancelled":
        value = ibis.ifelse(
            table.last_cancel.notnull()
            & (table.last_purchase.isnull() | (table.last_cancel > table.last_purchase)),
            1,
            0,
        )
    else:
        value = table[feature]
    test = {
        ">": value > number,
        ">=": value >= number,
        "<": value < number,
        "<=": value <= number,
        "==": value == number,
        "!=": value != number,
    }[op]
    return test.fill_null(False)


def build(
    engine: Engine,
    settings: StageSettings,
    events: ir.Table,
    contacts: ir.Table,
    fit: ir.Table,
    as_of: datetime,
    spells: ir.Table,
) -> Stages:
    """Stage history and current stage of every contact, as of ``as_of``.

    ``events`` are prepared scoring events; ``fit`` has (contact_id, fit) for scored contacts;
    ``spells`` are the :func:`subscriptions` spells.
    """
    as_of_secs = int(as_of.timestamp())
    state = _state(_points(settings, events, contacts, spells))
    evaluated = [state.mutate(point=state.secs)]
    for anchor, seconds in sorted(_thresholds(settings)):
        crossing = state[anchor] + seconds
        evaluated.append(
            state.filter(
                state[anchor].notnull()
                & (crossing > state.secs)
                & (state.next_secs.isnull() | (crossing < state.next_secs))
                & (crossing <= as_of_secs)
            ).mutate(point=crossing)
        )
    points = union_all(evaluated).filter(_.point <= as_of_secs)
    if any(c.feature == "fit" for r in settings.rules for c in r.conditions):
        points = points.left_join(fit.select("contact_id", "fit"), "contact_id")

    which = ibis.cases(
        *(
            (
                ibis.and_(
                    *(_condition(points, c.feature, c.op, c.number) for c in rule.conditions)
                ),
                i,
            )
            for i, rule in enumerate(settings.rules)
            if rule.conditions
        ),
        else_=len(settings.rules) - 1,
    )
    placed = points.select("contact_id", "point", rule_no=which)
    placed = placed.mutate(
        stage=ibis.cases(*((placed.rule_no == i, r.stage) for i, r in enumerate(settings.rules))),
        reason=ibis.cases(
            *((placed.rule_no == i, r.describe()) for i, r in enumerate(settings.rules))
        ),
    )
    by_time = ibis.window(group_by="contact_id", order_by="point")
    moves = placed.mutate(previous_stage=placed.stage.lag().over(by_time)).filter(
        _.previous_stage.isnull() | (_.previous_stage != _.stage)
    )
    stays = moves.mutate(exited=moves.point.lead().over(by_time))
    history = stays.select(
        "contact_id",
        "stage",
        "previous_stage",
        entered_at=stays.point.as_timestamp("s").cast("timestamp('UTC')"),
        exited_at=stays.exited.as_timestamp("s").cast("timestamp('UTC')"),
        days_in_stage=(
            (ibis.coalesce(stays.exited, ibis.literal(as_of_secs)) - stays.point).cast("float64")
            / SECONDS_PER_DAY
        ).round(4),
        reason=stays.reason,
    )
    # Materialised once: the current stage is read from the history, not computed again.
    history = engine.cache(history)
    default = settings.rules[-1]
    current_known = history.filter(_.exited_at.isnull()).select(
        "contact_id",
        "stage",
        stage_since=_.entered_at,
        days_in_stage=_.days_in_stage,
        stage_reason=_.reason,
    )
    current = (
        contacts.select("contact_id")
        .left_join(current_known, "contact_id")
        .select(
            "contact_id",
            stage=_.stage.fill_null(default.stage),
            stage_since=_.stage_since,
            days_in_stage=_.days_in_stage,
            stage_reason=_.stage_reason.fill_null(default.describe()),
        )
    )
    return Stages(history=history, current=engine.cache(current))
