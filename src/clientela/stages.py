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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import StageSettings
from clientela.engine import Engine
from clientela.engine.portable import union_all
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
FLAGS = ("purchase", "renewal", "cancel", "advocacy", "identify", "active")


@dataclass(frozen=True)
class Stages:
    history: ir.Table
    """contact_id, stage, previous_stage, entered_at, exited_at, days_in_stage, reason"""
    current: ir.Table
    """contact_id, stage, stage_since, days_in_stage, stage_reason"""


def _points(settings: StageSettings, events: ir.Table, contacts: ir.Table) -> ir.Table:
    """One row per (contact, second) at which something the machine reads happened."""
    ev = settings.events
    track = events.type == "track"
    flagged = events.mutate(
        purchase=(track & events.event.isin(ev.purchase)).cast("int64"),
        renewal=(track & events.event.isin(ev.renewal)).cast("int64"),
        cancel=(track & events.event.isin(ev.cancel)).cast("int64"),
        advocacy=(track & events.event.isin(ev.advocacy)).cast("int64"),
        identify=(events.user_id.notnull() | events.email.notnull()).cast("int64"),
        active=(
            events.type.isin(["track", "page", "screen", "identify"])
            & ~(track & events.event.isin(ev.passive)).fill_null(False)
        ).cast("int64"),
    )
    milestones = flagged.filter((_.purchase + _.renewal + _.cancel + _.advocacy) > 0).select(
        "contact_id", "secs", *FLAGS
    )
    zero = {f: ibis.literal(0, type="int64") for f in FLAGS}
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
    rows = union_all([milestones, first_id, crm_only, first_of_day, last_of_day])
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
        last_active=last(p.active),
        last_purchase=last(p.purchase + p.renewal),
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
) -> Stages:
    """Stage history and current stage of every contact, as of ``as_of``.

    ``events`` are prepared scoring events; ``fit`` has (contact_id, fit) for scored contacts.
    """
    as_of_secs = int(as_of.timestamp())
    state = _state(_points(settings, events, contacts))
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
