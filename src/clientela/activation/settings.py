"""Settings of the activation parts: ``[segments.NAME]``, ``[playbook]``, ``[policy]``,
``[loyalty]`` and ``[destinations.NAME]`` in ``clientela.toml``. Each part owns its section
below; :func:`property_keys` tells the job which event properties they read."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clientela.activation.conditions import (
    FACT_KINDS,
    Condition,
    Conditions,
    MembershipCondition,
)
from clientela.activation.conditions import property_keys as condition_property_keys


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def property_keys(self) -> list[str]:
        """Event properties this part reads (pulled out of the JSON once, when events are
        narrowed: see :func:`clientela.scoring.events.narrow`)."""
        return []


# ---------------------------------------------------------------------------------------------
# Segments (activation/segments.py)
# ---------------------------------------------------------------------------------------------


class SegmentDefinition(_Section, Conditions):
    """A saved definition of contacts (``[segments.NAME]``): a description and its
    conditions (``all``, ``any``, ``not``; all of those given must hold). See
    :mod:`clientela.activation.conditions` for the language."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    description: str = ""

    @model_validator(mode="after")
    def _some_condition(self) -> SegmentDefinition:
        if not self.parts():
            raise ValueError("at least one of all, any or not (the segment's conditions)")
        return self

    def property_keys(self) -> list[str]:
        return condition_property_keys(self.parts())


# ---------------------------------------------------------------------------------------------
# Playbook (activation/playbook.py)
# ---------------------------------------------------------------------------------------------


Purpose = Literal["transactional", "service", "sales", "marketing", "courtesy"]
"""Why an action goes out: the policy treats each differently (transactional is never capped,
marketing never reaches a non-buyer)."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class PlaybookRule(_Section, Conditions):
    """One rule of the playbook: when its conditions hold (``all``/``any``/``not`` and/or
    ``segment``), propose ``action`` on ``channel``. Priority 1 is the most urgent; a contact
    gets the action of the most urgent rule that matches (ties: the first listed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    action: str = Field(min_length=1)
    channel: str = "email"
    purpose: Purpose
    priority: int = Field(ge=1)
    reason: str = Field(min_length=1)
    """Text shown with the action; ``{fact}`` is replaced by the contact's value of that fact
    (numbers rounded to 2 decimals, ``?`` when missing)."""
    segment: str | None = None
    """Only members of this segment."""
    products: Literal["cross_sell", "up_sell", "any"] | None = None
    """Attach the contact's recommendations of this kind (and only propose the action to
    contacts that have at least one)."""
    description: str = ""

    @model_validator(mode="after")
    def _valid(self) -> PlaybookRule:
        if not self.parts() and self.segment is None:
            raise ValueError(
                f"rule {self.action!r}: a condition (all, any, not) or a segment to match"
            )
        for name in _PLACEHOLDER.findall(self.reason):
            if name not in FACT_KINDS:
                raise ValueError(
                    f"rule {self.action!r}: reason placeholder {{{name}}} is not a fact "
                    f"(one of {', '.join(FACT_KINDS)})"
                )
        return self

    def conditions(self) -> list[Condition]:
        """Every condition of the rule, its segment included."""
        out = self.parts()
        if self.segment is not None:
            out.append(MembershipCondition(segment=self.segment))
        return out


PLAYBOOK_PRESETS = ("seeds",)
"""Shipped playbooks (``src/clientela/presets/playbook-NAME.toml``)."""


class PlaybookSettings(_Section):
    """The next-best-action playbook (``[playbook]``): ``rules`` (``[[playbook.rules]]``), or
    when there are none the shipped ``preset`` (``seeds``: the initiatives of seeds 000, 001,
    002 and 004); ``preset = "none"`` with no rules turns the playbook off."""

    preset: Literal["seeds", "none"] = "seeds"
    rules: list[PlaybookRule] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("rules"):
            name = data.get("preset", "seeds")
            if name in PLAYBOOK_PRESETS:
                text = resources.files("clientela").joinpath(f"presets/playbook-{name}.toml")
                merged = tomllib.loads(text.read_text("utf-8"))
                merged.update({k: v for k, v in data.items() if k != "rules"})
                merged["preset"] = name
                return merged
        return data

    @model_validator(mode="after")
    def _unique(self) -> PlaybookSettings:
        names = [r.action for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"unique rule actions (repeated: {', '.join(dup)})")
        return self

    def ordered(self) -> list[PlaybookRule]:
        """The rules from the most urgent (priority 1) on; ties keep their order."""
        return sorted(self.rules, key=lambda r: r.priority)

    def property_keys(self) -> list[str]:
        return condition_property_keys([c for r in self.rules for c in r.conditions()])


# ---------------------------------------------------------------------------------------------
# Policy (activation/policy.py)
# ---------------------------------------------------------------------------------------------


PURPOSES = ("transactional", "service", "sales", "marketing", "courtesy")
"""What an action is for (``purpose`` of an action): the policy's rules name these."""

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _purposes(value: list[str], allow_all: bool = False) -> list[str]:
    known = (*PURPOSES, "all") if allow_all else PURPOSES
    for purpose in value:
        if purpose not in known:
            raise ValueError(f"unknown purpose {purpose!r}: expected one of {', '.join(known)}")
    return value


class ConsentTrait(_Section):
    """An identify trait that records consent (``[policy.consent_traits.NAME]``): a true
    value means ``granted = when_true`` on ``channel`` (a false value the opposite)."""

    channel: str = "email"
    """The channel it speaks for; ``all`` means every channel."""
    when_true: bool = True
    """What a true value means: ``true`` for ``email_opt_in``, ``false`` for ``unsubscribed``."""


def _default_consent_traits() -> dict[str, ConsentTrait]:
    return {
        "email_opt_in": ConsentTrait(channel="email", when_true=True),
        "sms_opt_in": ConsentTrait(channel="sms", when_true=True),
        "unsubscribed": ConsentTrait(channel="email", when_true=False),
        "marketing_opt_out": ConsentTrait(channel="all", when_true=False),
    }


class FrequencyCap(_Section):
    """At most ``limit`` messages of ``purposes`` in ``days`` days, across every channel
    (``[[policy.caps]]``)."""

    limit: int = Field(ge=1)
    days: int = Field(ge=1)
    purposes: list[str] = Field(default_factory=lambda: ["marketing"])
    """The purposes it counts and stops (``all``: every purpose not in ``cap_exempt``)."""

    @field_validator("purposes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one purpose (or 'all')")
        return _purposes(value, allow_all=True)


class QuietHours(_Section):
    """No message between ``start`` and ``end`` (HH:MM, local time of the contact, else of
    ``[report] timezone``); equal times mean no quiet hours (``[policy.quiet_hours]``)."""

    start: str = "21:00"
    end: str = "08:00"
    exempt: list[str] = Field(default_factory=lambda: ["transactional"])
    """Purposes that may go at any hour."""

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("a time of day as HH:MM, such as '21:00' or '08:30'")
        return value

    @field_validator("exempt")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _purposes(value)

    def minutes(self) -> tuple[int, int]:
        """(start, end) as minutes after midnight."""
        h1, m1 = self.start.split(":")
        h2, m2 = self.end.split(":")
        return int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)

    def is_quiet(self, minute_of_day: int) -> bool:
        """Whether a local time (minutes after midnight) falls in the quiet window; a
        window that wraps midnight (21:00-08:00) is quiet after start or before end."""
        start, end = self.minutes()
        if start == end:
            return False
        if start < end:
            return start <= minute_of_day < end
        return minute_of_day >= start or minute_of_day < end


class PolicySettings(_Section):
    """The contact policy (``[policy]``): consent, do-not-contact, caps, quiet hours and
    the classes that never receive marketing. See ``docs/policy.md``."""

    consent_traits: dict[str, ConsentTrait] = Field(default_factory=_default_consent_traits)
    """Identify traits that record consent, by trait name."""
    opt_out_events: list[str] = Field(default_factory=lambda: ["Unsubscribed"])
    """Events that withdraw consent (on the ``channel_property``'s channel, else
    ``default_channel``)."""
    opt_in_events: list[str] = Field(default_factory=lambda: ["Resubscribed"])
    """Events that grant it again."""
    consent_events: list[str] = Field(default_factory=lambda: ["Consent Updated"])
    """Events that say either, with ``granted_property`` true or false."""
    channel_property: str = "channel"
    granted_property: str = "granted"
    default_channel: str = "email"
    """The channel of a consent event that names none."""
    require_opt_in: list[str] = Field(default_factory=list)
    """Channels where no consent record means no consent (``all``: every channel). Empty by
    default: consent is assumed until withdrawn; GDPR-minded teams list ``email`` or ``all``."""
    consent_exempt: list[str] = Field(default_factory=lambda: ["transactional", "service"])
    """Purposes that go whatever the marketing consent (receipts, answers to a ticket)."""
    do_not_contact: list[str] = Field(default_factory=list)
    """Emails, user ids or contact ids that must never be contacted, for any purpose (the
    workspace keeps a second list, managed with ``clientela policy dnc``)."""
    buyer_classes: list[str] = Field(default_factory=lambda: ["buyer"])
    """Audience classes that may receive ``buyer_only`` purposes."""
    buyer_only: list[str] = Field(default_factory=lambda: ["marketing", "sales"])
    """Purposes that only buyers receive (competitors, students, job seekers, vendors get
    courtesy, service and transactional messages only)."""
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    caps: list[FrequencyCap] = Field(
        default_factory=lambda: [FrequencyCap(limit=2, days=7, purposes=["marketing"])]
    )
    """Frequency caps across channels; the first one reached names the suppression."""
    cap_exempt: list[str] = Field(default_factory=lambda: ["transactional"])
    """Purposes never counted nor capped."""
    sent_events: dict[str, str] = Field(
        default_factory=lambda: {"Email Sent": "email", "SMS Sent": "sms", "Push Sent": "push"}
    )
    """Events that report a message sent by another tool, with its channel: caps count them
    together with what clientela delivered."""
    purpose_property: str = "purpose"
    default_sent_purpose: str = "marketing"
    """The purpose of a sent event that names none (marketing: it counts towards the caps)."""

    @field_validator("consent_exempt", "buyer_only", "cap_exempt")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _purposes(value)

    @field_validator("default_sent_purpose")
    @classmethod
    def _known_one(cls, value: str) -> str:
        return _purposes([value])[0]

    @field_validator("do_not_contact")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not entry.strip():
                raise ValueError("a blank entry: list emails, user ids or contact ids")
        return value

    def property_keys(self) -> list[str]:
        """The consent events' channel and granted properties and the sent events' purpose."""
        return [self.channel_property, self.granted_property, self.purpose_property]


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
    """Track events the rule counts (not for ``referral``); a ``value`` rule without any
    counts the ``[stages.events] purchase`` events (see :meth:`counted`)."""
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
        elif not self.events and self.kind == "event":
            raise ValueError(f"rule {self.name!r}: events = [...] (at least one track event)")
        return self

    def counted(self, purchase: list[str]) -> list[str]:
        """The events this rule pays for: its own, or for a ``value`` rule that names none,
        the ``purchase`` events (``[stages.events] purchase``)."""
        if self.kind == "value" and not self.events:
            return list(purchase)
        return list(self.events)


def _default_earn() -> list[EarnRule]:
    return [
        EarnRule(name="purchase", kind="value", points=1.0),  # the purchase events
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


DESTINATION_KINDS = ("file", "webhook")
FILE_FORMATS = ("csv", "parquet", "jsonl")
DELIVERABLES = ("actions", "segment_changes")
PURPOSES = ("transactional", "service", "sales", "marketing", "courtesy")
_FILE_ONLY = ("format", "folder")
_WEBHOOK_ONLY = (
    "url",
    "secret_env",
    "timeout_seconds",
    "max_attempts",
    "backoff_base_seconds",
    "backoff_max_seconds",
)


class DestinationSettings(_Section):
    """Where actions and segment changes go (``[destinations.NAME]``).

    ``kind = "file"`` writes one file per delivery batch (``format`` csv, parquet or jsonl)
    into ``folder`` (relative to the workspace; default ``deliveries/NAME``); ``kind =
    "webhook"`` POSTs each item as signed JSON to ``url``, with the HMAC secret read from the
    environment variable ``secret_env`` when delivering (never from this file). Only planned
    actions are ever delivered; ``actions``, ``purposes`` and ``segments`` narrow what this
    destination receives (empty: everything of what ``receives`` names).
    """

    kind: str
    receives: list[str] = Field(default_factory=lambda: list(DELIVERABLES))
    actions: list[str] = Field(default_factory=list)
    """Only these action names (empty: every action)."""
    purposes: list[str] = Field(default_factory=list)
    """Only actions of these purposes (empty: every purpose)."""
    segments: list[str] = Field(default_factory=list)
    """Only membership changes of these segments (empty: every segment)."""
    counts_as_sent: bool = True
    """A delivered action is a message that went out (the policy's frequency caps count
    it); false for a destination that only archives or analyses."""
    format: str = "jsonl"
    folder: str | None = None
    url: str | None = None
    secret_env: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base_seconds: float = Field(default=1.0, ge=0)
    backoff_max_seconds: float = Field(default=300.0, ge=0)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in DESTINATION_KINDS:
            raise ValueError(f"unknown kind '{value}'; expected one of: file, webhook")
        return value

    @field_validator("receives")
    @classmethod
    def _known_deliverables(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in DELIVERABLES]
        if unknown or not value:
            raise ValueError(
                f"receives {value}: expected one or more of: {', '.join(DELIVERABLES)}"
            )
        return value

    @field_validator("purposes")
    @classmethod
    def _known_purposes(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in PURPOSES]
        if unknown:
            raise ValueError(f"unknown purposes {unknown}; expected: {', '.join(PURPOSES)}")
        return value

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FILE_FORMATS:
            raise ValueError(f"unknown format '{value}'; expected one of: csv, parquet, jsonl")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value}' is not an http:// or https:// URL with a host")
        return value

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                f"'{value}' is not an environment variable name (the secret itself never "
                "goes in clientela.toml: name the variable that holds it)"
            )
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> DestinationSettings:
        given = self.model_fields_set
        if self.kind == "webhook":
            if self.url is None:
                raise ValueError('a webhook destination needs url = "https://..."')
            if self.secret_env is None:
                raise ValueError(
                    'a webhook destination needs secret_env = "NAME", the environment '
                    "variable that holds its signing secret"
                )
            stray = [f for f in _FILE_ONLY if f in given]
        else:
            stray = [f for f in _WEBHOOK_ONLY if f in given]
        if stray:
            raise ValueError(f"{', '.join(stray)} do not apply to a {self.kind} destination")
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError(
                f"backoff_max_seconds ({self.backoff_max_seconds}) is below "
                f"backoff_base_seconds ({self.backoff_base_seconds})"
            )
        return self


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
