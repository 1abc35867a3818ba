"""Settings of the activation parts: ``[segments.NAME]``, ``[playbook]``, ``[policy]``,
``[loyalty]`` and ``[destinations.NAME]`` in ``clientela.toml``. Each part owns its section
below; :func:`property_keys` tells the job which event properties they read."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def property_keys(self) -> list[str]:
        """Event properties this part reads (pulled out of the JSON once, when events are
        narrowed: see :func:`clientela.scoring.events.narrow`)."""
        return []


# ---------------------------------------------------------------------------------------------
# Segments (activation/segments.py)
# ---------------------------------------------------------------------------------------------


class SegmentDefinition(_Section):
    """A saved definition of contacts (``[segments.NAME]``)."""

    description: str = ""


# ---------------------------------------------------------------------------------------------
# Playbook (activation/playbook.py)
# ---------------------------------------------------------------------------------------------


class PlaybookSettings(_Section):
    """The next-best-action playbook (``[playbook]``)."""


# ---------------------------------------------------------------------------------------------
# Policy (activation/policy.py)
# ---------------------------------------------------------------------------------------------


class PolicySettings(_Section):
    """The contact policy (``[policy]``): consent, do-not-contact, caps, quiet hours."""


# ---------------------------------------------------------------------------------------------
# Loyalty (activation/loyalty.py)
# ---------------------------------------------------------------------------------------------


_PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _property_key(value: str, what: str) -> str:
    if not _PROPERTY_KEY.match(value):
        raise ValueError(f"{what}: a property name such as 'points' or 'order.id', not {value!r}")
    return value


class EarnRule(_Section):
    """One way to earn points (``[[loyalty.earn]]``).

    ``kind`` says what the points are counted on:

    * ``event`` — ``points`` for every ``events`` event that passes ``where`` (and, with
      ``replies_only``, answers a post: its ``[metrics.fields] parent_id`` is set);
    * ``value`` — ``points`` per unit of the order's value, read as ``[predict]
      value_properties`` reads it (the first present, else the sum of the order lines);
    * ``referral`` — ``points`` to the referrer when someone they invited places a first
      order after the invitation (see the ``[loyalty]`` referral settings).
    """

    name: str
    """The rule's name, shown in the ledger (``rule``)."""
    kind: Literal["event", "value", "referral"] = "event"
    events: list[str] = Field(default_factory=list)
    """Track events the rule counts (not for ``referral``)."""
    points: float = Field(gt=0)
    """Points per event (``event``, ``referral``) or per unit of value (``value``)."""
    where: dict[str, str] = Field(default_factory=dict)
    """Property filters, all of which must hold: ``{plan = "pro"}`` (compared as text)."""
    replies_only: bool = False
    """Only events that answer another post (a community answer)."""

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a rule needs a name (e.g. 'purchase')")
        return value

    @field_validator("where")
    @classmethod
    def _filter_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            _property_key(key, "where")
        return value

    @model_validator(mode="after")
    def _events_fit_kind(self) -> EarnRule:
        if self.kind == "referral":
            if self.events or self.where or self.replies_only:
                raise ValueError(
                    f"rule {self.name!r}: a referral rule pays on conversions; it takes no "
                    "events, where or replies_only"
                )
        elif not self.events:
            raise ValueError(f"rule {self.name!r}: events = [...] (at least one track event)")
        return self


def _default_earn() -> list[EarnRule]:
    return [
        EarnRule(name="purchase", kind="value", events=["Order Completed"], points=1.0),
        EarnRule(name="review", events=["Review Submitted"], points=50.0),
        EarnRule(name="referral", kind="referral", points=200.0),
        EarnRule(name="community answer", events=["Post Created"], replies_only=True, points=10.0),
    ]


class LoyaltySettings(_Section):
    """The loyalty and referral programmes (``[loyalty]``): who is a member, how points are
    earned (``[[loyalty.earn]]``), redeemed and lapse, the tiers and referrals."""

    enabled: bool = True
    """False: no ledger, balances or referrals are computed (the tables are published empty)."""
    member_classes: list[str] = Field(default_factory=lambda: ["buyer"])
    """Audience classes whose contacts are members (earn, redeem, have a tier)."""
    earn: list[EarnRule] = Field(default_factory=_default_earn)
    expiry_days: int = Field(default=365, gt=0, le=36_500)
    """Earned points lapse this many days after they were earned (unless redeemed first)."""
    redemption_event: str = "Points Redeemed"
    """The track event of a redemption."""
    redemption_points: str = "points"
    """The redemption event's property with the points redeemed."""
    tier_window_days: int = Field(default=365, gt=0, le=36_500)
    """Tiers are set by the points earned in this many days up to the as-of time."""
    tiers: dict[str, float] = Field(
        default_factory=lambda: {"Bronze": 0.0, "Silver": 500.0, "Gold": 2000.0}
    )
    """Tier name → the rolling points it starts at; one tier starts at 0."""
    referral_event: str = "Referral Sent"
    """The track event a referrer sends an invitation with."""
    signup_event: str = "Signed Up"
    """The track event an invited person signs up with (may carry the referral code)."""
    referral_code: str = "referral_code"
    """Property of both events holding the referral code."""
    referred_email: str = "referred_email"
    """Property of the invitation holding the invited person's email."""

    @field_validator("member_classes")
    @classmethod
    def _some_class(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one audience class (e.g. ['buyer'])")
        return value

    @field_validator("redemption_points", "referral_code", "referred_email")
    @classmethod
    def _keys(cls, value: str) -> str:
        return _property_key(value, "property")

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or 0 not in value.values():
            raise ValueError("tiers need one tier starting at 0 points, e.g. {Bronze = 0}")
        if any(v < 0 for v in value.values()):
            raise ValueError("tier thresholds are points, 0 or more")
        if len(set(value.values())) != len(value):
            raise ValueError("two tiers start at the same points; give each its own")
        return dict(sorted(value.items(), key=lambda item: item[1]))

    @model_validator(mode="after")
    def _rules(self) -> LoyaltySettings:
        names = [rule.name for rule in self.earn]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"earn rule names must differ: {', '.join(twice)} given twice")
        if sum(rule.kind == "referral" for rule in self.earn) > 1:
            raise ValueError("at most one earn rule of kind 'referral'")
        return self

    def referral_rule(self) -> EarnRule | None:
        """The rule paying for converted referrals, if there is one."""
        return next((rule for rule in self.earn if rule.kind == "referral"), None)

    def property_keys(self) -> list[str]:
        keys = [self.redemption_points, self.referral_code, self.referred_email]
        for rule in self.earn:
            keys.extend(rule.where)
        return list(dict.fromkeys(keys))


# ---------------------------------------------------------------------------------------------
# Destinations (activation/destinations/)
# ---------------------------------------------------------------------------------------------


class DestinationSettings(_Section):
    """Where actions and segment changes go (``[destinations.NAME]``)."""


# ---------------------------------------------------------------------------------------------


def property_keys(
    segments: dict[str, SegmentDefinition],
    playbook: PlaybookSettings,
    policy: PolicySettings,
    loyalty: LoyaltySettings,
) -> list[str]:
    """Every event property the activation parts read, each once."""
    keys: list[str] = []
    for part in [*segments.values(), playbook, policy, loyalty]:
        keys.extend(k for k in part.property_keys() if k not in keys)
    return keys
