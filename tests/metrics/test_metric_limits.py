"""Cost limits of the queries a reader can shape: funnel steps, breakdown values, periods,
retention matrix size and who lists. Beyond a limit: one LimitError naming the option, the
value and the limit; at the limit: the query runs (no RecursionError, no runaway plan)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from clientela import metrics
from clientela.engine import connect
from clientela.metrics import Query
from clientela.metrics.limits import DEFAULT_LIMITS, LimitError, Limits
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, metric_rows, run_job
from journeys import Journeys

AS_OF = datetime(2025, 5, 31, 23, 59, tzinfo=UTC)
CITIES = ["Lima", "Quito", "Bogotá", "Cusco", "Cali", "Arequipa"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Six contacts, each in another city, each doing events E0..E24 a minute apart."""
    ws: Workspace = make_workspace(tmp_path_factory.mktemp("limits") / "ws")
    j = Journeys()
    for n, city in enumerate(CITIES):
        user = f"u{n}"
        j.identify(user_id=user, traits={"city": city}, at=datetime(2025, 3, 1, 9, tzinfo=UTC))
        for i in range(25):
            j.track(f"E{i}", user_id=user, at=datetime(2025, 3, 2 + n, 10, i, tzinfo=UTC))
    land(ws, j)
    run_job(ws, AS_OF)
    return ws


def steps(n: int) -> str:
    return ",".join(f"E{i}" for i in range(n))


def march(**options: str) -> Query:
    return Query(
        start=date(2025, 3, 1), end=date(2025, 3, 31), period="month", options=dict(options)
    )


@pytest.mark.parametrize("mode", ["ordered", "strict", "unordered"])
def test_a_funnel_at_the_step_limit_runs_in_every_mode(ws: Workspace, mode: str) -> None:
    """20 steps (the limit): every contact reaches every step, in seconds. Before: ordered
    funnels nested one expression per step, 18 steps raised RecursionError and the plan
    grew exponentially (14 steps: 6 s; 150 steps: > 10 minutes)."""
    n = DEFAULT_LIMITS.funnel_steps
    began = time.monotonic()
    rows = metric_rows(ws, "funnel", march(steps=steps(n), mode=mode))
    assert [r["contacts"] for r in rows] == [len(CITIES)] * n
    assert time.monotonic() - began < 60


def test_a_funnel_over_the_step_limit_is_refused_naming_option_value_and_limit(
    ws: Workspace,
) -> None:
    limit = DEFAULT_LIMITS.funnel_steps
    with pytest.raises(LimitError, match=rf"'steps'.*{limit + 1} steps.*limit of {limit}"):
        metric_rows(ws, "funnel", march(steps=steps(limit + 1)))


def test_a_long_list_of_event_names_is_one_flat_condition(ws: Workspace) -> None:
    """Retention's start_event with 2,000 names (any of them) runs: the condition is one
    IN list, not 2,000 nested ORs (which overflowed the stack)."""
    names = ",".join(f"X{i}" for i in range(2000)) + ",E0"
    rows = metric_rows(ws, "retention", march(start_event=names))
    assert rows[0]["cohort_size"] == len(CITIES)


def compute(ws: Workspace, name: str, query: Query, limits: Limits) -> metrics.MetricResult:
    engine = connect(ws, "duckdb", reader=True)
    try:
        return metrics.compute(engine, ws.settings, name, query, limits=limits)
    finally:
        engine.close()


def test_a_breakdown_with_too_many_values_is_refused(ws: Workspace) -> None:
    """--by trait:city has 6 values: allowed with a limit of 6, refused with 5."""
    query = Query(
        start=date(2025, 3, 1),
        end=date(2025, 3, 31),
        period="month",
        by=("trait:city",),
    )
    result = compute(ws, "lifecycle", query, Limits(breakdown_values=6))
    assert sorted({str(r["trait:city"]) for r in result.rows}) == sorted(CITIES)
    with pytest.raises(LimitError, match=r"'by'.*trait:city.*more than 5.*limit of 5"):
        compute(ws, "lifecycle", query, Limits(breakdown_values=5))
    # --where narrows the values counted.
    narrowed = Query(
        start=date(2025, 3, 1),
        end=date(2025, 3, 31),
        period="month",
        by=("trait:city",),
        where={"trait:city": ("Lima", "Quito")},
    )
    result = compute(ws, "lifecycle", narrowed, Limits(breakdown_values=2))
    assert sorted({str(r["trait:city"]) for r in result.rows}) == ["Lima", "Quito"]


def test_too_many_periods_are_refused_before_anything_is_built(ws: Workspace) -> None:
    """Daily over 50 years: refused at once (not 18,000 periods built and queried)."""
    query = Query(start=date(1975, 1, 1), end=date(2025, 1, 1), period="day")
    began = time.monotonic()
    with pytest.raises(LimitError, match=r"'period'.*day.*more than 1,000 periods.*limit"):
        compute(ws, "lifecycle", query, DEFAULT_LIMITS)
    assert time.monotonic() - began < 5
    # The same range by year is fine.
    by_year = Query(start=date(1975, 1, 1), end=date(2025, 1, 1), period="year")
    result = compute(ws, "lifecycle", by_year, DEFAULT_LIMITS)
    assert len({r["period"] for r in result.rows}) == 51


def test_a_retention_matrix_over_the_limit_is_refused(ws: Workspace) -> None:
    """Retention is periods × periods cells: its own, smaller limit on the periods."""
    query = Query(start=date(2025, 1, 1), end=date(2025, 5, 31), period="month")
    result = compute(ws, "retention", query, Limits(retention_periods=5))
    assert len(result.rows) == 5 * 5  # 5 cohorts × offsets 0..4
    with pytest.raises(LimitError, match=r"retention.*5 periods.*limit of 4"):
        compute(ws, "retention", query, Limits(retention_periods=4))


def who(ws: Workspace, limits: Limits, **paging: int) -> list[str]:
    engine = connect(ws, "duckdb", reader=True)
    try:
        table = metrics.who(
            engine,
            ws.settings,
            "lifecycle",
            {"period": "2025-03"},
            march(),
            limits=limits,
            **paging,
        )
        return [str(c) for c in table.column("contact_id").to_pylist()]
    finally:
        engine.close()


def test_a_who_list_over_the_limit_must_be_paged(ws: Workspace) -> None:
    everyone = who(ws, Limits(who_rows=6))
    assert len(everyone) == 6
    with pytest.raises(LimitError, match=r"who.*more than 5 contacts.*limit of 5.*offset"):
        who(ws, Limits(who_rows=5))
    pages = who(ws, Limits(who_rows=5), limit=4) + who(ws, Limits(who_rows=5), limit=4, offset=4)
    assert pages == everyone
    with pytest.raises(LimitError, match=r"'limit'.*6.*limit of 5"):
        who(ws, Limits(who_rows=5), limit=6)
