"""The loyalty programme in the read API: ``/api/loyalty`` (the programme summary) and a
contact's ``/api/contacts/{contact}/loyalty`` (balance, tier, ledger, referrals).

Same rules as :mod:`clientela.api.read`: a read or admin key, one pinned published version
per request, JSON errors. A version published before the loyalty tables existed reads as
an empty programme.

The router is included before :mod:`clientela.api.read`'s: its contact sub-route must come
before ``/api/contacts/{contact:path}``, whose path converter would match it too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Security
from pydantic import BaseModel, Field

from clientela.activation.loyalty import published
from clientela.api.auth import read_key
from clientela.api.read import ERRORS, ContactPath, _find_contact, _first, _reading
from clientela.api.readers import ReadEngine

api = APIRouter(prefix="/api", dependencies=[Security(read_key)], responses=ERRORS)


class LoyaltyMember(BaseModel):
    """A member's standing as of the run (``loyalty``)."""

    balance: float
    earned: float
    redeemed: float = Field(description="Negative: points redeemed.")
    expired: float = Field(description="Negative: points that lapsed.")
    rolling_points: float = Field(description="Points earned in the tier window.")
    tier: str
    tier_since: datetime | None = Field(
        default=None, description="When they entered the tier; null: never left the lowest."
    )
    next_expiry_at: datetime | None = None
    next_expiry_points: float | None = None


class LedgerRow(BaseModel):
    """One ledger row: ``kind`` earned, redeemed or expired."""

    at: datetime
    kind: str
    rule: str
    points: float
    message_id: str | None = Field(default=None, description="The event behind the row.")
    expires_at: datetime | None = None
    reason: str | None = None


class Referral(BaseModel):
    """One invitation: referrer → invited → converted."""

    referrer_id: str
    invited_id: str | None = None
    invited: str | None = Field(default=None, description="The email or code it named.")
    referred_at: datetime
    joined_at: datetime | None = None
    converted_at: datetime | None = None
    reward_points: float | None = None


class ContactLoyalty(BaseModel):
    """A contact's loyalty: ``member`` is null for a contact outside the programme."""

    version: str
    as_of: datetime | None = None
    contact_id: str
    member: LoyaltyMember | None = None
    ledger: list[LedgerRow] = []
    referrals: list[Referral] = []
    referred_by: Referral | None = None


class TierCount(BaseModel):
    tier: str
    members: int
    balance: float = Field(description="Points the tier's members hold.")


class ReferralTotals(BaseModel):
    invitations: int
    joined: int
    converted: int
    conversion_rate: float | None = Field(
        default=None, description="converted / invitations x 100; null without invitations."
    )
    reward_points: float


class LoyaltySummary(BaseModel):
    """The programme as of the run."""

    version: str
    as_of: datetime | None = None
    members: int
    members_with_points: int
    liability: float = Field(description="Points the members hold (what is owed).")
    issued: float
    redeemed: float
    expired: float
    tiers: list[TierCount]
    referrals: ReferralTotals


def _as_of(eng: ReadEngine) -> datetime | None:
    info = _first(eng, eng.published("run_info")) or {}
    as_of: datetime | None = info.get("as_of")
    return as_of


@api.get("/loyalty", tags=["loyalty"], summary="The loyalty programme summary")
def loyalty_summary(request: Request) -> LoyaltySummary:
    """What ``clientela loyalty summary`` prints: members, liability, points issued,
    redeemed and expired, the tier mix and referral conversion."""
    with _reading(request) as eng:
        tiers = list(request.app.state.workspace.settings.loyalty.tiers)
        found: dict[str, Any] = published.summary(eng, tiers)
        return LoyaltySummary(version=eng.pinned or "", as_of=_as_of(eng), **found)


@api.get(
    "/contacts/{contact:path}/loyalty",
    tags=["contacts", "loyalty"],
    summary="A contact's loyalty: balance, tier, ledger and referrals",
)
def contact_loyalty(request: Request, contact: ContactPath) -> ContactLoyalty:
    """What ``clientela loyalty show`` prints: the member's balance, tier and next expiry,
    every ledger row with its rule and event, the referrals they made and who referred
    them."""
    with _reading(request) as eng:
        cid = _find_contact(eng, contact)
        view = published.contact(eng, cid)
        return ContactLoyalty(version=eng.pinned or "", as_of=_as_of(eng), **view)


router = APIRouter()
router.include_router(api)

__all__ = ["router"]
