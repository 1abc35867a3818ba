"""Seed 003 conversion: leads to customers, stage-to-stage conversion, stage flows."""

from __future__ import annotations

from datetime import date

from clientela.metrics import Query
from clientela.workspace import Workspace
from helpers import metric_rows

MONTHS = Query(start=date(2025, 2, 1), end=date(2025, 4, 30), period="month")


def test_conversion_rate_is_converted_leads_over_leads(customer_world: Workspace) -> None:
    """Leads of a period who enter a customer stage within the window / leads × 100."""
    rows = {r["period"]: r for r in metric_rows(customer_world, "conversion_rate", MONTHS)}
    feb = rows["2025-02"]
    # February leads: c, d, f, h. c and d buy a day later, h 9 d 3 h later; f never buys and
    # its 90-day window is still open at the as-of time. 3 / 4 × 100 = 75 %.
    assert (feb["leads"], feb["converted"], feb["conversion"], feb["open_windows"]) == (
        4,
        3,
        75.0,
        1,
    )
    # Median days, nearest rank: sorted (1, 1, 9.125), rank ceil(0.5 × 3) = 2 → 1.0.
    assert feb["median_days"] == 1.0
    mar = rows["2025-03"]
    # March leads: e (buys 1 day later) and g, who bought without identifying: a lead who
    # converts at once. 2 / 2 = 100 %; median of (0, 1): rank ceil(0.5 × 2) = 1 → 0.
    assert (mar["leads"], mar["converted"], mar["conversion"], mar["median_days"]) == (
        2,
        2,
        100.0,
        0.0,
    )
    assert rows["2025-04"]["conversion"] == "n/a (no leads in the period)"


def test_stage_conversion_and_velocity(customer_world: Workspace) -> None:
    """Prospects of February who reached customer (or beyond), with the days it took."""
    rows = metric_rows(customer_world, "stage_conversion", MONTHS)
    step = next(
        r
        for r in rows
        if r["period"] == "2025-02" and (r["from_stage"], r["to_stage"]) == ("prospect", "customer")
    )
    # Entered prospect in February: c, d, f, h; reached customer: c (1 d), d (1 d), h (9.125 d).
    # 3 / 4 = 75 %; median rank ceil(1.5) = 2 → 1.0; p90 rank ceil(2.7) = 3 → 9.125.
    assert (step["entered"], step["converted"], step["conversion"]) == (4, 3, 75.0)
    assert (step["median_days"], step["p90_days"]) == (1.0, 9.125)


def test_stage_flows_count_moves_both_ways(customer_world: Workspace) -> None:
    """Every move between stages in the period, including the way back down."""
    rows = metric_rows(customer_world, "stage_flows", MONTHS)
    feb = {(r["from_stage"], r["to_stage"]): r["moves"] for r in rows if r["period"] == "2025-02"}
    # b (customer) and d (fan after its review on 15 Feb) cancelled in February.
    assert feb[("customer", "churned")] == 1
    assert feb[("fan", "churned")] == 1
    # c, d, f, h identified on their first event: they arrive as prospects.
    assert feb[("(new)", "prospect")] == 4
    # a referred someone, c and d reviewed: customers become fans.
    assert feb[("customer", "fan")] == 3


def test_conversion_rate_seed_reading_is_sales_over_leads(customer_world: Workspace) -> None:
    """-o rate=sales: every order of the period / its leads × 100 (seed 003 read literally)."""
    # Every order counts, also one by a lead of an earlier period, so it can exceed 100 %.
    query = Query(MONTHS.start, MONTHS.end, MONTHS.period, options={"rate": "sales"})
    rows = {r["period"]: r for r in metric_rows(customer_world, "conversion_rate", query)}
    # February: leads c, d, f, h; orders c (6 Feb) and d (8 Feb): 2 / 4 × 100 = 50 %.
    assert (rows["2025-02"]["leads"], rows["2025-02"]["sales"]) == (4, 2)
    assert rows["2025-02"]["conversion"] == 50.0
    # March: leads e and g; orders e (2 Mar), g (10 Mar) and h (1 Mar, a February lead):
    # 3 / 2 × 100 = 150 %.
    assert (rows["2025-03"]["leads"], rows["2025-03"]["sales"]) == (2, 3)
    assert rows["2025-03"]["conversion"] == 150.0
    # April: no leads, no orders.
    assert rows["2025-04"]["sales"] == 0
    assert rows["2025-04"]["conversion"] == "n/a (no leads in the period)"
    # The default reading is unchanged: converted leads / leads (3 / 4 in February).
    default = {r["period"]: r for r in metric_rows(customer_world, "conversion_rate", MONTHS)}
    assert (default["2025-02"]["sales"], default["2025-02"]["conversion"]) == (2, 75.0)
