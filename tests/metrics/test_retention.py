"""Seed 002 CRR, seed 003 churn and renewal rates on the shared customer world."""

from __future__ import annotations

from datetime import date

import pytest

from clientela.metrics import Query
from clientela.workspace import Workspace
from helpers import metric_rows

MONTHS = Query(start=date(2024, 12, 1), end=date(2025, 4, 30), period="month")


def by_period(rows: list[dict], *columns: str) -> dict[str, tuple]:
    return {r["period"]: tuple(r[c] for c in columns) for r in rows}


def test_customer_retention_rate_follows_seed_002(customer_world: Workspace) -> None:
    """CRR = ((E − N) / S) × 100 with S, E and N read from the stage history."""
    rows = by_period(
        metric_rows(customer_world, "customer_retention", MONTHS),
        "start_customers",
        "end_customers",
        "new_customers",
        "crr",
    )
    # December: nobody was a customer yet: no base to divide by.
    assert rows["2024-12"] == (0, 0, 0, "n/a (no customers at the start)")
    # February: S = {a, b}; E = {a, c} (b and d churned, d bought and left inside February);
    # N = {c}; CRR = (2 − 1) / 2 × 100 = 50 %.
    assert rows["2025-02"] == (2, 2, 1, 50.0)
    # March: S = {a, c}; E = {a, c, e, g, h}; N = {e, g, h}; (5 − 3) / 2 × 100 = 100 %.
    assert rows["2025-03"] == (2, 5, 3, 100.0)
    # April (E at the as-of time): S = E = 5, N = 0: 100 %.
    assert rows["2025-04"] == (5, 5, 0, 100.0)


def test_churn_rate_counts_starting_customers_who_churned(customer_world: Workspace) -> None:
    """Churn = churned starting customers / S × 100; a customer won and lost inside the
    period is not in S, so does not count; the change is in percentage points."""
    rows = by_period(
        metric_rows(customer_world, "churn_rate", MONTHS), "churned", "churn", "lost", "change"
    )
    # February: b churned of S = {a, b}: 1 / 2 = 50 %; d churned too but was not in S.
    # January had no customers at its start, so there is no change to report.
    assert rows["2025-02"] == (1, 50.0, 1, "n/a (previous period has no value)")
    # March: nobody of S = {a, c} churned: 0 %, 50 % − 0 % = −50 points.
    assert rows["2025-03"] == (0, 0.0, 0, -50.0)


def test_renewal_rate_is_renewals_over_decisions(customer_world: Workspace) -> None:
    """Renewal rate = renewals / (renewals + cancellations) × 100, n/a without decisions."""
    rows = by_period(
        metric_rows(customer_world, "renewal_rate", MONTHS),
        "renewals",
        "cancellations",
        "renewal_rate",
    )
    # February: a renewed, b and d cancelled: 1 / 3 × 100 = 33.33 %.
    assert rows["2025-02"][:2] == (1, 2)
    assert rows["2025-02"][2] == pytest.approx(100 / 3)
    assert rows["2025-03"] == (1, 0, 100.0)
    assert rows["2025-04"] == (0, 0, "n/a (no renewals or cancellations)")


def test_who_lists_the_contacts_behind_a_cell(customer_world: Workspace) -> None:
    """The drill-down of February's churn names the churned contact."""
    from clientela import metrics
    from clientela.engine import connect

    engine = connect(customer_world, reader=True)
    try:
        rows = metrics.who(
            engine,
            customer_world.settings,
            "churn_rate",
            {"period": "2025-02", "churned": "1"},
            MONTHS,
        ).to_pylist()
    finally:
        engine.close()
    assert [(r["contact_id"], r["email"]) for r in rows] == [("b", "b@mail.example")]


def test_customer_retention_seed_reading_counts_every_customer_acquired(
    customer_world: Workspace,
) -> None:
    """-o new=acquired: N = every customer acquired in the period (seed 002 read literally)."""
    # Also those who left again inside it, so CRR can fall below the share of S still there.
    query = Query(MONTHS.start, MONTHS.end, MONTHS.period, options={"new": "acquired"})
    rows = by_period(
        metric_rows(customer_world, "customer_retention", query),
        "start_customers",
        "end_customers",
        "new_customers",
        "crr",
    )
    # January: a and b were acquired; nobody was a customer at the start.
    assert rows["2025-01"] == (0, 2, 2, "n/a (no customers at the start)")
    # February: S = {a, b}; E = {a, c}; acquired: c and d (d bought on 8 Feb and churned on
    # 20 Feb). CRR = (2 − 2) / 2 × 100 = 0 %, where the documented reading gives 50 %.
    assert rows["2025-02"] == (2, 2, 2, 0.0)
    # March: acquired e, g and h, all still customers: the same as the documented reading,
    # (5 − 3) / 2 × 100 = 100 %.
    assert rows["2025-03"] == (2, 5, 3, 100.0)
