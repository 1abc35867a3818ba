"""Worlds shared by several test modules (a pytest plugin: see conftest.pytest_plugins)."""

from __future__ import annotations

from datetime import UTC, datetime
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
