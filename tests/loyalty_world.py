"""A small shop for the loyalty tests (ledger, tiers, referrals, metrics, CLI and API).

Settings: points lapse after 30 days, tiers on the points earned in the last 60 days
(Bronze 0, Silver 100, Gold 300); 1 point per unit of order value, 50 per review, 200 per
converted referral, 10 per community answer, 20 per *live* webinar. Day n is
``DAY0 + n days`` (DAY0 = Mon 3 Mar 2025 09:00 UTC). Every contact is a buyer except gus
(an employee: gus@shop.example is an own domain), who is no member.

ann  d0 order revenue 40 (lot 40, lapses d30); d1 review (50, lapses d31); d5 redeems 60:
     first in, first out → all 40 of d0 and 20 of d1 (used up C = 60); d30 the d0 lot
     lapses with nothing left (no row); d31 the d1 lot lapses: 90 − 60 = 30 expire (C = 90);
     d32 order of 2 × 25 = 50 (from its lines; lapses d62); d40 asks 80 with a balance of
     140 − 90 = 50: capped at 50 (C = 140); d45 order total 10 (lapses d75); d62 the d32 lot
     lapses with nothing left. At d70: earned 40 + 50 + 50 + 10 = 150, redeemed −110,
     expired −30, balance 10, next expiry d75 (10 points).
     Rolling (60 days) at each change: d0 40, d1 90 (Bronze), d32 140 (Silver), d45 150,
     d60 the d0 lot leaves → 110, d61 the d1 lot leaves → 60 (Bronze): at d70 Bronze since
     d61; at d50 Silver since d32 (rolling 150), balance 10.
bob  d2 a post (not an answer: nothing); d3 an answer (parent_id set: 10, lapses d33); d4 a
     live webinar (20, lapses d34); d5 a recorded one (nothing); d66 a review (50). At d70:
     earned 80, expired −30, balance 50, next expiry d96 (50); rolling 50: Bronze, never
     another tier (tier_since null).
cy   d10 invites dan by email (Dan@Mail.example, code CY10). At d20 dan's first order
     converts it: 200 points for cy at d20 (the order's message id), lapsing d50 → at d70
     earned 200, expired −200, balance 0; rolling 200: Silver since d20.
eve  d12 invites dan too (dan@mail.example, code EVE1): dan signs up with EVE1 at d14, so
     both invitations match dan; cy's came first and wins: eve's keeps no invitee.
dan  identifies d14 (dan@mail.example), signs up d14 (code EVE1), order revenue 30 at d20
     (30 points to dan, lapsing d50 → expired at d70).
gus  (employee) d15 sends code GUS5 without an email; fay signs up with GUS5 at d16 and
     orders at d25 (revenue 25): converted, but gus is no member: no reward, no ledger; his
     own order (d1, 100) earns nothing.
ivy  d1 order total 20 (lapses d31); d2 redeems without points (a row of 0 with the reason);
     d3 an order without a value (a row of 0 with the reason). At d70: expired −20,
     balance 0.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys

DAY0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
AS_OF = DAY0 + timedelta(days=70)
EARLIER = DAY0 + timedelta(days=50)

SETTINGS = """
[audience]
own_domains = ["shop.example"]

[loyalty]
expiry_days = 30
tier_window_days = 60
tiers = {Bronze = 0, Silver = 100, Gold = 300}

[[loyalty.earn]]
name = "purchase"
kind = "value"
events = ["Order Completed"]
points = 1

[[loyalty.earn]]
name = "review"
events = ["Review Submitted"]
points = 50

[[loyalty.earn]]
name = "referral"
kind = "referral"
points = 200

[[loyalty.earn]]
name = "community answer"
events = ["Post Created"]
replies_only = true
points = 10

[[loyalty.earn]]
name = "live webinar"
events = ["Webinar Attended"]
where = {format = "live"}
points = 20
"""


def day(n: float) -> datetime:
    """Day ``n`` of the world (9:00 UTC)."""
    return DAY0 + timedelta(days=n)


def shop() -> Journeys:
    """The events described in the module docstring."""
    j = Journeys()
    for user in ("ann", "bob", "cy", "eve", "ivy", "fay"):
        j.identify(
            user_id=user, traits={"email": f"{user}@mail.example"}, at=day(0) - timedelta(hours=1)
        )
    j.identify(user_id="gus", traits={"email": "gus@shop.example"}, at=day(0))
    j.identify(user_id="dan", traits={"email": "dan@mail.example"}, at=day(14))

    def track(event: str, user: str, n: float, mid: str, **properties: object) -> None:
        j.track(event, user_id=user, properties=properties, at=day(n), message_id=mid)

    track("Order Completed", "ann", 0, "ann-o1", revenue=40)
    track("Review Submitted", "ann", 1, "ann-r1", rating=5)
    track("Points Redeemed", "ann", 5, "ann-x1", points=60)
    track("Order Completed", "ann", 32, "ann-o2", products=[{"price": 25, "quantity": 2}])
    track("Points Redeemed", "ann", 40, "ann-x2", points=80)
    track("Order Completed", "ann", 45, "ann-o3", total=10)

    track("Post Created", "bob", 2, "bob-p1", post_id="p1")
    track("Post Created", "bob", 3, "bob-p2", post_id="p2", parent_id="p0")
    track("Webinar Attended", "bob", 4, "bob-w1", format="live")
    track("Webinar Attended", "bob", 5, "bob-w2", format="recorded")
    track("Review Submitted", "bob", 66, "bob-r1", rating=4)

    track(
        "Referral Sent", "cy", 10, "cy-ref", referred_email="Dan@Mail.example", referral_code="CY10"
    )
    track(
        "Referral Sent",
        "eve",
        12,
        "eve-ref",
        referred_email="dan@mail.example",
        referral_code="EVE1",
    )
    track("Signed Up", "dan", 14, "dan-s", plan="basic", referral_code="EVE1")
    track("Order Completed", "dan", 20, "dan-o1", revenue=30)

    track("Order Completed", "gus", 1, "gus-o1", revenue=100)
    track("Referral Sent", "gus", 15, "gus-ref", referral_code="GUS5")
    track("Signed Up", "fay", 16, "fay-s", plan="basic", referral_code="GUS5")
    track("Order Completed", "fay", 25, "fay-o1", revenue=25)

    track("Order Completed", "ivy", 1, "ivy-o1", total=20)
    track("Points Redeemed", "ivy", 2, "ivy-x1")
    track("Order Completed", "ivy", 3, "ivy-o2")
    return j


_BUILT: dict[str, Any] = {}


def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict[str, Any]]:
    """The shop, landed and run twice — as of :data:`EARLIER` (rows kept) then as of
    :data:`AS_OF` (the published version) — once per test session, shared by the loyalty
    test modules (they only read it). Returns the workspace and ``{"earlier": tables,
    "now": tables}``, each table as rows."""
    if "ws" not in _BUILT:
        ws = make_workspace(tmp_path_factory.mktemp("loyalty") / "ws", SETTINGS)
        land(ws, shop())
        earlier = run_job(ws, as_of=EARLIER)
        now = run_job(ws, as_of=AS_OF)
        _BUILT["ws"] = ws
        _BUILT["tables"] = {"earlier": earlier, "now": now}
    ws_built: Workspace = _BUILT["ws"]
    tables: dict[str, Any] = _BUILT["tables"]
    return ws_built, tables
