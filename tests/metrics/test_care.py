"""Seed 004 customer care: first response time by a person, and the share within the SLA."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from clientela.errors import ClientelaError
from clientela.metrics import Query
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, metric_rows, run_job
from journeys import Journeys

AS_OF = datetime(2025, 4, 30, 23, 59, tzinfo=UTC)
MONTHS = Query(start=date(2025, 2, 1), end=date(2025, 4, 30), period="month")
SETTINGS = '[audience]\nown_domains = ["yourco.example"]\n'


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _ticket(j: Journeys, who: str, when: str, ticket: str, channel: str) -> None:
    props = {"ticket_id": ticket, "channel": channel, "subject": "help"}
    j.track("Ticket Created", user_id=who, at=at(when), properties=props)


def _reply(j: Journeys, who: str, when: str, ticket: str, role: str) -> None:
    props = {"ticket_id": ticket, "author_role": role}
    j.track("Ticket Replied", user_id=who, at=at(when), properties=props)


def _post(j: Journeys, who: str, when: str, post: str, channel: str, parent: str = "") -> None:
    props = {"post_id": post, "channel": channel} | ({"parent_id": parent} if parent else {})
    j.track("Post Created", user_id=who, at=at(when), properties=props)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = make_workspace(tmp_path_factory.mktemp("care") / "ws", SETTINGS)
    j = Journeys()
    j.identify(user_id="emp", traits={"email": "cm@yourco.example"}, at=at("2025-01-05 10:00"))
    # March 31, 23:50: answered 20 minutes later, on 1 April; the ticket is March's.
    _ticket(j, "c0", "2025-03-31 23:50", "t0", "chat")
    _reply(j, "c0", "2025-04-01 00:10", "t0", "agent")
    # t1 (email): a bot auto-reply after 5 s, an agent after 20 min. The same ticket tracked
    # twice is one ticket (the first creation counts).
    _ticket(j, "c1", "2025-04-01 10:00", "t1", "email")
    _ticket(j, "c1", "2025-04-01 10:10", "t1", "email")
    _reply(j, "c1", "2025-04-01 10:00:05", "t1", "bot")
    _reply(j, "c1", "2025-04-01 10:20", "t1", "agent")
    # t2 (social): the customer adds a note at 10:05; an agent answers at exactly 30 min.
    _ticket(j, "c2", "2025-04-02 10:00", "t2", "social")
    _reply(j, "c2", "2025-04-02 10:05", "t2", "customer")
    _reply(j, "c2", "2025-04-02 10:30", "t2", "agent")
    # t3 (chat): answered after an hour, the reply tracked under the agent's own user id.
    _ticket(j, "c3", "2025-04-03 10:00", "t3", "chat")
    _reply(j, "agent-7", "2025-04-03 11:00", "t3", "agent")
    # t4 (email): only the bot ever answers; closed the next day.
    _ticket(j, "c4", "2025-04-04 10:00", "t4", "email")
    _reply(j, "c4", "2025-04-04 10:00:05", "t4", "bot")
    j.track(
        "Ticket Closed", user_id="c4", at=at("2025-04-05 10:00"), properties={"ticket_id": "t4"}
    )
    # t5 (social): 14 minutes old at the as-of, no answer yet: pending.
    _ticket(j, "c5", "2025-04-30 23:45", "t5", "social")
    # Community posts. q1 (twitter): another member answers after 2 min (not care), the
    # employee after 10 min. q2 (forum): nobody answers. The employee's own post q3 and the
    # members' comments are not requests.
    _post(j, "m1", "2025-04-10 10:00", "q1", "twitter")
    _post(j, "m2", "2025-04-10 10:02", "q1-a", "twitter", parent="q1")
    _post(j, "emp", "2025-04-10 10:10", "q1-b", "twitter", parent="q1")
    _post(j, "m1", "2025-04-11 10:00", "q2", "forum")
    _post(j, "emp", "2025-04-12 10:00", "q3", "forum")
    land(ws, j)
    run_job(ws, AS_OF)
    return ws


def _by_period(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["period"]: r for r in rows}


def test_first_response_ignores_bots_and_judges_the_sla(world: Workspace) -> None:
    """Human replies only; answered within 30 min / (tickets − pending); pending left out."""
    april = _by_period(metric_rows(world, "first_response", MONTHS))["2025-04"]
    assert april == {
        "period": "2025-04",
        "tickets": 5,  # t1–t5 (t1 once)
        "answered": 3,  # t1 20 min (not the bot's 5 s), t2 30 min, t3 60 min
        "unanswered": 1,  # t4: the bot's reply is not an answer
        "pending": 1,  # t5: unanswered, but only 14 min old
        "median_minutes": 30.0,  # sorted 20, 30, 60: rank ceil(0.5 × 3) = 2
        "p90_minutes": 60.0,  # rank ceil(0.9 × 3) = 3
        "within_sla": 2,  # t1 (20) and t2 (exactly 30)
        "sla_share": 50.0,  # 2 within / (5 tickets − 1 pending) × 100
        "change": -50.0,  # March 100 % → April 50 %: −50 points
    }


def test_a_ticket_belongs_to_the_period_it_was_created_in(world: Workspace) -> None:
    """Created 31 March 23:50, answered 1 April 00:10: a March ticket, 20 minutes."""
    rows = _by_period(metric_rows(world, "first_response", MONTHS))
    march = rows["2025-03"]
    assert (march["tickets"], march["answered"], march["median_minutes"]) == (1, 1, 20.0)
    assert march["sla_share"] == 100.0  # 1 within 30 min / 1
    assert rows["2025-02"]["tickets"] == 0
    assert rows["2025-02"]["sla_share"] == "n/a (no tickets to judge)"
    assert rows["2025-02"]["median_minutes"] == "n/a (no answered tickets)"


def test_first_response_by_medium_splits_social_care(world: Workspace) -> None:
    """Per ticket channel: social's pending ticket leaves its one answered ticket judged."""
    rows = metric_rows(world, "first_response_by_medium", MONTHS)
    april = {r["medium"]: r for r in rows if r["period"] == "2025-04"}
    summary = {
        m: (r["tickets"], r["answered"], r["pending"], r["median_minutes"], r["sla_share"])
        for m, r in april.items()
    }
    assert summary == {
        "chat": (1, 1, 0, 60.0, 0.0),  # t3 answered after 60 min: 0 of 1 within
        "email": (2, 1, 0, 20.0, 50.0),  # t1 in 20 min, t4 never: 1 of 2
        "social": (2, 1, 1, 30.0, 100.0),  # t2 in 30 min, t5 pending: 1 of (2 − 1)
    }


def test_first_response_option_keeps_only_the_given_media(world: Workspace) -> None:
    """--option medium=social,chat counts only those tickets."""
    query = Query(MONTHS.start, MONTHS.end, "month", options={"medium": "social,chat"})
    april = _by_period(metric_rows(world, "first_response", query))["2025-04"]
    # t2 (30 min), t3 (60 min), t5 pending: 1 within / (3 − 1) = 50 %
    assert (april["tickets"], april["within_sla"], april["sla_share"]) == (3, 1, 50.0)


def test_first_response_to_member_posts_counts_employee_replies_only(world: Workspace) -> None:
    """--option source=post: members' top-level posts, answered by an employee's reply post."""
    query = Query(MONTHS.start, MONTHS.end, "month", options={"source": "post"})
    april = _by_period(metric_rows(world, "first_response", query))["2025-04"]
    # q1 answered by the employee after 10 min (m2's reply at 2 min is a member's); q2 never
    assert (april["tickets"], april["answered"], april["unanswered"]) == (2, 1, 1)
    assert april["median_minutes"] == 10.0
    assert april["sla_share"] == 50.0  # 1 within 30 min / 2


def test_first_response_of_tickets_and_posts_together(world: Workspace) -> None:
    """--option source=all: tickets and member posts in one base, split by medium."""
    query = Query(MONTHS.start, MONTHS.end, "month", options={"source": "all"})
    april = _by_period(metric_rows(world, "first_response", query))["2025-04"]
    # 5 tickets + 2 posts; answered t1 20, t2 30, t3 60, q1 10; t5 pending; t4, q2 unanswered
    assert (april["tickets"], april["answered"], april["pending"]) == (7, 4, 1)
    assert april["median_minutes"] == 20.0  # sorted 10, 20, 30, 60: rank ceil(0.5 × 4) = 2
    assert april["sla_share"] == 50.0  # q1, t1, t2 within / (7 − 1) = 3 / 6
    by_medium = metric_rows(world, "first_response_by_medium", query)
    twitter = [r for r in by_medium if r["period"] == "2025-04" and r["medium"] == "twitter"]
    assert [(r["tickets"], r["median_minutes"]) for r in twitter] == [(1, 10.0)]


def test_first_response_rejects_an_unknown_source(world: Workspace) -> None:
    """--option source must be ticket, post or all."""
    query = Query(MONTHS.start, MONTHS.end, "month", options={"source": "chats"})
    with pytest.raises(ClientelaError, match="option 'source' must be one of ticket, post, all"):
        metric_rows(world, "first_response", query)
