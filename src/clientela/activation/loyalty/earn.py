"""Earned lots: one per event an earn rule pays for, one per converted referral.

Every event rule is matched in one pass: the events join a small table of (rule, event name)
pairs and one ``CASE`` keeps the pairs whose rule's filters hold, so adding a rule adds no
scan. Value rules price the order as ``[predict] value_properties`` does
(:func:`clientela.predict.summary.order_values`).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.activation.loyalty.common import LOT_COLUMNS
from clientela.activation.settings import EarnRule
from clientela.config import Settings
from clientela.engine import Engine
from clientela.predict.summary import order_values
from clientela.scoring.events import METRIC_FIELD_PREFIX, property_column


def _points(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def _reason(rule: EarnRule) -> str:
    if rule.kind == "value":
        return f"{_points(rule.points)} per unit of order value"
    answer = " (an answer to a post)" if rule.replies_only else ""
    return f"{_points(rule.points)} per {' or '.join(rule.events)}{answer}"


def _holds(table: ir.Table, rule: EarnRule) -> ir.BooleanValue:
    """The rule's filters on one matched event (its event name is already the rule's)."""
    test: ir.BooleanValue = ibis.literal(True)
    for key, wanted in rule.where.items():
        test = test & (table[property_column(key)].cast("string") == wanted).fill_null(False)
    if rule.replies_only:
        parent = table[METRIC_FIELD_PREFIX + "parent_id"]
        test = test & parent.notnull() & (parent.cast("string") != "")
    return test


def event_lots(engine: Engine, settings: Settings, events: ir.Table) -> ir.Table:
    """Lots of the event and value rules (every contact; members are picked later)."""
    purchase = list(settings.stages.events.purchase)
    rules = [
        r.model_copy(update={"events": r.counted(purchase)})
        for r in settings.loyalty.earn
        if r.kind != "referral"
    ]
    if not rules:
        return _no_lots()
    # A native table, not an Arrow scan: DuckDB cannot push a join's bloom filter into one.
    pairs = engine.cache(
        ibis.memtable(
            {
                "rule": [r.name for r in rules for _e in r.events],
                "rule_event": [e for r in rules for e in r.events],
                "rule_points": [float(r.points) for r in rules for _e in r.events],
                "by_value": [r.kind == "value" for r in rules for _e in r.events],
                "rule_reason": [_reason(r) for r in rules for _e in r.events],
            }
        )
    )
    matched = events.join(pairs, events.event == pairs.rule_event)
    keep = ibis.cases(*((matched.rule == r.name, _holds(matched, r)) for r in rules), else_=False)
    matched = matched.filter(keep)
    value_events = sorted({e for r in rules if r.kind == "value" for e in r.events})
    if value_events:
        orders = events.filter(_.event.isin(value_events)).select("message_id", "properties")
        values = order_values(engine, settings, orders).select(
            order_id=_.message_id, order_value=_.value
        )
        matched = matched.left_join(values, matched.message_id == values.order_id)
        value = matched.order_value
    else:
        value = ibis.null("float64")
    # An order without a value (or a refund's negative one) earns nothing, but its row
    # stays in the ledger with the reason, so nothing is silently dropped.
    unpriced = matched.by_value & (value.isnull() | (value < 0))
    points = ibis.ifelse(
        matched.by_value, matched.rule_points * ibis.greatest(value, 0.0), matched.rule_points
    )
    return matched.select(
        "contact_id",
        "secs",
        "rule",
        points=points.fill_null(0.0).round(6),
        message_id=matched.message_id,
        reason=ibis.ifelse(unpriced, "order without a (positive) value", matched.rule_reason),
    )


def _no_lots() -> ir.Table:
    return ibis.memtable(
        {name: [] for name in LOT_COLUMNS},
        schema={
            "contact_id": "string",
            "secs": "int64",
            "rule": "string",
            "points": "float64",
            "message_id": "string",
            "reason": "string",
        },
    )


def referral_lots(settings: Settings, referred: ir.Table) -> ir.Table:
    """One lot per converted referral, for its referrer (``reward_points`` is set only
    when the referrer is a member and the referral converted)."""
    rule = settings.loyalty.referral_rule()
    if rule is None:
        return _no_lots()
    paid = referred.filter(_.reward_points.notnull())
    return paid.select(
        contact_id=_.referrer_id,
        secs=_.converted_secs,
        rule=ibis.literal(rule.name),
        points=_.reward_points,
        message_id=_.order_message_id,
        reason=ibis.literal(f"{_points(rule.points)}: a referral's first order, by ")
        + paid.invited_id,
    )


def lots(
    engine: Engine, settings: Settings, events: ir.Table, members: ir.Table, referred: ir.Table
) -> ir.Table:
    """Every earned lot of the members: ``contact_id``, ``secs``, ``rule``, ``points``,
    ``message_id``, ``reason``."""
    earned = event_lots(engine, settings, events).select(*LOT_COLUMNS)
    both = earned.union(referral_lots(settings, referred).select(*LOT_COLUMNS))
    return both.join(members, "contact_id").select(*LOT_COLUMNS)
