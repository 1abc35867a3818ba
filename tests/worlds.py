"""Worlds shared by several test modules (a pytest plugin: see conftest.pytest_plugins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys

CUSTOMER_AS_OF = datetime(2025, 4, 30, 23, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    """'2025-03-01 09:00' as a UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def customer_journeys() -> Journeys:
    """Who does what (UTC; every expected number in the tests is worked out from this):

    a  lead 2 Jan, buys 3 Jan, active every month, renews 3 Feb and 3 Mar, refers two people
    b  lead 2 Jan, buys 4 Jan, cancels 10 Feb (churned)
    c  lead 5 Feb, buys 6 Feb, active in March and April
    d  lead 7 Feb, buys 8 Feb, cancels 20 Feb (customer and churned inside February)
    e  lead 1 Mar, buys 2 Mar, reviews 3 Mar (fan)
    f  lead 10 Feb, never buys (window open at the as-of time)
    g  anonymous, buys 10 Mar without identifying (a lead who converts at once)
    h  referred by a on 12 Feb, identifies 20 Feb, buys 1 Mar
    """
    j = Journeys()

    def lead(user: str, when: str, email: str | None = None) -> None:
        j.identify(user_id=user, traits={"email": email or f"{user}@mail.example"}, at=at(when))

    def buy(user: str, when: str) -> None:
        j.track("Order Completed", user_id=user, properties={"revenue": 10}, at=at(when))

    lead("a", "2025-01-02 09:00")
    buy("a", "2025-01-03 09:00")
    for when in ("2025-02-01 09:00", "2025-03-01 09:00", "2025-04-01 09:00"):
        j.page(user_id="a", properties={"path": "/account"}, at=at(when))
    j.track("Subscription Renewed", user_id="a", at=at("2025-02-03 09:00"))
    j.track("Subscription Renewed", user_id="a", at=at("2025-03-03 09:00"))
    lead("b", "2025-01-02 10:00")
    buy("b", "2025-01-04 10:00")
    j.track("Subscription Cancelled", user_id="b", at=at("2025-02-10 10:00"))
    lead("c", "2025-02-05 09:00")
    buy("c", "2025-02-06 09:00")
    j.page(user_id="c", properties={"path": "/"}, at=at("2025-03-15 09:00"))
    j.page(user_id="c", properties={"path": "/"}, at=at("2025-04-15 09:00"))
    lead("d", "2025-02-07 09:00")
    buy("d", "2025-02-08 09:00")
    j.track("Subscription Cancelled", user_id="d", at=at("2025-02-20 09:00"))
    lead("e", "2025-03-01 09:00")
    buy("e", "2025-03-02 09:00")
    lead("f", "2025-02-10 09:00")
    j.page(anonymous_id="g-anon", properties={"path": "/shop"}, at=at("2025-03-10 09:00"))
    j.track("Order Completed", anonymous_id="g-anon", at=at("2025-03-10 09:00"))
    # Reviews: February 5 and 4 stars and one without a rating; March 2.6 (3 whole stars).
    j.track("Review Submitted", user_id="e", properties={"rating": 2.6}, at=at("2025-03-03 09:00"))
    j.track("Review Submitted", user_id="c", properties={"rating": 5}, at=at("2025-02-14 09:00"))
    j.track("Review Submitted", user_id="d", properties={"rating": 4}, at=at("2025-02-15 09:00"))
    j.track("Review Submitted", user_id="f", properties={"text": "ok"}, at=at("2025-02-16 09:00"))
    # Referrals: one to h (written differently from h's email), one to nobody we know.
    j.track(
        "Referral Sent",
        user_id="a",
        properties={"referred_email": " H@Mail.Example "},
        at=at("2025-02-12 09:00"),
    )
    j.track(
        "Referral Sent",
        user_id="a",
        properties={"referred_email": "nobody@x.example"},
        at=at("2025-02-13 09:00"),
    )
    lead("h", "2025-02-20 09:00")
    buy("h", "2025-03-01 12:00")
    return j


@pytest.fixture(scope="session")
def customer_world(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The customer world, landed and run as of 30 April 2025."""
    ws = make_workspace(Path(tmp_path_factory.mktemp("customers")) / "ws")
    land(ws, customer_journeys())
    run_job(ws, CUSTOMER_AS_OF)
    return ws


# Propensity: feature rows at cut-offs ------------------------------------------------------

PROPENSITY_DAY0 = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
PROPENSITY_AS_OF = PROPENSITY_DAY0 + timedelta(days=200)
# Score at day 200; test cut-off day 140; training cut-offs days 70 and 80.
PROPENSITY_SETTINGS = """
[predict.propensity]
horizon_days = 60
cutoffs = 2
cutoff_spacing_days = 10
"""


def propensity_day(n: float) -> datetime:
    """Day ``n`` of the propensity world."""
    return PROPENSITY_DAY0 + timedelta(days=n)


def propensity_journeys() -> Journeys:
    """A churner (ann) and a prospect who buys (bob), for the propensity feature rows."""
    j = Journeys()
    # ann: buys on day 1, browses, files a ticket on day 60, cancels her club on day 100.
    j.identify(user_id="ann", traits={"email": "ann@mail.example"}, at=propensity_day(0))
    j.track(
        "Order Completed",
        user_id="ann",
        properties={"revenue": 30, "subscription_id": "s1", "plan": "club", "interval": "month"},
        at=propensity_day(1),
    )
    for n in range(2, 60, 3):
        j.page(user_id="ann", properties={"path": f"/patterns/{n}"}, at=propensity_day(n))
    j.track("Ticket Created", user_id="ann", properties={"ticket_id": "t1"}, at=propensity_day(60))
    j.track(
        "Ticket Replied",
        user_id="ann",
        properties={"ticket_id": "t1", "author_role": "agent"},
        at=propensity_day(60) + timedelta(hours=5),
    )
    j.track("Ticket Created", user_id="ann", properties={"ticket_id": "t2"}, at=propensity_day(75))
    j.track(
        "Subscription Cancelled",
        user_id="ann",
        properties={"subscription_id": "s1"},
        at=propensity_day(100),
    )
    # bob: a prospect from day 0 who reads the pricing page and buys on day 75.
    j.identify(user_id="bob", traits={"email": "bob@mail.example"}, at=propensity_day(0))
    for n in range(0, 70, 7):
        j.page(user_id="bob", properties={"path": "/pricing"}, at=propensity_day(n))
    j.track("Order Completed", user_id="bob", properties={"revenue": 12}, at=propensity_day(75))
    # A page view after every training cut-off must not reach their rows.
    j.page(user_id="bob", properties={"path": "/pricing"}, at=propensity_day(150))
    return j
