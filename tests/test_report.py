"""The HTML report: self-contained, every panel present, KPIs as computed by hand, n/a with
reasons, text escaped, and the command line that writes it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

from clientela import report
from clientela.cli import app
from clientela.engine import connect
from clientela.metrics import Query
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys

# `clientela run --as-of 2025-04-30`: the end of that day, so April is a complete month.
AS_OF = datetime(2025, 4, 30, 23, 59, 59, 999999, tzinfo=UTC)
MONTHS = Query(start=date(2025, 2, 1), end=date(2025, 4, 30), period="month")
PANELS = (
    "Key indicators",
    "Funnel by stage",
    "Stage-to-stage conversion",
    "Stage → stage moves",
    "Grade matrix",
    "Retention by cohort",
    "New, returning, resurrecting and dormant",
    "Sessions",
    "Usage frequency",
    "Login hours",
    "User-generated content",
    "Posts : shares : likes",
    "Self-moderation",
    "First response time",
    "Answered within the SLA",
)
EVIL = "<script>alert(1)</script>"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def shop_world(root: Path) -> Workspace:
    """A small shop, run as of the end of April 2025 (also used by the browser test)."""
    ws = make_workspace(root)
    j = Journeys()
    # New strangers: 2 in January (lead-in), 0 in February, 2 in March, 3 in April.
    arrivals = {
        "j1": "2025-01-10 10:00",
        "j2": "2025-01-20 10:00",
        "m1": "2025-03-03 10:00",
        "m2": "2025-03-20 10:00",
        "a1": "2025-04-02 10:00",
        "a2": "2025-04-10 10:00",
        "a3": "2025-04-28 10:00",
    }
    for who, when in arrivals.items():
        j.page(anonymous_id=who, properties={"path": "/"}, at=at(when))
    # One customer, a lead since January; their only ticket (January, before the range)
    # came through a channel whose name is markup.
    j.identify(user_id="c1", traits={"email": "cleo@shop.example"}, at=at("2025-01-15 09:00"))
    ticket = {"ticket_id": "t1", "channel": EVIL}
    j.track("Ticket Created", user_id="c1", at=at("2025-01-20 09:00"), properties=ticket)
    reply = {"ticket_id": "t1", "author_role": "agent"}
    j.track("Ticket Replied", user_id="c1", at=at("2025-01-20 09:10"), properties=reply)
    j.track("Order Completed", user_id="c1", at=at("2025-02-05 09:00"))
    j.track("Logged In", user_id="c1", at=at("2025-03-05 09:00"))
    j.track("Logged In", user_id="c1", at=at("2025-04-07 09:00"))
    land(ws, j)
    run_job(ws, AS_OF)
    return ws


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return shop_world(tmp_path_factory.mktemp("report") / "shop")


@pytest.fixture(scope="module")
def page(world: Workspace) -> str:
    engine = connect(world, reader=True)
    try:
        return report.render(engine, world.settings, MONTHS)
    finally:
        engine.close()


def card(page: str, label: str) -> str:
    """The HTML of one KPI card."""
    found = re.search(rf'<article class="kpi"[^>]*><h3>{re.escape(label)}</h3>.*?</article>', page)
    assert found, f"no KPI card {label!r}"
    return found.group(0)


def test_plotly_is_inlined_and_nothing_outside_the_file_is_referenced(page: str) -> None:
    """The Plotly library is in the page; no src= or href= points anywhere but the page."""
    library = get_plotlyjs()
    assert library in page
    # The library's own strings (e.g. its logo link, never shown) are not the page's markup.
    markup = page.replace(library, "")
    targets = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", markup, flags=re.I)
    assert all(t.startswith("#") for t in targets), targets
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", markup, flags=re.I)
    assert "<link" not in markup and "@import" not in markup and "url(" not in markup


def test_every_panel_has_its_title_and_a_formula(page: str) -> None:
    """Each panel's title is on the page, and every chart has a chart placeholder."""
    for title in PANELS:
        assert re.search(rf"<h[23]>{re.escape(escape(title))}</h[23]>", page), title
    assert page.count('class="plot"') == page.count("data-plot=")
    assert page.count('class="formula"') >= len(PANELS) - 1


def test_kpi_card_shows_the_hand_computed_value_and_change(page: str) -> None:
    """April has 3 new strangers against March's 2: (3 − 2) / 2 × 100 = +50.0 %."""
    html = card(page, "New strangers")
    assert '<p class="value">3</p>' in html
    assert "+50.0 %" in html and "vs 2025-03" in html


def test_a_change_from_zero_is_na_with_its_reason(page: str) -> None:
    """Engaged prospects: 0 in March and April, so the change has no base (never 0 % or NaN)."""
    html = card(page, "Engaged prospects")
    assert '<p class="value">0</p>' in html
    assert "n/a" in html and "previous period was 0" in html
    markup = page.replace(get_plotlyjs(), "")
    assert not re.search(r"\bnan\b", markup, flags=re.I)


def test_empty_metrics_are_na_with_their_reason(page: str) -> None:
    """No tickets and no leads in the range: n/a with the metric's reason (cards, notes, charts)."""
    assert "no tickets to judge" in card(page, "Answered within SLA")
    assert "no answered tickets" in card(page, "First response (median)")
    assert "no leads in the period" in card(page, "Lead conversion")
    assert "<b>n/a</b>: no leads in the period" in page
    # A chart with nothing to draw says why in its middle.
    assert '"text":"n/a (no answered tickets)"' in page


def test_header_names_workspace_as_of_range_period_and_time_zone(page: str) -> None:
    """The header says what the report covers."""
    header = page.split("</header>")[0]
    for text in ("shop", "2025-04-30 23:59:59 UTC", "2025-02-01 to 2025-04-30", "month", "UTC"):
        assert text in header, text
    assert "KPIs compare 2025-04 with 2025-03" in header


def test_text_from_the_data_is_escaped(page: str) -> None:
    """A channel named like markup shows as text in tables and charts, never as a tag."""
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Inside chart JSON '<' and '&' are escaped too, so nothing can close the script element.
    for payload in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page):
        assert "<" not in payload and "&" not in payload


def test_grade_matrix_counts_only_buyers(world: Workspace, page: str) -> None:
    """The grade matrix counts the graded buyers of the published run, per grade."""
    engine = connect(world, reader=True)
    try:
        rows = engine.to_arrow(engine.published("lifecycle")).to_pylist()
    finally:
        engine.close()
    buyers = sum(1 for r in rows if r["audience_class"] == "buyer" and r["grade"] is not None)
    assert buyers == 8  # 7 visitors and the customer, all D4
    assert "Scored buyers (8)" in page
    assert '"D4\\u003cbr\\u003e8"' in page  # the D4 cell of the heatmap: "D4<br>8"


def test_cli_writes_the_report_and_says_where_and_how_big(world: Workspace, tmp_path: Path) -> None:
    """clientela report --out FILE prints the path and the size; May (after the April as-of)
    has no finished period, so the KPI cards say so instead of comparing."""
    out = tmp_path / "deep" / "report.html"
    args = ["report", "-w", str(world.root), "--out", str(out), "--period", "month"]
    result = CliRunner().invoke(app, [*args, "--from", "2025-05-01", "--to", "2025-05-31"])
    assert result.exit_code == 0, result.output
    assert out.exists() and out.stat().st_size > 1_000_000
    assert str(out) in result.output and f"{out.stat().st_size:,} bytes" in result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    html = card(text, "New strangers")
    assert "n/a" in html and "no complete period in the range" in html
