"""Seed 000 key indicators: audience growth, engagement growth, activity vs engagement."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from clientela.metrics import Query
from conftest import make_workspace
from helpers import land, metric_rows, run_job
from journeys import Journeys

AS_OF = datetime(2025, 4, 30, 23, 59, tzinfo=UTC)
MONTHS = Query(start=date(2025, 2, 1), end=date(2025, 4, 30), period="month")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_audience_growth_counts_first_arrivals_and_changes_against_the_previous_month(
    tmp_path: Path,
) -> None:
    """New strangers per month (first stage began in it) and the change vs the month before."""
    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    # January: 2 arrivals (the lead-in month, the base of February's change)
    j.page(anonymous_id="j1", properties={"path": "/"}, at=at("2025-01-10 10:00"))
    j.page(anonymous_id="j2", properties={"path": "/"}, at=at("2025-01-20 10:00"))
    # February: 3 arrivals; j1 comes back (not new)
    for n, when in enumerate(("2025-02-01 00:30", "2025-02-14 10:00", "2025-02-28 23:00")):
        j.page(anonymous_id=f"f{n}", properties={"path": "/"}, at=at(when))
    j.page(anonymous_id="j1", properties={"path": "/blog"}, at=at("2025-02-03 10:00"))
    # March: nobody new. April: 1 arrival.
    j.page(anonymous_id="a1", properties={"path": "/"}, at=at("2025-04-02 10:00"))
    land(ws, j)
    run_job(ws, AS_OF)
    rows = metric_rows(ws, "audience_growth", MONTHS)
    assert [(r["period"], r["new_strangers"], r["change"]) for r in rows] == [
        ("2025-02", 3, 50.0),  # (3 − 2) / 2 × 100
        ("2025-03", 0, -100.0),  # (0 − 3) / 3 × 100
        ("2025-04", 1, "n/a (previous period was 0)"),  # 0 → 1: no base to divide by
    ]


def test_audience_growth_places_arrivals_in_the_report_time_zone(tmp_path: Path) -> None:
    """An arrival at 23:30 UTC on 31 January is 1 February in Madrid (UTC+1)."""
    ws = make_workspace(tmp_path / "ws", '[report]\ntimezone = "Europe/Madrid"\n')
    j = Journeys()
    j.page(anonymous_id="late", properties={"path": "/"}, at=at("2025-01-31 23:30"))
    land(ws, j)
    run_job(ws, AS_OF)
    rows = metric_rows(ws, "audience_growth", MONTHS)
    assert rows[0]["period"] == "2025-02" and rows[0]["new_strangers"] == 1


def test_activity_vs_engagement_splits_customers_and_fans(tmp_path: Path) -> None:
    """Events count for the stage their contact was in when they happened."""
    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    # A customer from 3 March: two log-ins and one like in March.
    j.identify(user_id="c", at=at("2025-03-01 09:00"))
    j.track("Order Completed", user_id="c", at=at("2025-03-03 09:00"))
    j.track("Logged In", user_id="c", at=at("2025-03-04 09:00"))
    j.track("Post Liked", user_id="c", at=at("2025-03-05 09:00"), properties={"post_id": "p"})
    land(ws, j)
    run_job(ws, AS_OF)
    rows = metric_rows(ws, "activity_vs_engagement", MONTHS)
    march = [r for r in rows if r["period"] == "2025-03"]
    # The order itself is activity done as a customer (the stage starts at the order):
    # activity = order + log-in = 2, engagement = like = 1 → 1 / 2 = 0.5 per activity event;
    # engagement (1) is not more than activity (2) → 0 % engage more.
    assert march == [
        {
            "period": "2025-03",
            "stage": "customer",
            "contacts": 1,
            "activity": 2,
            "engagement": 1,
            "engagement_per_activity": 0.5,
            "engaging_more_share": 0.0,
        }
    ]


def test_engagement_growth_counts_prospects_actions_while_prospects(tmp_path: Path) -> None:
    """Engaged prospects and their actions per month; a customer's actions do not count."""
    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    j.identify(user_id="p", at=at("2025-02-02 09:00"))
    j.track("Logged In", user_id="p", at=at("2025-02-03 09:00"))
    j.track("Post Liked", user_id="p", properties={"post_id": "x"}, at=at("2025-02-04 09:00"))
    j.identify(user_id="q", at=at("2025-02-09 09:00"))
    j.track("Webinar Attended", user_id="q", at=at("2025-02-10 09:00"))
    j.track("Logged In", user_id="p", at=at("2025-03-05 09:00"))
    # c buys at once: a customer, not a prospect, when it logs in
    j.identify(user_id="c", at=at("2025-02-01 09:00"))
    j.track("Order Completed", user_id="c", at=at("2025-02-01 09:30"))
    j.track("Logged In", user_id="c", at=at("2025-02-05 09:00"))
    land(ws, j)
    run_job(ws, AS_OF)
    rows = {r["period"]: r for r in metric_rows(ws, "engagement_growth", MONTHS)}
    # February: p (log-in, like) and q (webinar): 2 prospects, 3 actions, 1.5 each.
    feb = rows["2025-02"]
    assert (feb["engaged_prospects"], feb["actions"], feb["actions_per_prospect"]) == (2, 3, 1.5)
    # March: p only: (1 − 2) / 2 × 100 = −50 %. April: nobody: 1 → 0 = −100 %.
    assert (rows["2025-03"]["engaged_prospects"], rows["2025-03"]["change"]) == (1, -50.0)
    assert rows["2025-04"]["actions_per_prospect"] == "n/a (no engaged prospects)"
