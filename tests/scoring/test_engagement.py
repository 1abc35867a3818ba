"""Engagement: points per signal, exponential decay with each signal's half-life, caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clientela.scoring.grade import engagement_curve
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys, iso

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)

MODEL = """
[models.m]
applies_to = "all"
saturation = 40.0

[[models.m.signals]]
name = "meeting"
event = "Meeting Held"
points = 30
half_life_days = 90

[[models.m.signals]]
name = "view"
type = "page"
points = 2
half_life_days = 10
cap_per_day = 5

[[models.m.signals]]
name = "demo request"
event = "Form Submitted"
where = { form_id = "demo-request" }
points = 25
half_life_days = 60

[[models.m.signals]]
name = "download"
event = "Document Downloaded"
points = 10
half_life_days = 30
cap_total = 12
"""


def _ago(days: float) -> str:
    return iso(AS_OF - timedelta(days=days))


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    ws = make_workspace(tmp_path_factory.mktemp("eng") / "ws", MODEL)
    j = Journeys()
    j.track("Meeting Held", user_id="u1", timestamp=_ago(90))
    for _ in range(4):  # same second: the daily cap takes them in messageId order
        j.page(user_id="u1", properties={"path": "/blog"}, timestamp=_ago(10))
    j.track("Document Downloaded", user_id="u1", timestamp=_ago(30))
    j.track("Document Downloaded", user_id="u1", timestamp=_ago(0))
    j.track("Form Submitted", user_id="u1", properties={"form_id": "newsletter"}, timestamp=_ago(1))
    j.track("Meeting Held", user_id="u1", timestamp=iso(AS_OF + timedelta(days=1)))  # future
    j.track(
        "Form Submitted", user_id="u2", properties={"form_id": "demo-request"}, timestamp=_ago(60)
    )
    land(ws, j)
    return run_job(ws, as_of=AS_OF)


def _ledger(tables: dict[str, list[dict[str, object]]], contact: str) -> list[dict[str, object]]:
    return [r for r in tables["score_ledger"] if r["contact_id"] == contact]


def test_decay_halves_points_every_half_life(scored: dict[str, list[dict[str, object]]]) -> None:
    """A 30-point meeting 90 days before the as-of time, half-life 90 days, counts 15."""
    rows = [r for r in _ledger(scored, "u1") if r["rule"] == "meeting"]
    # 30 × 0.5 ** (90 / 90) = 15; the meeting after the as-of time is not seen at all.
    assert [(r["raw_points"], r["decay"], r["points"]) for r in rows] == [(30.0, 0.5, 15.0)]


def test_daily_cap_counts_points_until_the_cap(scored: dict[str, list[dict[str, object]]]) -> None:
    """Four 2-point views on one day with a cap of 5 count 2, 2, 1 and 0, then decay."""
    rows = sorted(
        (r for r in _ledger(scored, "u1") if r["rule"] == "view"), key=lambda r: r["message_id"]
    )
    # Capped: 2, 2, 1 (5 − 4 left), 0; ten days at half-life 10 → × 0.5 → 1, 1, 0.5, 0.
    assert [r["points"] for r in rows] == [1.0, 1.0, 0.5, 0.0]
    assert [r["detail"] for r in rows][-1] == "page /blog (daily cap)"


def test_total_cap_keeps_the_newest_points(scored: dict[str, list[dict[str, object]]]) -> None:
    """Downloads worth 10 (today) and 5 (30 days ago, half-life 30) with a total cap of 12."""
    rows = sorted(
        (r for r in _ledger(scored, "u1") if r["rule"] == "download"),
        key=lambda r: str(r["event_at"]),
    )
    # Newest first: 10 counts in full (10 of 12 used); the older 10 × 0.5 = 5 counts 12 − 10 = 2.
    assert [r["points"] for r in rows] == [2.0, 10.0]


def test_property_filter_selects_events(scored: dict[str, list[dict[str, object]]]) -> None:
    """A signal with `where` counts only events whose property matches."""
    assert not [r for r in _ledger(scored, "u1") if r["rule"] == "demo request"]
    rows = [r for r in _ledger(scored, "u2") if r["rule"] == "demo request"]
    # 25 × 0.5 ** (60 / 60) = 12.5
    assert [r["points"] for r in rows] == [12.5]


def test_engagement_is_the_curve_of_the_ledger_sum(
    scored: dict[str, list[dict[str, object]]],
) -> None:
    """Raw engagement is the ledger sum; the 0-100 score is the saturating curve of it."""
    score = next(r for r in scored["scores"] if r["contact_id"] == "u1")
    # 15 (meeting) + 2.5 (views) + 12 (downloads) = 29.5 raw points.
    assert score["engagement_points"] == 29.5
    # 100 × (1 − 0.5 ** (29.5 / 40)) = 100 × (1 − 0.59978) = 40.022: digit 2 (35 ≤ 40.02 < 60).
    assert score["engagement"] == pytest.approx(40.0222, abs=1e-4)
    assert score["engagement_digit"] == "2"
    assert score["grade"] == "D2"  # no fit rules: fit 0 → letter D


def test_curve_values() -> None:
    """The curve gives 0 at 0, 50 at the saturation, 75 at twice it."""
    assert engagement_curve(0, 40) == 0
    assert engagement_curve(40, 40) == 50
    assert engagement_curve(80, 40) == 75
    assert engagement_curve(-5, 40) == 0
