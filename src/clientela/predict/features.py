"""The propensity models' training and scoring rows: one row per (contact, cut-off).

For every cut-off T (whole epoch seconds) and every contact who was a *customer* (a stage in
the ``customers`` role) or a *prospect* (a funnel stage from the ``lead`` stage up to, not
including, the first customer stage) at T, the features are what the contact had done by T
and the labels are what happened in (T, T + N], N = ``[predict.propensity] horizon_days``:

* ``churned``: a customer at T who entered a stage in the ``churned`` role in the window;
* ``purchased``: a prospect at T who entered a customer stage in the window (a purchase or a
  subscription start moves a contact there).

Both labels are NULL while their window is not over at the as-of date (the scoring cut-off).

The stage at T is read from the published stage history (the machine is causal: the stay
that covers T is the stage a replay at T would give). Every cut-off is computed in one
expression: the population (contact, cut-off) is joined with the contact's events up to T and
aggregated in one group-by; there is no pass per cut-off or per signal.

**Engagement at T** replays the scoring ledger at T exactly: each signal's events up to T with
their daily cap (which depends only on the events of that day), decayed relative to T, summed
and clamped at the signal's total cap (clamping the newest-first running sum at the cap is the
same as clamping the sum). The contact's model is its primary model as of the as-of date; fit
is its fit as of the as-of date (fit reads traits, which the landed data do not date). The
grade at T (fit letter from the fit, engagement digit from the engagement at T) is the
back-test's baseline.

Caveat shared by every replay from one run: events are attributed to contacts through the
identity graph resolved at the as-of date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import Settings
from clientela.scoring.engagement import signal_filter
from clientela.scoring.events import METRIC_FIELD_PREFIX, SECONDS_PER_DAY
from clientela.scoring.grade import engagement_digit, engagement_expr, fit_letter, grade_rank

RECENT_DAYS = 90
"""The window of the ``*_90d`` features."""

NUMERIC_FEATURES: tuple[str, ...] = (
    "days_since_activity",
    "days_since_purchase",
    "tenure_days",
    "days_in_stage",
    "events_30d",
    "events_90d",
    "active_days_90d",
    "orders",
    "orders_90d",
    "tickets_90d",
    "unanswered_tickets",
    "response_hours",
    "community_90d",
    "ratings",
    "mean_rating",
    "low_ratings",
    "fit",
    "engagement",
)
"""The behavioural features every row has (the per-signal ones, ``signal_*``, follow)."""

COUNTS = frozenset(
    {
        "events_30d",
        "events_90d",
        "active_days_90d",
        "orders",
        "orders_90d",
        "tickets_90d",
        "community_90d",
        "ratings",
        "low_ratings",
        "unanswered_tickets",
    }
)
"""Features that count things (0 when nothing happened)."""

DIGITS = 6
"""Decimals of the float features (so that every engine gives the same digits)."""


@dataclass(frozen=True)
class Roles:
    """The stages each population and label is read from."""

    customers: list[str]
    churned: list[str]
    prospects: list[str]


def roles(settings: Settings) -> Roles:
    """Customers, churned and prospect stages from the metric stage roles (raises
    :class:`clientela.errors.ClientelaError` when custom stages leave them unset)."""
    found = settings.stage_roles()
    funnel: list[str] = list(found["funnel"])
    customers: list[str] = list(found["customers"])
    lead = found["lead"]
    start = funnel.index(lead) if lead in funnel else 0
    prospects: list[str] = []
    for stage in funnel[start:]:
        if stage in customers:
            break
        prospects.append(stage)
    return Roles(customers=customers, churned=list(found["churned"]), prospects=prospects)


@dataclass(frozen=True)
class Cutoffs:
    """The cut-offs (epoch seconds): ``train`` (oldest first), ``test`` and ``score``."""

    train: list[int]
    test: int
    score: int

    @property
    def all(self) -> list[int]:
        return [*self.train, self.test, self.score]


def plan(settings: Settings, as_of: datetime) -> Cutoffs:
    """The cut-offs as of ``as_of``: the test cut-off is N days before it (its window ends at
    the as-of date); the latest training cut-off is N days before the test cut-off (every
    training label is known at the test cut-off, so nothing after it is learnt from), the
    others ``cutoff_spacing_days`` apart before that; ``score`` is the as-of date."""
    options = settings.predict.propensity
    horizon = options.horizon_days * SECONDS_PER_DAY
    score = int(as_of.timestamp())
    test = score - horizon
    spacing = options.cutoff_spacing_days * SECONDS_PER_DAY
    train = [test - horizon - k * spacing for k in reversed(range(options.cutoffs))]
    return Cutoffs(train=train, test=test, score=score)


def signal_column(model: str, signal: str) -> str:
    """The column of a model's signal points (``sig_b2c__page_view``)."""
    return "sig_" + re.sub(r"[^A-Za-z0-9]+", "_", f"{model}__{signal}").strip("_").lower()


def feature_column(signal: str) -> str:
    """The feature column of a signal, whatever the model (``signal_page_view``)."""
    return "signal_" + re.sub(r"[^A-Za-z0-9]+", "_", signal).strip("_").lower()


def signal_features(settings: Settings) -> list[str]:
    """The per-signal feature columns, in the order of the models and their signals."""
    seen: dict[str, None] = {}
    for name in settings.model_order():
        for signal in settings.models[name].signals:
            seen.setdefault(feature_column(signal.name))
    return list(seen)


def _secs(value: ir.TimestampValue) -> ir.IntegerValue:
    return value.truncate("s").epoch_seconds().cast("int64")


def build(
    settings: Settings,
    events: ir.Table,
    history: ir.Table,
    primary: ir.Table,
    cutoffs: list[int],
    as_of: datetime,
) -> ir.Table:
    """One row per (contact, cut-off) of the customers and prospects at each cut-off.

    ``events`` are the prepared events of contacts; ``history`` the stage history;
    ``primary`` each scored contact's primary ``model`` and ``fit``. Columns: ``contact_id``,
    ``cutoff`` (epoch seconds), ``population`` (``customer`` or ``prospect``), ``stage``,
    the :data:`NUMERIC_FEATURES`, the :func:`signal_features`, ``grade`` and ``grade_rank``
    at the cut-off, and the labels ``churned`` and ``purchased`` (0/1, NULL when unknown).
    """
    options = settings.predict.propensity
    found = roles(settings)
    as_of_secs = int(as_of.timestamp())
    horizon = options.horizon_days * SECONDS_PER_DAY
    marks = ibis.memtable({"cutoff": sorted(set(cutoffs))}).cast({"cutoff": "int64"})
    stays = history.select(
        "contact_id",
        "stage",
        entered=_secs(history.entered_at),
        exited=_secs(history.exited_at),
    )

    # The population: the stay that covers each cut-off, if it is a customer or prospect stage.
    wanted = [*found.customers, *found.prospects]
    covering = stays.filter(stays.stage.isin(wanted)).cross_join(marks)
    covering = covering.filter(
        (covering.entered <= covering.cutoff)
        & (covering.exited.isnull() | (covering.exited > covering.cutoff))
    )
    people = covering.select(
        "contact_id",
        "cutoff",
        "stage",
        population=ibis.ifelse(covering.stage.isin(found.customers), "customer", "prospect"),
        days_in_stage=(covering.cutoff - covering.entered).cast("float64") / SECONDS_PER_DAY,
    )

    # Labels: the stays entered in (T, T + N].
    later = people.select("contact_id", "cutoff").join(
        stays.select("contact_id", entered_later=_.entered, later_stage=_.stage),
        "contact_id",
    )
    later = later.filter(
        (later.entered_later > later.cutoff) & (later.entered_later <= later.cutoff + horizon)
    )
    labels = later.group_by("contact_id", "cutoff").aggregate(
        churn_seen=later.later_stage.isin(found.churned or ["\x00"]).cast("int64").max(),
        buy_seen=later.later_stage.isin(found.customers).cast("int64").max(),
    )

    # Per-event flags and the daily-capped points of every signal (independent of T).
    ev_names = settings.stages.events
    metric_events = settings.metrics.events
    track = events.type == "track"
    flags = {
        "is_active": ~(track & events.event.isin(ev_names.passive)).fill_null(False),
        "is_purchase": (track & events.event.isin(ev_names.purchase)).fill_null(False),
        "is_ticket": (track & events.event.isin(metric_events.ticket)).fill_null(False),
        "is_community": (track & events.event.isin(metric_events.engagement)).fill_null(False),
    }
    signal_specs: list[tuple[str, str, str, float, float | None]] = []
    hits: dict[str, ir.Value] = {}
    for model_name in settings.model_order():
        for signal in settings.models[model_name].signals:
            column = signal_column(model_name, signal.name)
            if column in hits:
                continue
            hits[column] = ibis.ifelse(
                signal_filter(events, signal), float(signal.points), 0.0
            ).fill_null(0.0)
            signal_specs.append(
                (
                    model_name,
                    feature_column(signal.name),
                    column,
                    float(signal.half_life_days),
                    signal.cap_total,
                )
            )
    prepared = events.select(
        "contact_id",
        "message_id",
        "secs",
        "day",
        rating=events[METRIC_FIELD_PREFIX + "rating"].try_cast("float64"),
        **flags,
        **hits,
    )
    capped: dict[str, ir.Value] = {}
    day_window = ibis.window(
        group_by=[prepared.contact_id, prepared.day],
        order_by=[prepared.secs, prepared.message_id],
        rows=(None, 0),
    )
    for model_name in settings.model_order():
        for signal in settings.models[model_name].signals:
            column = signal_column(model_name, signal.name)
            if signal.cap_per_day is None or column in capped:
                continue
            base = prepared[column]
            before_today = base.sum().over(day_window) - base
            capped[column] = ibis.greatest(ibis.least(base, signal.cap_per_day - before_today), 0.0)
    if capped:
        prepared = prepared.mutate(**capped)

    # Everything each contact did by T, in one group-by over all cut-offs.
    joined = people.select("contact_id", "cutoff").join(prepared, "contact_id")
    joined = joined.filter(joined.secs <= joined.cutoff)
    age = (joined.cutoff - joined.secs).cast("float64") / SECONDS_PER_DAY
    recent = age <= RECENT_DAYS
    active = joined.is_active
    measures: dict[str, ir.Value] = {
        "days_since_activity": age.min(where=active),
        "days_since_purchase": age.min(where=joined.is_purchase),
        "tenure_days": age.max(),
        "events_30d": active.cast("int64").sum(where=age <= 30),
        "events_90d": active.cast("int64").sum(where=recent),
        "active_days_90d": joined.day.nunique(where=active & recent),
        "orders": joined.is_purchase.cast("int64").sum(),
        "orders_90d": joined.is_purchase.cast("int64").sum(where=recent),
        "tickets_90d": joined.is_ticket.cast("int64").sum(where=recent),
        "community_90d": joined.is_community.cast("int64").sum(where=recent),
        "ratings": joined.rating.count(),
        "mean_rating": joined.rating.mean(),
        "low_ratings": (joined.rating <= 2).cast("int64").sum(),
    }
    for _model, _feature, column, half_life, cap_total in signal_specs:
        decayed = (joined[column] * ibis.literal(0.5) ** (age / half_life)).sum()
        measures[column] = decayed if cap_total is None else ibis.least(decayed, cap_total)
    did = joined.group_by("contact_id", "cutoff").aggregate(**measures)

    # Support response: each ticket's first reply by a person, waited for as of T.
    answered = _first_replies(settings, events)
    waits = people.select("contact_id", "cutoff").join(answered, "contact_id")
    waits = waits.filter(
        (waits.created <= waits.cutoff) & (waits.created > waits.cutoff - RECENT_DAYS * 86_400)
    )
    open_at_t = waits.replied.isnull() | (waits.replied > waits.cutoff)
    waited = ibis.ifelse(open_at_t, waits.cutoff, waits.replied) - waits.created
    support = waits.group_by("contact_id", "cutoff").aggregate(
        unanswered_tickets=open_at_t.cast("int64").sum(),
        response_hours=(waited.cast("float64") / 3600).mean(),
    )

    scored = primary.select("contact_id", scoring_model="model", fit=_.fit)
    rows = (
        people.left_join(did, ["contact_id", "cutoff"])
        .select(~ibis.selectors.endswith("_right"))
        .left_join(support, ["contact_id", "cutoff"])
        .select(~ibis.selectors.endswith("_right"))
        .left_join(labels, ["contact_id", "cutoff"])
        .select(~ibis.selectors.endswith("_right"))
        .left_join(scored, "contact_id")
        .select(~ibis.selectors.endswith("_right"))
    )

    # The contact's own model's signals and engagement at T, and the grade at T.
    per_model: dict[str, list[tuple[str, str]]] = {}
    for model_name, feature, column, _hl, _cap in signal_specs:
        per_model.setdefault(model_name, []).append((feature, column))

    def own(values: dict[str, ir.Value], dtype: str) -> ir.Value:
        """The value of the contact's own model (NULL when it has none)."""
        if not values:
            return ibis.null(dtype)
        return ibis.cases(
            *((rows.scoring_model == m, v) for m, v in values.items()), else_=ibis.null(dtype)
        )

    points = {
        m: sum((rows[c].fill_null(0.0) for _f, c in cols), ibis.literal(0.0))
        for m, cols in per_model.items()
    }
    engagement = own(
        {m: engagement_expr(v, settings.models[m].saturation) for m, v in points.items()},
        "float64",
    ).round(DIGITS)
    letters = own(
        {m: fit_letter(rows.fit, settings.models[m].fit_cutoffs) for m in per_model}, "string"
    )
    digits = own(
        {m: engagement_digit(engagement, settings.models[m].engagement_cutoffs) for m in per_model},
        "string",
    )
    grade = ibis.ifelse(rows.fit.notnull(), letters + digits, ibis.null("string"))
    signal_values: dict[str, ir.Value] = {}
    for feature in signal_features(settings):
        by_model = {
            m: rows[c].fill_null(0.0)
            for m, cols in per_model.items()
            for f, c in cols
            if f == feature
        }
        signal_values[feature] = own(by_model, "float64").fill_null(0.0).round(DIGITS)
    known = rows.cutoff + horizon <= as_of_secs

    def column_of(name: str) -> ir.Value:
        if name in COUNTS:
            return rows[name].fill_null(0).cast("float64")
        if name == "engagement":
            return engagement
        return rows[name].cast("float64").round(DIGITS)

    return rows.select(
        "contact_id",
        "cutoff",
        "population",
        "stage",
        **{name: column_of(name) for name in NUMERIC_FEATURES},
        **signal_values,
        grade=grade,
        grade_rank=grade_rank(grade),
        churned=ibis.ifelse(
            known & (rows.population == "customer"),
            rows.churn_seen.fill_null(0),
            ibis.null("int64"),
        ),
        purchased=ibis.ifelse(
            known & (rows.population == "prospect"),
            rows.buy_seen.fill_null(0),
            ibis.null("int64"),
        ),
    )


def _first_replies(settings: Settings, events: ir.Table) -> ir.Table:
    """Per ticket: ``contact_id``, ``created`` and ``replied`` (the first reply by a person,
    ``[metrics] human_roles``, at or after it; NULL if none), in epoch seconds."""
    names = settings.metrics.events
    ticket_id = events[METRIC_FIELD_PREFIX + "ticket_id"]
    author = events[METRIC_FIELD_PREFIX + "author_role"]
    track = events.type == "track"
    created = (
        events.filter(
            (track & events.event.isin(names.ticket) & ticket_id.notnull()).fill_null(False)
        )
        .group_by("contact_id", ticket=ticket_id)
        .aggregate(created=_.secs.min())
    )
    replies = events.filter(
        (
            track
            & events.event.isin(names.reply)
            & ticket_id.notnull()
            & author.isin(settings.metrics.human_roles)
        ).fill_null(False)
    ).select(r_ticket=ticket_id, r_secs="secs")
    # As the care metrics do: a reply answers the ticket with its id, whoever it is filed under.
    paired = created.left_join(
        replies, (created.ticket == replies.r_ticket) & (replies.r_secs >= created.created)
    )
    return paired.group_by("contact_id", "ticket", "created").aggregate(replied=_.r_secs.min())
