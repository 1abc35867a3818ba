"""Subscription KPIs next to CRR (seeds 002 and 003): subscribers, MRR and its movements,
gross and net revenue retention.

They read the published ``subscriptions`` history (see :func:`clientela.stages.subscriptions`:
one row per stretch of a subscription with the same plan and MRR; a yearly plan's MRR is its
amount / 12). A contact's MRR at an instant is the sum of the MRR of their subscriptions
active then. Each period compares every subscriber at its start (its first local midnight)
with the same contact at its end (its last instant, or the as-of time for the period in
progress) — the standard snapshot method:

* **new**: not subscribed at the start, subscribed at the end, never subscribed before;
  new MRR = end MRR;
* **reactivated**: not subscribed at the start, subscribed at the end, subscribed before;
  reactivated MRR = end MRR;
* **expansion**: subscribed at both, end MRR > start MRR; expansion = end − start;
* **contraction**: subscribed at both, end MRR < start MRR; contraction = start − end;
* **churned**: subscribed at the start, not at the end (cancelled or lapsed); churned MRR =
  start MRR.

So end MRR − start MRR = new + reactivated + expansion − contraction − churned (net new MRR).
GRR = (start MRR − contraction − churned) / start MRR × 100 and NRR = (start MRR + expansion
− contraction − churned) / start MRR × 100, of the subscribers at the start. Someone who
subscribes and leaves inside one period is in none of the movements.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from clientela.metrics.base import FOREVER, Context, Metric, Value, ratio, register
from clientela.metrics.retention import _bounds

NO_SUBSCRIBERS = "no subscribers at the start"
NO_MRR = "no MRR at the start"


def _subscriber_base(ctx: Context) -> ir.Table:
    """One row per (period, contact subscribed at its start or end): subscribed and MRR at
    both instants, whether they had subscribed before, and their movement."""
    history = ctx.published("subscriptions")
    stretches = ctx.included(
        history.select(
            "contact_id",
            mrr=history.mrr.fill_null(0.0),
            priced=history.mrr.notnull().cast("int64"),
            from_secs=history.from_at.truncate("s").epoch_seconds().cast("int64"),
            until_secs=history.until_at.truncate("s")
            .epoch_seconds()
            .cast("int64")
            .fill_null(FOREVER),
        )
    )
    first = stretches.group_by("contact_id").aggregate(first_secs=stretches.from_secs.min())
    bounds = _bounds(ctx)

    def holds(table: ir.Table, at: ir.IntegerValue) -> ir.BooleanValue:
        return (table.from_secs <= at) & (table.until_secs > at)

    joined = stretches.join(
        bounds, holds(stretches, bounds.start_at) | holds(stretches, bounds.end_at)
    )
    at_start = holds(joined, joined.start_at)
    at_end = holds(joined, joined.end_at)
    per = joined.group_by("period", "contact_id").aggregate(
        at_start=at_start.cast("int64").max(),
        at_end=at_end.cast("int64").max(),
        start_mrr=ibis.ifelse(at_start, joined.mrr, 0.0).sum(),
        end_mrr=ibis.ifelse(at_end, joined.mrr, 0.0).sum(),
        # Subscriptions at the end whose events never said an amount.
        unpriced=ibis.ifelse(at_end & (joined.priced == 0), 1, 0).max(),
        start_at=joined.start_at.max(),
    )
    per = per.join(first, "contact_id")
    both = (per.at_start == 1) & (per.at_end == 1)
    arrived = (per.at_start == 0) & (per.at_end == 1)
    before = per.first_secs < per.start_at
    zero = ibis.literal(0.0)
    return per.select(
        "period",
        "contact_id",
        "at_start",
        "at_end",
        "start_mrr",
        "end_mrr",
        "unpriced",
        movement=ibis.cases(
            (arrived & ~before, "new"),
            (arrived, "reactivated"),
            ((per.at_start == 1) & (per.at_end == 0), "churned"),
            (both & (per.end_mrr > per.start_mrr), "expansion"),
            (both & (per.end_mrr < per.start_mrr), "contraction"),
            else_="retained",
        ),
        new_mrr=ibis.ifelse(arrived & ~before, per.end_mrr, zero),
        reactivated_mrr=ibis.ifelse(arrived & before, per.end_mrr, zero),
        expansion_mrr=ibis.ifelse(both, ibis.greatest(per.end_mrr - per.start_mrr, zero), zero),
        contraction_mrr=ibis.ifelse(both, ibis.greatest(per.start_mrr - per.end_mrr, zero), zero),
        churned_mrr=ibis.ifelse((per.at_start == 1) & (per.at_end == 0), per.start_mrr, zero),
    )


def _measures(facts: ir.Table) -> dict[str, ir.Scalar]:
    def count(movement: str) -> ir.Scalar:
        return (facts.movement == movement).cast("int64").sum()

    return {
        "start_subscribers": facts.at_start.sum(),
        "end_subscribers": facts.at_end.sum(),
        "new_subscribers": count("new"),
        "reactivated_subscribers": count("reactivated"),
        "churned_subscribers": count("churned"),
        "unpriced": facts.unpriced.sum(),
        "start_mrr": facts.start_mrr.sum(),
        "end_mrr": facts.end_mrr.sum(),
        "new_mrr": facts.new_mrr.sum(),
        "reactivated_mrr": facts.reactivated_mrr.sum(),
        "expansion_mrr": facts.expansion_mrr.sum(),
        "contraction_mrr": facts.contraction_mrr.sum(),
        "churned_mrr": facts.churned_mrr.sum(),
    }


def _money(value: Any) -> float:
    # Sums of floats: rounded to the cent so both engines (and hand arithmetic) agree.
    return round(float(value or 0.0), 2)


def _finish_subscribers(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    start = cell["start_subscribers"]
    return {
        "start_subscribers": start,
        "new_subscribers": cell["new_subscribers"],
        "reactivated_subscribers": cell["reactivated_subscribers"],
        "churned_subscribers": cell["churned_subscribers"],
        "end_subscribers": cell["end_subscribers"],
        "subscriber_churn": ratio(cell["churned_subscribers"], start, NO_SUBSCRIBERS),
    }


register(
    Metric(
        name="subscribers",
        title="Active subscribers",
        family="seed 003 · subscriptions",
        formula="contacts with an active subscription at the start and at the end of the "
        "period; new (first ever), reactivated, churned (cancelled or lapsed); subscriber "
        "churn = churned / start × 100",
        facts=_subscriber_base,
        measures=_measures,
        finish=_finish_subscribers,
        columns={
            "start_subscribers": "count",
            "new_subscribers": "count",
            "reactivated_subscribers": "count",
            "churned_subscribers": "count",
            "end_subscribers": "count",
            "subscriber_churn": "%",
        },
        headline="end_subscribers",
    )
)


def _finish_mrr(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    start, end = _money(cell["start_mrr"]), _money(cell["end_mrr"])
    return {
        "start_mrr": start,
        "new_mrr": _money(cell["new_mrr"]),
        "reactivated_mrr": _money(cell["reactivated_mrr"]),
        "expansion_mrr": _money(cell["expansion_mrr"]),
        "contraction_mrr": _money(cell["contraction_mrr"]),
        "churned_mrr": _money(cell["churned_mrr"]),
        "net_new_mrr": _money(end - start),
        "end_mrr": end,
        "unpriced": cell["unpriced"],
    }


register(
    Metric(
        name="mrr",
        title="Monthly recurring revenue and its movements",
        family="seed 003 · subscriptions",
        formula="MRR = Σ monthly amount of the active subscriptions (a yearly plan: amount / 12); "
        "end − start = new + reactivated + expansion − contraction − churned",
        facts=_subscriber_base,
        measures=_measures,
        finish=_finish_mrr,
        columns={
            "start_mrr": "money",
            "new_mrr": "money",
            "reactivated_mrr": "money",
            "expansion_mrr": "money",
            "contraction_mrr": "money",
            "churned_mrr": "money",
            "net_new_mrr": "money",
            "end_mrr": "money",
            "unpriced": "count",
        },
        headline="end_mrr",
    )
)


def _finish_revenue_retention(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    start = _money(cell["start_mrr"])
    expansion = _money(cell["expansion_mrr"])
    contraction = _money(cell["contraction_mrr"])
    churned = _money(cell["churned_mrr"])
    return {
        "start_mrr": start,
        "expansion_mrr": expansion,
        "contraction_mrr": contraction,
        "churned_mrr": churned,
        "grr": ratio(start - contraction - churned, start, NO_MRR),
        "nrr": ratio(start + expansion - contraction - churned, start, NO_MRR),
    }


register(
    Metric(
        name="revenue_retention",
        title="Gross and net revenue retention (GRR, NRR)",
        family="seed 002 · subscriptions",
        formula="GRR = (start MRR − contraction − churned) / start MRR × 100; NRR = (start MRR + "
        "expansion − contraction − churned) / start MRR × 100, of the subscribers at the start",
        facts=_subscriber_base,
        measures=_measures,
        finish=_finish_revenue_retention,
        columns={
            "start_mrr": "money",
            "expansion_mrr": "money",
            "contraction_mrr": "money",
            "churned_mrr": "money",
            "grr": "%",
            "nrr": "%",
        },
        headline="nrr",
    )
)
