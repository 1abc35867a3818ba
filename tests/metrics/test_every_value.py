"""Every value a metric cannot compute says why: no blank cell without an n/a reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from clientela import metrics
from clientela.engine import connect
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, metric_rows, run_job
from journeys import Journeys

MONTHS = metrics.Query(start=date(2025, 1, 1), end=date(2025, 4, 30), period="month")
AS_OF = datetime(2025, 4, 30, 23, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def unconverted_world(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Leads and visitors in February and March, and nobody ever buys:

    u1  identifies 3 Feb, reads the pricing page 4 Feb and 2 Mar
    u2  identifies 20 Feb, logs in 21 Feb
    u3  identifies 5 Mar
    an anonymous visitor reads the blog on 10 Mar
    """
    ws = make_workspace(tmp_path_factory.mktemp("unconverted") / "ws")
    j = Journeys()
    j.identify(user_id="u1", traits={"email": "u1@mail.example"}, at=at("2025-02-03 09:00"))
    j.page(user_id="u1", properties={"path": "/pricing"}, at=at("2025-02-04 09:00"))
    j.page(user_id="u1", properties={"path": "/pricing"}, at=at("2025-03-02 09:00"))
    j.identify(user_id="u2", traits={"email": "u2@mail.example"}, at=at("2025-02-20 09:00"))
    j.track("Logged In", user_id="u2", at=at("2025-02-21 09:00"))
    j.identify(user_id="u3", traits={"email": "u3@mail.example"}, at=at("2025-03-05 09:00"))
    j.page(anonymous_id="v1", properties={"path": "/blog"}, at=at("2025-03-10 09:00"))
    land(ws, j)
    run_job(ws, AS_OF)
    return ws


def test_conversion_rate_median_days_says_nobody_converted(unconverted_world: Workspace) -> None:
    """With leads and no conversions, median_days is n/a with its reason, not blank."""
    rows = {r["period"]: r for r in metric_rows(unconverted_world, "conversion_rate", MONTHS)}
    # February: leads u1 and u2, neither bought: 0 / 2 = 0 %, no days to take a median of.
    feb = rows["2025-02"]
    assert (feb["leads"], feb["converted"], feb["conversion"]) == (2, 0, 0.0)
    assert feb["median_days"] == "n/a (no lead converted)"


def test_stage_conversion_velocity_says_nobody_converted(unconverted_world: Workspace) -> None:
    """A funnel step that people entered and nobody left forward has n/a median and p90 days."""
    rows = metric_rows(unconverted_world, "stage_conversion", MONTHS)
    step = next(
        r
        for r in rows
        if r["period"] == "2025-02" and (r["from_stage"], r["to_stage"]) == ("prospect", "customer")
    )
    # Entered prospect in February: u1 and u2; nobody reached customer: 0 / 2 = 0 %.
    assert (step["entered"], step["converted"], step["conversion"]) == (2, 0, 0.0)
    assert step["median_days"] == "n/a (nobody reached customer)"
    assert step["p90_days"] == "n/a (nobody reached customer)"


def _variants(metric: metrics.Metric) -> list[dict[str, str]]:
    """The defaults, then each declared choice of each option in turn."""
    out: list[dict[str, str]] = [{}]
    for option, choices in metric.choices.items():
        out += [{option: c} for c in choices if c != metric.options[option]]
    return out


def _blanks(ws: Workspace) -> list[tuple[Any, ...]]:
    engine = connect(ws, reader=True)
    found = []
    try:
        for name, metric in sorted(metrics.REGISTRY.items()):
            for options in _variants(metric):
                query = metrics.Query(MONTHS.start, MONTHS.end, MONTHS.period, options=options)
                result = metrics.compute(engine, ws.settings, name, query)
                for row in result.rows:
                    for column in result.columns:
                        value = row.get(column)
                        if value is None or (isinstance(value, float) and value != value):
                            found.append((name, options, row["period"], column))
                        if isinstance(value, metrics.NA):
                            assert value.reason.strip(), (name, column)
    finally:
        engine.close()
    return found


@pytest.mark.slow
def test_every_metric_column_has_a_value_or_a_reason(
    customer_world: Workspace, unconverted_world: Workspace
) -> None:
    """Every metric, option choice and column over two worlds: a value or n/a with a reason."""
    # One world where people convert, one where nobody does (empty medians and p90s).
    assert _blanks(customer_world) == []
    assert _blanks(unconverted_world) == []
