"""Contact facts: one row per contact with everything a segment or a playbook rule can test
(:data:`~clientela.activation.conditions.FACT_KINDS`), plus the trait columns and the
behaviour counts the conditions need (one aggregate over the events for all of them)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.activation import conditions as cond
from clientela.activation.settings import SegmentDefinition
from clientela.config import NON_BUYER_CLASSES, Settings
from clientela.engine import Engine
from clientela.errors import ClientelaError
from clientela.scoring.events import METRIC_FIELD_PREFIX, property_column

if TYPE_CHECKING:
    from clientela.activation.job import Inputs

FACT_COLUMNS = tuple(cond.FACT_KINDS)
DAY = 86_400


def all_conditions(
    settings: Settings, saved: dict[str, SegmentDefinition] | None = None
) -> list[cond.Condition]:
    """Every condition of every segment (configured and saved) and playbook rule."""
    out: list[cond.Condition] = []
    for definition in [*settings.segments.values(), *(saved or {}).values()]:
        out.extend(definition.parts())
    for rule in settings.playbook.rules:
        out.extend(rule.conditions())
    return out


def _field(events: ir.Table, name: str) -> ir.StringValue:
    """The metric field ``name`` of the events (null where the events do not carry it: a
    hand-built events table may leave it out)."""
    column = METRIC_FIELD_PREFIX + name
    if column in events.columns:
        return events[column].cast("string")
    return ibis.null("string")


def _days_since(moment_secs: int, secs: ir.IntegerValue) -> ir.FloatingValue:
    return ((moment_secs - secs).cast("float64") / float(DAY)).round(4)


def _timestamp(secs: ir.IntegerValue) -> ir.TimestampValue:
    return secs.as_timestamp("s").cast("timestamp('UTC')")


def _event_facts(settings: Settings, events: ir.Table, moment_secs: int) -> ir.Table:
    """contact_id, last order secs, last rating and its secs (the latest rated event; ties
    by message id)."""
    mine = events.filter(events.contact_id.notnull() & (events.secs <= moment_secs))
    purchase = (mine.type == "track") & mine.event.isin(settings.stages.events.purchase)
    orders = mine.group_by("contact_id").aggregate(
        last_order_secs=mine.secs.max(where=purchase.fill_null(False))
    )
    rating = _field(mine, "rating").try_cast("float64")
    rated = mine.mutate(_rating=rating).filter(rating.notnull())
    ranked = rated.mutate(
        _rank=ibis.row_number().over(
            ibis.window(
                group_by="contact_id",
                order_by=[ibis.desc(rated.secs), ibis.desc(rated.message_id)],
            )
        )
    )
    last = ranked.filter(ranked._rank == 0).select(
        "contact_id", last_rating=_._rating, last_rated_secs=_.secs
    )
    return _attach(orders, last)


def _missed_responses(settings: Settings, events: ir.Table, moment_secs: int) -> ir.Table:
    """contact_id and the creation time of their latest ticket that missed the response
    target, measured as ``metrics/care.py`` does: a ticket (the first ``metrics.events.ticket``
    per ticket id) misses when its first human reply (``metrics.events.reply`` by one of
    ``metrics.human_roles``, at or after creation) came more than ``metrics.sla_minutes``
    later, or has not come and that time has passed by the as-of."""
    metrics = settings.metrics
    sla = round(metrics.sla_minutes * 60)
    ticket_id = _field(events, "ticket_id")
    known = events.mutate(_ticket=ticket_id).filter(
        (events.secs <= moment_secs) & (events.type == "track") & ticket_id.notnull()
    )
    created = known.filter(known.event.isin(metrics.events.ticket) & known.contact_id.notnull())
    ranked = created.mutate(
        _rank=ibis.row_number().over(
            ibis.window(group_by="_ticket", order_by=[created.secs, created.message_id])
        )
    )
    tickets = ranked.filter(ranked._rank == 0).select("contact_id", "_ticket", "secs")
    role = _field(known, "author_role")
    human = role.isin(metrics.human_roles) if metrics.human_roles else ibis.literal(False)
    replies = known.filter(known.event.isin(metrics.events.reply) & human.fill_null(False))
    replies = replies.select(r_ticket=_._ticket, r_secs=_.secs)
    joined = tickets.left_join(
        replies, (tickets._ticket == replies.r_ticket) & (replies.r_secs >= tickets.secs)
    )
    first = joined.group_by("contact_id", "_ticket", "secs").aggregate(
        reply_secs=joined.r_secs.min()
    )
    missed = ibis.ifelse(
        first.reply_secs.isnull(),
        (moment_secs - first.secs) > sla,
        (first.reply_secs - first.secs) > sla,
    )
    return first.filter(missed).group_by("contact_id").aggregate(missed_secs=_.secs.max())


def _attach(table: ir.Table, extra: ir.Table) -> ir.Table:
    """``table`` with the columns of ``extra`` (by contact_id; null where it has no row)."""
    keyed = extra.rename(_key="contact_id")
    joined = table.left_join(keyed, table.contact_id == keyed._key)
    return joined.select(*table.columns, *[c for c in extra.columns if c != "contact_id"])


def with_counts(
    facts: ir.Table, events: ir.Table, conditions: Iterable[cond.Condition], moment_secs: int
) -> ir.Table:
    """``facts`` with a count column for every behaviour condition it does not have yet
    (one aggregate over the events for all of them; 0 for contacts without events)."""
    counts = {c: b for c, b in cond.behaviours(conditions).items() if c not in facts.columns}
    if not counts:
        return facts
    for b in counts.values():
        for key in b.where:
            if property_column(key) not in events.columns:
                raise ClientelaError(
                    f"condition {b.model_dump(exclude_none=True)} filters on the event "
                    f"property {key!r}, which no segment or rule in clientela.toml reads: "
                    "add the filter to a [segments.NAME] or playbook rule there"
                )
    agg = cond.behaviour_counts(events, counts, moment_secs, property_column)
    joined = _attach(facts, agg)
    return joined.mutate(**{c: joined[c].fill_null(0) for c in counts})


def contact_facts(
    engine: Engine,
    settings: Settings,
    inputs: Inputs,
    loyalty: ir.Table,
    moment: datetime,
    saved: dict[str, SegmentDefinition] | None = None,
) -> ir.Table:
    """One row per contact with every field a segment or a playbook rule can test: the
    ``lifecycle`` row (class, grade, fit, engagement, stage, purchases, subscription), the
    predictions (CLV, P(alive), churn risk, purchase propensity), the loyalty tier and
    balance, the contact's email and time zone (trait ``timezone``, else null), the last
    order, the last rating, the latest ticket that missed the response target; then one
    ``t_<trait>`` column per trait and one ``b_<hash>`` count per behaviour condition that a
    segment (``saved`` included) or a playbook rule tests."""
    moment_secs = int(moment.timestamp())
    life = inputs.lifecycle
    pred = inputs.predictions.select(
        "contact_id", "clv", "p_alive", "churn_risk", "purchase_propensity"
    )
    points = loyalty.select("contact_id", loyalty_tier=_.tier, loyalty_balance=_.balance)
    people = inputs.contacts.select("contact_id", "email")
    zones = inputs.contact_traits.filter(_.trait == "timezone").select(
        "contact_id", timezone=_.value.cast("string")
    )
    events = inputs.contact_events
    joined = life
    for extra in (
        pred,
        points,
        people,
        zones,
        _event_facts(settings, events, moment_secs),
        _missed_responses(settings, events, moment_secs),
    ):
        joined = _attach(joined, extra)
    routes = settings.audience.routes
    facts = joined.mutate(
        audience_route=ibis.cases(
            *((joined.audience_class == c, routes.get(c, "")) for c in NON_BUYER_CLASSES),
            else_=ibis.null("string"),
        ),
        sales_ready=(
            joined.grade.isin(settings.stages.sales_ready_grades) & (joined.orders == 0)
        ).fill_null(False),
        last_order_at=_timestamp(joined.last_order_secs),
        days_since_last_order=_days_since(moment_secs, joined.last_order_secs),
        last_rated_at=_timestamp(joined.last_rated_secs),
        days_since_last_rating=_days_since(moment_secs, joined.last_rated_secs),
        missed_response_at=_timestamp(joined.missed_secs),
        days_since_missed_response=_days_since(moment_secs, joined.missed_secs),
    ).select(*FACT_COLUMNS)
    wanted = all_conditions(settings, saved)
    names = cond.traits(wanted)
    if names:
        facts = _attach(facts, cond.trait_columns(inputs.contact_traits, names))
    facts = with_counts(facts, events, wanted, moment_secs)
    return engine.cache(facts)
