"""Seed 002 customer retention, seed 003 churn and renewals.

*Customers* are the contacts in one of ``metrics.stages.customers`` (default: customer and
fan), read from the published stage history at an instant:

* S = customers at the start of the period (its first local midnight);
* E = customers at the end of the period (its last instant; for the period that contains the
  as-of time, at the as-of time: the period is in progress);
* N = new customers: in E but not in S (acquired in the period and still customers).

**customer_retention** (seed 002): CRR = ((E − N) / S) × 100. With N as defined, E − N is
the number of starting customers still customers at the end, so CRR never exceeds 100 %. A
contact who became a customer and left again inside the period is in neither E nor N.
``-o new=acquired`` reads the seed literally: N = every customer acquired in the period
(not a customer at its start, a customer at some moment of it), also those who left again
before its end. E − N then subtracts customers E does not hold, so CRR is lower by those
short-lived customers / S and can go below 0 %.

**churn_rate** (seed 003): churned / S × 100, where churned = customers at the start who
entered a churned stage (``metrics.stages.churned``) during the period. ``lost`` counts every
starting customer who is not a customer at the end (churned or gone dormant).

**renewal_rate** (seed 003): renewals / (renewals + cancellations) × 100 of the subscription
decisions made in the period (``stages.events.renewal`` and ``stages.events.cancel``).

Periods with no customers at the start give ``n/a (no customers at the start)``.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.metrics.base import Context, Metric, Value, ratio, register


def _bounds(ctx: Context) -> ir.Table:
    """Each period with the instants S and E are read at (E: the end, or the as-of time)."""
    periods = ctx.calendar.periods
    return ibis.memtable(
        {
            "period": [p.label for p in periods],
            "start_at": [p.start_secs for p in periods],
            "end_at": [min(p.end_secs - 1, ctx.as_of_secs) for p in periods],
            "end_secs": [p.end_secs for p in periods],
        }
    ).cast({"period": "string", "start_at": "int64", "end_at": "int64", "end_secs": "int64"})


def _customer_base(ctx: Context) -> ir.Table:
    roles = ctx.settings.stage_roles()
    history = ctx.stage_history()
    customers = history.filter(history.stage.isin(roles["customers"]))
    bounds = _bounds(ctx)

    def holds(table: ir.Table, at: ir.IntegerValue) -> ir.BooleanValue:
        return (table.entered_secs <= at) & (table.exited_secs > at)

    def enters(table: ir.Table) -> ir.BooleanValue:
        """A customer interval that starts inside the period (after its first instant)."""
        return (table.entered_secs > table.start_at) & (table.entered_secs <= table.end_at)

    joined = customers.join(
        bounds,
        holds(customers, bounds.start_at)
        | holds(customers, bounds.end_at)
        | ((customers.entered_secs > bounds.start_at) & (customers.entered_secs <= bounds.end_at)),
    )
    flags = joined.group_by("period", "contact_id").aggregate(
        at_start=holds(joined, joined.start_at).cast("int64").max(),
        at_end=holds(joined, joined.end_at).cast("int64").max(),
        entered_in=enters(joined).cast("int64").max(),
        end_secs=joined.end_secs.max(),
        start_at=joined.start_at.max(),
    )
    churned = history.filter(history.stage.isin(roles["churned"])).select(
        "contact_id", churned_at=_.entered_secs
    )
    with_churn = flags.left_join(
        churned,
        (flags.contact_id == churned.contact_id)
        & (churned.churned_at >= flags.start_at)
        & (churned.churned_at < flags.end_secs),
    )
    per = with_churn.group_by("period", "contact_id", "at_start", "at_end", "entered_in").aggregate(
        churned_in=with_churn.churned_at.notnull().cast("int64").max()
    )
    return per.select(
        "period",
        "contact_id",
        "at_start",
        "at_end",
        new=((per.at_end == 1) & (per.at_start == 0)).cast("int64"),
        acquired=((per.entered_in == 1) & (per.at_start == 0)).cast("int64"),
        retained=((per.at_end == 1) & (per.at_start == 1)).cast("int64"),
        lost=((per.at_end == 0) & (per.at_start == 1)).cast("int64"),
        churned=((per.churned_in == 1) & (per.at_start == 1)).cast("int64"),
    )


def _base_measures(facts: ir.Table) -> dict[str, ir.Scalar]:
    return {
        "start_customers": facts.at_start.sum(),
        "end_customers": facts.at_end.sum(),
        "new_customers": facts.new.sum(),
        "acquired": facts.acquired.sum(),
        "lost": facts.lost.sum(),
        "churned": facts.churned.sum(),
    }


def _finish_crr(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    s, e = cell["start_customers"], cell["end_customers"]
    n = cell["acquired"] if ctx.option("new") == "acquired" else cell["new_customers"]
    return {
        "start_customers": s,
        "end_customers": e,
        "new_customers": n,
        "crr": ratio(e - n, s, "no customers at the start"),
    }


register(
    Metric(
        name="customer_retention",
        title="Customer retention rate (CRR)",
        family="seed 002 · retention",
        formula="CRR = ((E − N) / S) × 100: E customers at the end, N new customers still "
        "there at the end (new=acquired: every customer acquired in the period), S customers "
        "at the start",
        facts=_customer_base,
        measures=_base_measures,
        finish=_finish_crr,
        columns={
            "start_customers": "count",
            "end_customers": "count",
            "new_customers": "count",
            "crr": "%",
        },
        headline="crr",
        options={"new": "at_end"},
        choices={"new": ("at_end", "acquired")},
    )
)


def _finish_churn(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    s = cell["start_customers"]
    return {
        "start_customers": s,
        "churned": cell["churned"],
        "churn": ratio(cell["churned"], s, "no customers at the start"),
        "lost": cell["lost"],
        "lost_share": ratio(cell["lost"], s, "no customers at the start"),
    }


register(
    Metric(
        name="churn_rate",
        title="Churn rate",
        family="seed 003 · retention",
        formula="churned / S × 100: customers at the start who entered a churned stage in the "
        "period; lost = starting customers not customers at the end",
        facts=_customer_base,
        measures=_base_measures,
        finish=_finish_churn,
        columns={
            "start_customers": "count",
            "churned": "count",
            "churn": "%",
            "lost": "count",
            "lost_share": "%",
        },
        headline="churn",
    )
)


def _decisions(ctx: Context) -> ir.Table:
    events = ctx.settings.stages.events
    wanted = [*events.renewal, *events.cancel]
    acts = ctx.in_range(ctx.activity().filter((_.type == "track") & _.event.isin(wanted)))
    return acts.select(
        "period",
        "contact_id",
        "event",
        "secs",
        renewal=acts.event.isin(events.renewal).cast("int64"),
        cancellation=acts.event.isin(events.cancel).cast("int64"),
    )


def _finish_renewals(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    decisions = cell["renewals"] + cell["cancellations"]
    return {
        "renewals": cell["renewals"],
        "cancellations": cell["cancellations"],
        "renewal_rate": ratio(cell["renewals"], decisions, "no renewals or cancellations"),
    }


register(
    Metric(
        name="renewal_rate",
        title="Renewal rate",
        family="seed 003 · retention",
        formula="renewals / (renewals + cancellations) × 100 of the period's subscription "
        "decisions",
        facts=_decisions,
        measures=lambda f: {"renewals": f.renewal.sum(), "cancellations": f.cancellation.sum()},
        finish=_finish_renewals,
        columns={"renewals": "count", "cancellations": "count", "renewal_rate": "%"},
        headline="renewal_rate",
    )
)
