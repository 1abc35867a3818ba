"""The report's Activation panels (clientela.panels.activation) drawn from hand-made published
tables, and the section in the rendered report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from clientela.activation.tables import ACTIONS_SCHEMA, LOYALTY_SCHEMA, SEGMENT_HISTORY_SCHEMA
from clientela.panels import activation as panels
from helpers import RecordingCanvas as Canvas

DAY1 = datetime(2026, 6, 1, 9, tzinfo=UTC)
DAY2 = datetime(2026, 6, 2, 9, tzinfo=UTC)
DAY3 = datetime(2026, 6, 3, 9, tzinfo=UTC)


def history(*rows: tuple[str, str, str, datetime]) -> pa.Table:
    names = ("segment", "contact_id", "change", "at")
    return pa.Table.from_pylist(
        [dict(zip(names, r, strict=True)) for r in rows], schema=SEGMENT_HISTORY_SCHEMA
    )


def tables(
    segment_history: pa.Table | None = None,
    actions: list[dict[str, Any]] | None = None,
    loyalty: list[dict[str, Any]] | None = None,
) -> panels.Tables:
    return panels.Tables(
        segment_history=segment_history or SEGMENT_HISTORY_SCHEMA.empty_table(),
        actions=pa.Table.from_pylist(actions or [], schema=ACTIONS_SCHEMA),
        loyalty=pa.Table.from_pylist(loyalty or [], schema=LOYALTY_SCHEMA),
        tiers=["Bronze", "Silver", "Gold"],
    )


def test_members_over_time_sum_entered_minus_left_run_after_run() -> None:
    """vip: a and b enter on day 1 (2), a leaves on day 2 (2 - 1 = 1), a and c enter on day 3
    (1 + 2 = 3); new: c enters on day 2 (1) and never changes."""
    found = panels.members_over_time(
        history(
            ("vip", "a", "entered", DAY1),
            ("vip", "b", "entered", DAY1),
            ("vip", "a", "left", DAY2),
            ("new", "c", "entered", DAY2),
            ("vip", "a", "entered", DAY3),
            ("vip", "c", "entered", DAY3),
        )
    )
    assert found == {"new": [(DAY2, 1)], "vip": [(DAY1, 2), (DAY2, 1), (DAY3, 3)]}
    canvas = Canvas()
    html = panels.segment_counts(canvas, tables(history(("vip", "a", "entered", DAY1))))
    assert "vip 1" in html and canvas.plots[0]["data"][0]["y"] == [1]


def test_actions_table_counts_planned_by_action_and_suppressed_by_reason() -> None:
    """Two thank-yous planned, one win-back capped and one consent refusal: the reasons are
    the words before the colon."""
    base = {"action_id": "x", "contact_id": "c", "channel": "email", "purpose": "marketing"}
    rows = [
        {**base, "action": "thank_you", "status": "planned"},
        {**base, "action": "thank_you", "status": "planned"},
        {**base, "action": "win_back", "status": "suppressed", "suppressed_reason": "capped: 2"},
        {
            **base,
            "action": "win_back",
            "status": "suppressed",
            "suppressed_reason": "no consent: x",
        },
    ]
    html = panels.actions_of_the_day(Canvas(), tables(actions=rows))
    assert "2 planned and 2 suppressed" in html
    for cell in ("thank_you", "capped", "no consent"):
        assert f">{cell}<" in html, cell


def test_loyalty_tiers_in_programme_order_with_points_held() -> None:
    """Gold before an unknown tier, lowest configured first; liability = 10 + 20 + 5 = 35."""
    rows = [
        {"contact_id": "a", "tier": "Gold", "balance": 10.0},
        {"contact_id": "b", "tier": "Bronze", "balance": 20.0},
        {"contact_id": "c", "tier": "Bronze", "balance": 5.0},
    ]
    canvas = Canvas()
    html = panels.loyalty_tiers(canvas, tables(loyalty=rows))
    assert "3 members holding 35 points" in html
    bars = canvas.plots[0]["data"][0]
    assert (
        bars["x"] == ["Bronze", "Gold"] and bars["y"] == [2, 1] and bars["customdata"] == [25, 10]
    )


def test_empty_tables_give_a_reason_instead_of_a_chart() -> None:
    """Before any segment, action or member, each panel says why it is empty."""
    canvas = Canvas()
    html = panels.section(canvas, tables())
    assert canvas.plots == [] and html.count('class="empty"') == 3


def test_the_report_has_the_activation_section(tmp_path: Any) -> None:
    """The rendered report lists Activation in its menu, with its three panels."""
    from clientela import report
    from clientela.engine import connect
    from conftest import make_workspace
    from helpers import land, run_job
    from worlds import CUSTOMER_AS_OF, customer_journeys

    ws = make_workspace(
        tmp_path / "ws", '[segments.all_buyers]\nall = [{ field = "orders", gte = 1 }]\n'
    )
    land(ws, customer_journeys())
    run_job(ws, CUSTOMER_AS_OF)
    engine = connect(ws, reader=True)
    try:
        page = report.render(engine, ws.settings)
    finally:
        engine.close()
    assert '<a href="#activation">Activation</a>' in page
    for title in ("Segment members over time", "Actions of the latest run", "Loyalty tiers"):
        assert f"<h3>{title}</h3>" in page, title
    assert "all_buyers" in page[page.index('<section id="activation">') :]
