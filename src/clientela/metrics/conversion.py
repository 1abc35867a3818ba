"""Seed 003: conversion rate, stage-to-stage conversion with stage velocity, stage flows.

Everything here reads the published stage history (``metrics.stages`` names the funnel
stages, the lead stage and the customer stages; by default from the stage preset).

* **conversion_rate** = converted leads / leads × 100 (seed 003: sales / leads × 100).
  A contact becomes a *lead* the first time they enter the lead stage or any funnel stage
  after it (a visitor who buys before identifying is a lead who converts at once). The lead
  is counted in the period of that moment. They *convert* if they enter a customer stage at
  or after that moment and within ``metrics.conversion_window_days``. Leads whose window is
  still open at the as-of time are counted (they may still convert) and reported as
  ``open_windows`` so a recent period's rate is read for what it is. ``sales`` counts the
  orders (``stages.events.purchase``) placed in the period, by anyone; ``-o rate=sales``
  gives the seed read literally: total sales / total leads × 100 of the period (an order by
  a lead of an earlier period, or a second order, counts too, so it can exceed 100 %).
* **stage_conversion**: for each step of the funnel (stranger → prospect, prospect →
  customer, ...), the contacts who entered the *from* stage in the period (their first entry
  in that period), how many reached the *to* stage or any later funnel stage afterwards (up to
  the as-of time), the conversion % and the time it took (median and p90 days: stage
  velocity).
* **stage_flows**: every move between stages in the period (``from_stage`` → ``to_stage``),
  both directions; a contact's first stage comes ``from (new)``.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.engine.portable import union_all
from clientela.metrics.base import NA, Context, Metric, Value, ratio, register
from clientela.scoring.events import SECONDS_PER_DAY


def _first_entry(history: ir.Table, stages: list[str], name: str) -> ir.Table:
    """contact_id and the first time (secs) they entered one of ``stages``."""
    return (
        history.filter(history.stage.isin(stages))
        .group_by("contact_id")
        .aggregate(**{name: _.entered_secs.min()})
    )


def _leads(ctx: Context) -> ir.Table:
    """One row per lead (in the period they became one) and one per order of the period."""
    roles = ctx.settings.stage_roles()
    funnel: list[str] = roles["funnel"]
    at_or_after = funnel[funnel.index(roles["lead"]) :] if roles["lead"] in funnel else []
    lead_stages = sorted({roles["lead"], *at_or_after, *roles["customers"]})
    history = ctx.stage_history()
    leads = _first_entry(history, lead_stages, "secs")
    customer = history.filter(history.stage.isin(roles["customers"])).select(
        "contact_id", bought=_.entered_secs
    )
    window = round(ctx.settings.metrics.conversion_window_days * SECONDS_PER_DAY)
    joined = leads.left_join(
        customer,
        (leads.contact_id == customer.contact_id)
        & (customer.bought >= leads.secs)
        & (customer.bought <= leads.secs + window),
    )
    per_lead = joined.group_by("contact_id", "secs").aggregate(converted_at=joined.bought.min())
    facts = ctx.in_range(per_lead)
    leads_facts = facts.select(
        "period",
        "contact_id",
        secs=facts.secs,
        lead=ibis.literal(1, type="int64"),
        sale=ibis.literal(0, type="int64"),
        converted=facts.converted_at.notnull().cast("int64"),
        open_window=(facts.converted_at.isnull() & (facts.secs + window > ctx.as_of_secs)).cast(
            "int64"
        ),
        days_to_convert=(facts.converted_at - facts.secs).cast("float64") / SECONDS_PER_DAY,
    )
    purchase = ctx.settings.stages.events.purchase
    orders = ctx.in_range(ctx.activity().filter((_.type == "track") & _.event.isin(purchase)))
    sales_facts = orders.select(
        "period",
        "contact_id",
        secs=orders.secs,
        lead=ibis.literal(0, type="int64"),
        sale=ibis.literal(1, type="int64"),
        converted=ibis.literal(0, type="int64"),
        open_window=ibis.literal(0, type="int64"),
        days_to_convert=ibis.null("float64"),
    )
    return union_all([leads_facts, sales_facts])


def _finish_conversion(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    leads, converted, sales = cell["leads"], cell["converted"], cell["sales"]
    numerator = sales if ctx.option("rate") == "sales" else converted
    median = cell["median_days"]
    return {
        "leads": leads,
        "converted": converted,
        "sales": sales,
        "conversion": ratio(numerator, leads, "no leads in the period"),
        "open_windows": cell["open_windows"],
        "median_days": median if median is not None else NA(_no_conversion(leads)),
    }


def _no_conversion(leads: int) -> str:
    return "no lead converted" if leads else "no leads in the period"


register(
    Metric(
        name="conversion_rate",
        title="Conversion rate (leads to customers)",
        family="seed 003 · conversion",
        formula="converted leads / leads × 100; a lead converts by entering a customer stage "
        "within metrics.conversion_window_days (rate=sales: the seed's total sales / total "
        "leads × 100, every order of the period over its new leads)",
        facts=_leads,
        measures=lambda f: {
            "leads": f.lead.sum(),
            "converted": f.converted.sum(),
            "sales": f.sale.sum(),
            "open_windows": f.open_window.sum(),
        },
        finish=_finish_conversion,
        columns={
            "leads": "count",
            "converted": "count",
            "sales": "count",
            "conversion": "%",
            "open_windows": "count",
            "median_days": "days",
        },
        quantiles={"median_days": ("days_to_convert", 0.5)},
        headline="conversion",
        options={"rate": "leads"},
        choices={"rate": ("leads", "sales")},
    )
)


def _stage_steps(ctx: Context) -> ir.Table:
    funnel: list[str] = ctx.settings.stage_roles()["funnel"]
    history = ctx.stage_history()
    parts = []
    for i, (source, target) in enumerate(pairwise(funnel)):
        entered = ctx.in_range(history.filter(history.stage == source), secs="entered_secs")
        first = entered.group_by("period", "contact_id").aggregate(secs=_.entered_secs.min())
        later = history.filter(history.stage.isin(funnel[i + 1 :])).select(
            "contact_id", reached=_.entered_secs
        )
        joined = first.left_join(
            later, (first.contact_id == later.contact_id) & (later.reached >= first.secs)
        )
        per = joined.group_by("period", "contact_id", "secs").aggregate(
            reached_at=joined.reached.min()
        )
        parts.append(
            per.select(
                "period",
                "contact_id",
                from_stage=ibis.literal(source),
                to_stage=ibis.literal(target),
                converted=per.reached_at.notnull().cast("int64"),
                days=(per.reached_at - per.secs).cast("float64") / SECONDS_PER_DAY,
            )
        )
    return union_all(parts)


def _finish_steps(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    nobody = NA(
        f"nobody reached {cell['to_stage']}"
        if cell["entered"]
        else f"nobody entered {cell['from_stage']}"
    )
    median, p90 = cell["median_days"], cell["p90_days"]
    return {
        "entered": cell["entered"],
        "converted": cell["converted"],
        "conversion": ratio(
            cell["converted"], cell["entered"], f"nobody entered {cell['from_stage']}"
        ),
        "median_days": nobody if median is None else median,
        "p90_days": nobody if p90 is None else p90,
    }


register(
    Metric(
        name="stage_conversion",
        title="Stage-to-stage conversion and velocity",
        family="seed 003 · conversion",
        formula="contacts entering a stage in the period who later reach the next funnel "
        "stage (or beyond) / contacts entering it × 100; median and p90 days to get there",
        facts=_stage_steps,
        measures=lambda f: {"entered": f.contact_id.nunique(), "converted": f.converted.sum()},
        finish=_finish_steps,
        columns={
            "entered": "count",
            "converted": "count",
            "conversion": "%",
            "median_days": "days",
            "p90_days": "days",
        },
        keys=("from_stage", "to_stage"),
        quantiles={"median_days": ("days", 0.5), "p90_days": ("days", 0.9)},
    )
)


def _moves(ctx: Context) -> ir.Table:
    history = ctx.in_range(ctx.stage_history(), secs="entered_secs")
    return history.select(
        "period",
        "contact_id",
        from_stage=history.previous_stage.fill_null("(new)"),
        to_stage=history.stage,
    )


register(
    Metric(
        name="stage_flows",
        title="Stage flows",
        family="seed 003 · conversion",
        formula="moves between stages in the period, both directions (a first stage comes "
        "from '(new)')",
        facts=_moves,
        measures=lambda f: {"moves": f.count(), "contacts": f.contact_id.nunique()},
        finish=lambda c, ctx: {"moves": c["moves"], "contacts": c["contacts"]},
        columns={"moves": "count", "contacts": "count"},
        keys=("from_stage", "to_stage"),
        fill=False,
    )
)
