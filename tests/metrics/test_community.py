"""Seed 004 community KPIs: sessions, login hours, UGC share, content ratio, self-moderation.

One world, in Europe/Madrid (UTC+1 until 30 March 2025, UTC+2 after), is shared by every
test: sessions happen in February and March, logins in March and April, the community
(posts, shares, likes, reports, moderation) in April, so each metric's numbers stay small.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from clientela.metrics import Query
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, metric_rows, run_job
from journeys import Journeys

AS_OF = datetime(2025, 4, 30, 23, 59, tzinfo=UTC)
MONTHS = Query(start=date(2025, 2, 1), end=date(2025, 4, 30), period="month")
SETTINGS = """
[report]
timezone = "Europe/Madrid"

[audience]
own_domains = ["yourco.example"]
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _post(j: Journeys, who: str, when: str, post_id: str, parent: str | None = None) -> None:
    props: dict[str, Any] = {"post_id": post_id, "channel": "forum"}
    if parent:
        props["parent_id"] = parent
    j.track("Post Created", user_id=who, at=at(when), properties=props)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = make_workspace(tmp_path_factory.mktemp("community") / "ws", SETTINGS)
    j = Journeys()
    # An employee (own email domain) and a crawler (bot user agent), known since January.
    j.identify(user_id="emp", traits={"email": "ana@yourco.example"}, at=at("2025-01-05 10:00"))
    j.page(
        user_id="crawl",
        context={"userAgent": "Googlebot/2.1"},
        properties={"path": "/"},
        at=at("2025-01-05 10:00"),
    )

    # Sessions. s1 in February: 10:00 and 10:30 (a gap of exactly 30 min: one session), then
    # 11:00:01 (30 min 1 s later: a new, one-event session).
    for when in ("2025-02-10 10:00:00", "2025-02-10 10:30:00", "2025-02-10 11:00:01"):
        j.track("Product Used", user_id="s1", at=at(when))
    # 23:50 on 28 February in Madrid to 00:15 on 1 March: one session, in February.
    j.track("Product Used", user_id="s1", at=at("2025-02-28 22:50"))
    j.track("Product Used", user_id="s1", at=at("2025-02-28 23:15"))
    # s2 in March: 12:00 … 12:20, with a login and a like inside it; the email opened at
    # 12:45 is passive (done to s2) and neither extends the session nor starts one.
    j.page(user_id="s2", properties={"path": "/app"}, at=at("2025-03-05 12:00"))
    j.track("Logged In", user_id="s2", at=at("2025-03-05 12:05"))
    j.page(user_id="s2", properties={"path": "/app/x"}, at=at("2025-03-05 12:10"))
    j.track("Post Liked", user_id="s2", at=at("2025-03-05 12:15"), properties={"post_id": "p1"})
    j.page(user_id="s2", properties={"path": "/app/y"}, at=at("2025-03-05 12:20"))
    j.track("Email Opened", user_id="s2", at=at("2025-03-05 12:45"))

    # Logins in April (Madrid is UTC+2): Monday 09:30 and 09:45, Wednesday 23:59, and
    # Saturday 22:30 UTC, which is Sunday 00:30 in Madrid.
    j.track("Logged In", user_id="l1", at=at("2025-04-07 07:30"))
    j.track("Logged In", user_id="l2", at=at("2025-04-07 07:45"))
    j.track("Logged In", user_id="l3", at=at("2025-04-09 21:59"))
    j.track("Logged In", user_id="l1", at=at("2025-04-12 22:30"))

    # The community in April: members m1 and m2 post, the employee posts, the crawler posts.
    _post(j, "m1", "2025-04-10 10:00", "p1")
    _post(j, "m2", "2025-04-10 11:00", "p2", parent="p1")
    _post(j, "emp", "2025-04-11 10:00", "p3")
    _post(j, "m1", "2025-04-14 10:00", "p4")
    _post(j, "crawl", "2025-04-14 11:00", "spam")
    j.track("Post Shared", user_id="m2", at=at("2025-04-20 10:00"), properties={"post_id": "p1"})
    for who, post in (("m1", "p2"), ("m2", "p1"), ("l1", "p1"), ("l2", "p4"), ("emp", "p1")):
        j.track("Post Liked", user_id=who, at=at("2025-04-21 10:00"), properties={"post_id": post})

    # Self-moderation in April. p1: approved at 09:00 (before any report), reported by m2 at
    # 10:00 and by l1 at 12:00, hidden by the employee at 10:45. p3: reported by m2, acted on
    # by a server id two hours later. p0 (an old post): reported, never acted on. The
    # employee's own report is not a member's.
    report, action = "Content Reported", "Moderation Action"
    j.track(action, user_id="emp", at=at("2025-04-15 09:00"), properties={"post_id": "p1"})
    j.track(report, user_id="m2", at=at("2025-04-15 10:00"), properties={"post_id": "p1"})
    j.track(action, user_id="emp", at=at("2025-04-15 10:45"), properties={"post_id": "p1"})
    j.track(report, user_id="l1", at=at("2025-04-15 12:00"), properties={"post_id": "p1"})
    j.track(report, user_id="m2", at=at("2025-04-16 10:00"), properties={"post_id": "p3"})
    j.track(action, user_id="srv", at=at("2025-04-16 12:00"), properties={"post_id": "p3"})
    j.track(report, user_id="l2", at=at("2025-04-17 10:00"), properties={"post_id": "p0"})
    j.track(report, user_id="emp", at=at("2025-04-18 10:00"), properties={"post_id": "p4"})
    land(ws, j)
    run_job(ws, AS_OF)
    return ws


def _by_period(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["period"]: r for r in rows}


def test_sessions_split_on_a_gap_of_more_than_30_minutes(world: Workspace) -> None:
    """A 30-minute gap keeps the session, 30 min 1 s ends it; one event lasts 0 minutes."""
    feb = _by_period(metric_rows(world, "sessions", MONTHS))["2025-02"]
    # s1's sessions: 10:00–10:30 (30 min), 11:00:01 alone (0 min), 23:50–00:15 (25 min)
    assert feb["sessions"] == 3 and feb["contacts"] == 1
    assert feb["avg_minutes"] == pytest.approx(55 / 3)  # (30 + 0 + 25) / 3 = 18.33
    assert feb["median_minutes"] == 25.0  # sorted 0, 25, 30: rank ceil(0.5 × 3) = 2
    assert feb["p90_minutes"] == 30.0  # rank ceil(0.9 × 3) = 3
    assert feb["sessions_per_contact"] == 3.0
    assert feb["events_per_session"] == pytest.approx(5 / 3)  # 2 + 1 + 2 events
    assert feb["single_event"] == 1


def test_a_session_across_midnight_counts_in_the_period_it_started(world: Workspace) -> None:
    """23:50 on 28 Feb → 00:15 on 1 March (Madrid) is February's; March has only s2's."""
    mar = _by_period(metric_rows(world, "sessions", MONTHS))["2025-03"]
    # s2: page 12:00, login 12:05, page 12:10, like 12:15, page 12:20 → one 20-minute
    # session of 5 events; the passive email open at 12:45 is not part of it.
    assert (mar["sessions"], mar["contacts"], mar["avg_minutes"]) == (1, 1, 20.0)
    assert mar["events_per_session"] == 5.0
    assert mar["change"] == pytest.approx((20 - 55 / 3) * 100 / (55 / 3))  # +9.09 % vs Feb


def test_login_hours_by_local_weekday_and_hour(world: Workspace) -> None:
    """Logins land on Madrid's weekday and hour; shares are of the period's logins."""
    rows = metric_rows(world, "login_hours", MONTHS)
    april = {(r["weekday"], r["hour"]): r for r in rows if r["period"] == "2025-04"}
    # 07:30 and 07:45 UTC on Monday 7 April = 09:xx in Madrid (UTC+2): 2 of 4 → 50 %
    assert april[(1, 9)] == {
        "period": "2025-04",
        "weekday": 1,
        "hour": 9,
        "day": "Mon",
        "logins": 2,
        "contacts": 2,
        "share": 50.0,
    }
    # 21:59 UTC Wednesday = 23:59 Wednesday; 22:30 UTC Saturday = 00:30 Sunday: 1 of 4 each
    assert (april[(3, 23)]["day"], april[(3, 23)]["share"]) == ("Wed", 25.0)
    assert (april[(7, 0)]["day"], april[(7, 0)]["share"]) == ("Sun", 25.0)
    # March's only login (12:05 UTC = 13:05 Wednesday, UTC+1) is not an April slot: 0 %
    assert (april[(3, 13)]["logins"], april[(3, 13)]["share"]) == (0, 0.0)
    march = [r for r in rows if r["period"] == "2025-03" and r["logins"]]
    assert [(r["weekday"], r["hour"], r["share"]) for r in march] == [(3, 13, 100.0)]
    # February has no logins at all: every slot is n/a
    feb = {r["share"] for r in rows if r["period"] == "2025-02"}
    assert feb == {"n/a (no logins in the period)"}
    assert len(rows) == 3 * 7 * 24  # every weekday and hour of each of the 3 months


def test_ugc_share_counts_members_against_employees_and_leaves_bots_out(
    world: Workspace,
) -> None:
    """UGC = members' posts and comments / all posts; the employee's post is in the base."""
    rows = _by_period(metric_rows(world, "ugc_share", MONTHS))
    # p1, p2 (a comment), p4 by members, p3 by the employee; the crawler's post left out
    assert rows["2025-04"] == {
        "period": "2025-04",
        "posts": 4,
        "member_posts": 3,
        "employee_posts": 1,
        "posting_members": 2,
        "ugc_share": 75.0,  # 3 / 4 × 100
        "change": "n/a (previous period has no value)",
    }
    assert rows["2025-03"]["ugc_share"] == "n/a (no posts)"


def test_content_ratio_normalises_to_posts_and_is_na_without_posts(world: Workspace) -> None:
    """Posts : shares : likes of members, as 1 : shares/posts : likes/posts."""
    rows = _by_period(metric_rows(world, "content_ratio", MONTHS))
    april = rows["2025-04"]
    # members' posts p1, p2, p4 = 3; 1 share; likes by m1, m2, l1, l2 = 4 (the employee's
    # like is left out, like the employee's post)
    assert (april["posts"], april["shares"], april["likes"]) == (3, 1, 4)
    assert april["shares_per_post"] == pytest.approx(1 / 3)
    assert april["likes_per_post"] == pytest.approx(4 / 3)
    assert april["ratio"] == "1 : 0.33 : 1.33"
    # March: s2's like, no posts → nothing to normalise to
    march = rows["2025-03"]
    assert (march["posts"], march["likes"]) == (0, 1)
    assert march["shares_per_post"] == "n/a (no posts)"
    assert march["ratio"] == "n/a (no posts)"


def test_self_moderation_reports_share_and_time_to_action(world: Workspace) -> None:
    """Members' reports; reported posts / new posts; first report → first action after it."""
    april = _by_period(metric_rows(world, "self_moderation", MONTHS))["2025-04"]
    # reports: m2 (p1), l1 (p1), m2 (p3), l2 (p0) = 4 by 3 members (the employee's is not)
    assert (april["reports"], april["reporters"]) == (4, 3)
    # distinct posts reported p1, p3, p0 = 3 / posts created p1–p4 = 4 → 75 %
    assert (april["posts_reported"], april["posts_created"]) == (3, 4)
    assert april["reported_share"] == 75.0
    # p1: 10:00 → 10:45 = 45 min (the 09:00 approval came before); p3: 10:00 → 12:00 by the
    # server id = 120 min; p0 never acted on
    assert (april["first_reported"], april["actioned"], april["unactioned"]) == (3, 2, 1)
    assert april["median_minutes_to_action"] == 45.0  # rank ceil(0.5 × 2) = 1
    assert april["p90_minutes_to_action"] == 120.0  # rank ceil(0.9 × 2) = 2
    march = _by_period(metric_rows(world, "self_moderation", MONTHS))["2025-03"]
    assert march["reports"] == 0
    assert march["reported_share"] == "n/a (no posts created)"
    assert march["median_minutes_to_action"] == "n/a (no reported post actioned)"
