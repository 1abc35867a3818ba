"""Workspace settings, read from ``clientela.toml`` and validated with pydantic.

Every setting has a default, so an empty file is a valid workspace. A wrong setting raises
:class:`~clientela.errors.ConfigError` naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from clientela.activation.settings import (
    DestinationSettings,
    LoyaltySettings,
    PlaybookSettings,
    PolicySettings,
    SegmentDefinition,
)
from clientela.errors import ClientelaError, ConfigError

CONFIG_FILE = "clientela.toml"

# Ids that tracking libraries emit when the real id is missing. Treating them as ids would
# merge every anonymous visitor into one "contact". Compared lower-cased and trimmed.
BUILTIN_JUNK_IDS: tuple[str, ...] = (
    "",
    "null",
    "undefined",
    "none",
    "nil",
    "nan",
    "0",
    "-1",
    "anonymous",
    "unknown",
    "n/a",
    "na",
    "guest",
    "user",
    "test",
    "[object object]",
    "00000000-0000-0000-0000-000000000000",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkSettings(_Section):
    """How to reach Spark when ``engine.kind = "spark"``."""

    master: str = "local[*]"
    app_name: str = "clientela"
    conf: dict[str, str] = Field(default_factory=dict)


class EngineSettings(_Section):
    """Which engine runs computations. DuckDB is embedded; Spark scales out."""

    kind: Literal["duckdb", "spark"] = "duckdb"
    duckdb_file: str = "state/clientela.duckdb"
    threads: int = Field(default=0, ge=0)
    memory_limit: str = ""
    """DuckDB's memory limit: a size (``1.5GB``, ``512MiB``) or a share of the machine's
    memory (``80%``); empty = DuckDB's default."""
    spark: SparkSettings = Field(default_factory=SparkSettings)

    @field_validator("memory_limit")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        return memory_limit_text(value)


MEMORY_UNITS = ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+|%)")


def memory_limit_text(value: str) -> str:
    """``value`` as a canonical memory limit (``4GB``, ``512MiB``, ``80%``; empty = none),
    or a ValueError saying what is expected: the value ends up in the engine's SQL."""
    text = value.strip()
    if not text:
        return ""
    found = _MEMORY.fullmatch(text)
    expected = (
        "a size like 1.5GB or 512MiB (units: " + ", ".join(MEMORY_UNITS) + ") or a share "
        "of the machine's memory like 80%"
    )
    if not found:
        raise ValueError(expected)
    number, unit = found.groups()
    if unit == "%":
        if not 0 < float(number) <= 100:
            raise ValueError(f"a percentage above 0 and at most 100 ({expected})")
        return f"{number}%"
    units = {u.lower(): u for u in MEMORY_UNITS}
    if unit.lower() not in units:
        raise ValueError(expected)
    if float(number) <= 0:
        raise ValueError(f"a size above 0 ({expected})")
    return f"{number}{units[unit.lower()]}"


class ServerSettings(_Section):
    """How ``clientela serve`` bounds the work of its read API."""

    query_seconds: float = Field(default=30.0, gt=0, le=3600)
    """Time budget of one read request's engine work: a query still running then is
    cancelled in the engine and answered ``504 query_timeout``."""
    shutdown_seconds: float = Field(default=10.0, gt=0, le=600)
    """On SIGTERM (or Ctrl-C): running reads are cancelled at once; requests still open after
    this many seconds are cancelled so the server always stops."""


class IngestSettings(_Section):
    """Limits and sizes for landing events (the limits are Segment's)."""

    max_event_bytes: int = Field(default=32 * 1024, gt=0)
    max_batch_bytes: int = Field(default=500 * 1024, gt=0)
    max_batch_events: int = Field(default=2500, gt=0)
    chunk_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Times outside [earliest, latest) (UTC) are quarantined as bad_timestamp.
    earliest: date = date(1970, 1, 1)
    latest: date = date(2100, 1, 1)
    keep_raw: bool = False
    """Keep each landed event's line as received in ``events.raw`` (verbatim JSON: about 45 %
    of the landed bytes, and the slowest column to write). Off, the normalised columns hold
    every field clientela reads; fields it does not read (``integrations``, ``channel``,
    ``writeKey``...) are not stored. Quarantined records always keep their raw bytes."""

    @model_validator(mode="after")
    def _window(self) -> IngestSettings:
        if self.earliest >= self.latest:
            raise ValueError(f"earliest ({self.earliest}) must be before latest ({self.latest})")
        return self


class IdentitySettings(_Section):
    """Identity resolution policy."""

    junk_ids: list[str] = Field(default_factory=list)
    merge_crm_on_email: bool = True
    """A CRM contact whose id the events never use joins the app user who identified with the
    same email (one person per email). False keeps them two contacts."""
    merge_identified_on_email: bool = False
    force_merge: list[list[str]] = Field(default_factory=list)

    def all_junk_ids(self) -> list[str]:
        """Built-in junk ids plus the workspace's own, normalised for comparison."""
        return sorted({*BUILTIN_JUNK_IDS, *(j.strip().lower() for j in self.junk_ids)})


class PrivacySettings(_Section):
    """Privacy: how long the verbatim raw text of landed events is kept
    (:mod:`clientela.privacy`)."""

    keep_raw_days: int | None = Field(default=None, ge=0, strict=True)
    """Drop the raw text of events received more than this many days ago (normalised columns
    stay); unset keeps it forever. Applied by ``clientela privacy retention``."""


class _CrmFile(_Section):
    """How a CRM file is read: unset delimiter and encoding are sniffed per file."""

    delimiter: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    modified_at: str | None = None
    traits: dict[str, str] = Field(default_factory=dict)
    keep_unmapped: bool = True

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if (
            value is not None
            and value.lower() not in ("tab", "\\t", "\t")
            and (len(value) != 1 or value in '"\r\n')
        ):
            raise ValueError("one character such as ',', ';', '|' or 'tab'")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        import codecs

        if value:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError("a text encoding such as utf-8, cp1252 or latin-1") from None
        return value

    @field_validator("date_format")
    @classmethod
    def _strftime(cls, value: str | None) -> str | None:
        if value is not None and "%" not in value:
            raise ValueError("a strftime format such as '%d/%m/%Y' or '%m/%d/%Y %H:%M'")
        return value


class ContactColumns(_CrmFile):
    """Which CRM columns hold the contact's id, email, account and creation date."""

    id: str | None = None
    email: str | None = None
    account_id: str | None = None
    created_at: str | None = None


class AccountColumns(_CrmFile):
    """Which CRM columns hold the account's id, name and web domain."""

    id: str | None = None
    name: str | None = None
    domain: str | None = None


class ImportSettings(_Section):
    """Column mappings for CRM files, so exports load without editing."""

    contacts: ContactColumns = Field(default_factory=ContactColumns)
    accounts: AccountColumns = Field(default_factory=AccountColumns)


class ReportSettings(_Section):
    """Where period boundaries fall."""

    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone name such as 'Europe/Madrid' or 'UTC'") from None
        return value


# --------------------------------------------------------------------------------------------
# Scoring models: fit rules, engagement signals, grade cut-offs
# --------------------------------------------------------------------------------------------

FitOp = Literal["equals", "in", "range", "regex", "missing", "present", "years_since"]
PRESETS: tuple[str, ...] = ("b2b", "b2c")
STAGE_PRESETS: tuple[str, ...] = ("relationship", "journey")
# Keys of JSON payloads a signal may test: plain names, dotted for nesting (no quoting needed).
_JSON_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"a valid regular expression ({exc})") from None
    return value


class FitRule(_Section):
    """Points for a contact (or its account) whose trait passes a test. Fit never decays.

    ``trait`` names a contact trait (``age``), an account trait (``account.employees``), or
    several alternatives separated by ``|`` (the first one present is tested).
    """

    name: str = Field(min_length=1)
    trait: str = Field(min_length=1)
    op: FitOp = "equals"
    value: str | float | bool | None = None
    values: list[str | float | bool] = Field(default_factory=list)
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    points: float

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return _check_regex(value)

    @model_validator(mode="after")
    def _needs(self) -> FitRule:
        need = {
            "equals": self.value is not None,
            "in": bool(self.values),
            "range": self.min is not None or self.max is not None,
            "years_since": self.min is not None or self.max is not None,
            "regex": self.pattern is not None,
            "missing": True,
            "present": True,
        }[self.op]
        if not need:
            what = {
                "equals": "'value'",
                "in": "a non-empty 'values' list",
                "range": "'min' and/or 'max'",
                "years_since": "'min' and/or 'max' (years)",
                "regex": "'pattern'",
            }[self.op]
            raise ValueError(f"rule '{self.name}' with op '{self.op}' needs {what}")
        return self

    @property
    def alternatives(self) -> list[tuple[str, str]]:
        """(scope, trait) pairs, scope 'contact' or 'account', in order of preference."""
        out = []
        for part in self.trait.split("|"):
            name = part.strip()
            if name.startswith("account."):
                out.append(("account", name.removeprefix("account.")))
            else:
                out.append(("contact", name.removeprefix("contact.")))
        return out

    @property
    def on_account_only(self) -> bool:
        return all(scope == "account" for scope, _ in self.alternatives)


SignalType = Literal["track", "page", "screen", "identify", "group"]


class Signal(_Section):
    """A scored kind of event: which events, how many points, how fast they fade, caps."""

    name: str = Field(min_length=1)
    type: SignalType = "track"
    event: list[str] = Field(default_factory=list)
    """Track event names (any of them); for page/screen calls, page or screen names."""
    path: str | None = None
    """For page calls: a regular expression the page path must match (e.g. '^/pricing')."""
    where: dict[str, str | float | bool | list[str | float | bool]] = Field(default_factory=dict)
    """Property tests: the property's text equals the value (or one of a list)."""
    channel: str | None = None
    """context.channel must equal this ('web', 'mobile', 'server', ...)."""
    points: float
    half_life_days: float = Field(gt=0)
    cap_per_day: float | None = Field(default=None, gt=0)
    cap_total: float | None = Field(default=None, gt=0)

    @field_validator("path")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return _check_regex(value)

    @field_validator("event", mode="before")
    @classmethod
    def _event_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("where")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not _JSON_KEY.match(key):
                raise ValueError(f"property names like 'plan' or 'order.total', not {key!r}")
        return value

    @model_validator(mode="after")
    def _needs(self) -> Signal:
        if self.type == "track" and not self.event:
            raise ValueError(f"signal '{self.name}' is a track signal and needs 'event'")
        if self.path is not None and self.type != "page":
            raise ValueError(f"signal '{self.name}': 'path' applies to type = 'page' only")
        if self.points <= 0 and (self.cap_per_day is not None or self.cap_total is not None):
            raise ValueError(f"signal '{self.name}': caps apply to positive points only")
        return self


class LetterCutoffs(_Section):
    """Lowest fit score of each letter; below ``C`` is ``D``."""

    A: float = 70
    B: float = 45
    C: float = 20

    @model_validator(mode="after")
    def _ordered(self) -> LetterCutoffs:
        if not self.A > self.B > self.C:
            raise ValueError("cut-offs with A > B > C")
        return self


class DigitCutoffs(_Section):
    """Lowest engagement score of each digit; below ``3`` is ``4``."""

    one: float = Field(default=60, alias="1")
    two: float = Field(default=35, alias="2")
    three: float = Field(default=15, alias="3")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> DigitCutoffs:
        if not self.one > self.two > self.three:
            raise ValueError("cut-offs with 1 > 2 > 3")
        return self


class ModelSettings(_Section):
    """One scoring model (a workspace may have several, e.g. one per product line).

    ``preset = "b2b"`` or ``"b2c"`` takes the shipped model; any key given here replaces the
    preset's (``clientela init --preset b2b`` writes a preset out in full, to edit).
    """

    preset: Literal["b2b", "b2c"] | None = None
    applies_to: Literal["all", "with_account", "without_account"] = "all"
    fit: list[FitRule] = Field(default_factory=list)
    signals: list[Signal] = Field(default_factory=list)
    fit_cutoffs: LetterCutoffs = Field(default_factory=LetterCutoffs)
    engagement_cutoffs: DigitCutoffs = Field(default_factory=DigitCutoffs)
    saturation: float = Field(default=40.0, gt=0)
    """Raw engagement points that map to 50 on the 0-100 scale (every further
    ``saturation`` points halves the remaining distance to 100)."""
    account_rollup: Literal["sum", "mean", "max", "top_k"] = "top_k"
    top_k: int = Field(default=3, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset"):
            name = data["preset"]
            if name not in PRESETS:
                return data  # the Literal check reports it
            merged = dict(load_preset(name))
            merged.update(data)
            return merged
        return data

    @model_validator(mode="after")
    def _unique(self) -> ModelSettings:
        for kind, items in (("fit rule", self.fit), ("signal", self.signals)):
            names = [i.name for i in items]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"unique {kind} names (repeated: {', '.join(sorted(dup))})")
        if not self.fit and not self.signals:
            raise ValueError("at least one fit rule or signal (or a preset)")
        return self


def load_preset(name: str) -> dict[str, Any]:
    """The shipped scoring model ``name`` ('b2b' or 'b2c') as a settings dict."""
    text = resources.files("clientela").joinpath(f"presets/{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def preset_text(name: str) -> str:
    """The TOML text of a shipped preset (scoring model or stage machine)."""
    return resources.files("clientela").joinpath(f"presets/{name}.toml").read_text("utf-8")


def model_toml(name: str, preset: str, applies_to: str | None = None) -> str:
    """A shipped preset written out in full as ``[models.NAME]``, ready to edit."""
    out: list[str] = []
    opened = False
    for line in preset_text(preset).splitlines():
        stripped = line.strip()
        if applies_to is not None and stripped.startswith("applies_to"):
            line = f'applies_to = "{applies_to}"'
            stripped = line
        if stripped.startswith("[[") or (
            stripped.startswith("[") and not stripped.startswith('["')
        ):
            if not opened:
                out.append(f"[models.{name}]")
                opened = True
            inner = stripped.strip("[]")
            bracket = "[[" if stripped.startswith("[[") else "["
            close = "]]" if bracket == "[[" else "]"
            rest = stripped[stripped.index(close) + len(close) :]
            out.append(f"{bracket}models.{name}.{inner}{close}{rest}")
            continue
        if not opened and stripped and not stripped.startswith("#"):
            out.append(f"[models.{name}]")
            opened = True
        out.append(line)
    return "\n".join(out) + "\n"


def _default_models() -> dict[str, ModelSettings]:
    return {
        "b2b": ModelSettings.model_validate({"preset": "b2b", "applies_to": "with_account"}),
        "b2c": ModelSettings.model_validate({"preset": "b2c", "applies_to": "without_account"}),
    }


# --------------------------------------------------------------------------------------------
# Audience classes
# --------------------------------------------------------------------------------------------

NON_BUYER_CLASSES: tuple[str, ...] = (
    "bot",
    "employee",
    "competitor",
    "vendor",
    "student",
    "job_seeker",
)
"""Non-buyer classes in priority order: a contact with evidence for two gets the first."""

Policy = Literal["exclude", "demote"]


def _all_excluded() -> dict[str, Policy]:
    return {c: "exclude" for c in NON_BUYER_CLASSES}


class AudienceSettings(_Section):
    """How non-buyers are recognised, and what happens to them."""

    own_domains: list[str] = Field(default_factory=list)
    competitor_domains: list[str] = Field(default_factory=list)
    competitor_names: list[str] = Field(default_factory=list)
    vendor_domains: list[str] = Field(default_factory=list)
    academic_domains: list[str] = Field(
        default_factory=lambda: [".edu", ".ac.uk", ".edu.es", ".edu.au", ".ac.jp", ".edu.mx"]
    )
    student_pattern: str = r"\b(student|estudiante|alumn[oa]|undergraduate|pupil)\b"
    """Matched (case-insensitive) against occupation and job-title traits."""
    job_events: list[str] = Field(default_factory=lambda: ["Job Application Submitted"])
    careers_path: str = r"^/(careers|jobs|empleo|trabaja)"
    careers_share: float = Field(default=0.5, gt=0, le=1)
    careers_min_pages: int = Field(default=2, ge=1)
    bot_user_agent: str = (
        r"(bot|crawl|spider|slurp|headless|python-requests|curl/|wget|scrapy|httpclient"
        r"|phantomjs|go-http-client|java/)"
    )
    burst_seconds: float = Field(default=2.0, gt=0)
    """Page or screen views this close to the previous one are machine-fast."""
    burst_events: int = Field(default=5, ge=2)
    click_seconds: float = Field(default=10.0, gt=0)
    click_links: int = Field(default=3, ge=2)
    """This many links of one email clicked within ``click_seconds``: a link scanner."""
    policy: dict[str, Policy] = Field(default_factory=_all_excluded)
    demote_points: float = Field(default=40.0, ge=0)
    routes: dict[str, str] = Field(
        default_factory=lambda: {
            "bot": "Suppress: keep out of campaigns and people counts.",
            "employee": "Internal: no marketing; invite to dogfood and moderate.",
            "competitor": "No sales follow-up or nurturing; public content only.",
            "vendor": "Route to procurement and partnerships; no lead nurturing.",
            "student": "Courteous route: education resources and community; no sales calls.",
            "job_seeker": "Courteous route: careers news and application status; no sales.",
        }
    )

    @field_validator("student_pattern", "careers_path", "bot_user_agent")
    @classmethod
    def _regex(cls, value: str) -> str:
        _check_regex(value)
        return value

    @field_validator("policy", "routes")
    @classmethod
    def _known_classes(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key not in NON_BUYER_CLASSES:
                raise ValueError("keys among " + ", ".join(NON_BUYER_CLASSES))
        return value

    def policy_of(self, audience_class: str) -> Policy:
        return self.policy.get(audience_class, "exclude")


# --------------------------------------------------------------------------------------------
# Stage machine
# --------------------------------------------------------------------------------------------

STAGE_FEATURES: dict[str, str] = {
    "identified": "1 once the contact gave an id or email (or is in the CRM), else 0",
    "orders": "purchases so far",
    "renewals": "subscription renewals so far",
    "cancels": "cancellations so far",
    "advocacy": "advocacy events so far (posts, shares, referrals, reviews)",
    "cancelled": "1 if the last cancellation came after the last purchase or renewal",
    "subscribed": "1 while one of the contact's subscriptions is active (paid, not cancelled, "
    "not lapsed), else 0",
    "days_since_activity": "days since the contact last did something (passive events aside)",
    "days_since_purchase": "days since the last purchase, renewal or subscription payment",
    "days_since_order": "days since the last purchase",
    "days_since_first_purchase": "days since the first purchase (tenure)",
    "days_since_advocacy": "days since the last advocacy event",
    "days_since_identified": "days since the contact was first identified",
    "fit": "the contact's current fit score (0-100; fit does not decay)",
}
_CONDITION = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


class Condition(BaseModel):
    """A parsed stage condition such as ``days_since_activity > 90``."""

    model_config = ConfigDict(frozen=True)
    feature: str
    op: str
    number: float


def parse_condition(text: str) -> Condition:
    """Parse ``feature op number``; the error lists the features there are."""
    match = _CONDITION.match(text)
    if not match:
        raise ValueError(
            f"a condition like 'orders >= 1' or 'days_since_activity > 90', not {text!r}"
        )
    feature, op, number = match.groups()
    if feature not in STAGE_FEATURES:
        raise ValueError(f"a feature among {', '.join(STAGE_FEATURES)} (not {feature!r})")
    return Condition(feature=feature, op=op, number=float(number))


class StageInfo(_Section):
    """A stage, with what seed 000 says to do there."""

    name: str = Field(min_length=1)
    exit: bool = False
    """Exits (dormant, churned) sit outside the forward funnel."""
    initiative: str = ""
    process: str = ""
    key_indicator: str = ""


class StageRule(_Section):
    """The contact is in ``stage`` while every condition holds (rules are tried in order)."""

    stage: str
    when: list[str] = Field(default_factory=list)
    reason: str = ""

    @field_validator("when")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_condition(text)
        return value

    @property
    def conditions(self) -> list[Condition]:
        return [parse_condition(t) for t in self.when]

    def describe(self) -> str:
        return self.reason or (" and ".join(self.when) if self.when else "default")


class StageEvents(_Section):
    """Which track events feed the stage features."""

    purchase: list[str] = Field(default_factory=lambda: ["Order Completed"])
    renewal: list[str] = Field(default_factory=lambda: ["Subscription Renewed"])
    cancel: list[str] = Field(default_factory=lambda: ["Subscription Cancelled"])
    advocacy: list[str] = Field(
        default_factory=lambda: ["Post Created", "Post Shared", "Referral Sent", "Review Submitted"]
    )
    passive: list[str] = Field(
        default_factory=lambda: [
            "Email Sent",
            "Email Opened",
            "Subscription Renewed",
            "Invoice Paid",
            "Payment Succeeded",
            "Ticket Replied",
            "Moderation Action",
        ]
    )
    """Events that happen *to* a contact rather than *by* them: not activity."""


# Billing intervals a subscription event may name, and how many months each is.
SUBSCRIPTION_INTERVALS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
INTERVAL_WORDS: dict[str, str] = {
    "month": "month",
    "monthly": "month",
    "quarter": "quarter",
    "quarterly": "quarter",
    "year": "year",
    "yearly": "year",
    "annual": "year",
    "annually": "year",
}
"""Interval property values (lower-cased, trimmed) → interval; any other value is
``default_interval``."""
# A subscription is due again after its interval's longest calendar length (a renewal on the
# same day of the next month, quarter or year is never late), plus the grace period.
INTERVAL_DAYS: dict[str, int] = {"month": 31, "quarter": 92, "year": 366}


class SubscriptionFields(_Section):
    """Which event property holds each subscription field (JSON paths into properties)."""

    subscription_id: str = "subscription_id"
    """Events without it belong to the contact's one unnamed subscription."""
    plan: str = "plan"
    mrr: str = "mrr"
    """Monthly recurring revenue, when the event states it (it wins over ``amount``)."""
    amount: list[str] = Field(default_factory=lambda: ["amount", "total", "revenue"])
    """The amount billed for one interval: the first of these properties present."""
    interval: str = "interval"

    @field_validator("subscription_id", "plan", "mrr", "interval")
    @classmethod
    def _json_key(cls, value: str) -> str:
        if not _JSON_KEY.match(value):
            raise ValueError("a property name or dotted path such as 'plan' or 'order.plan'")
        return value

    @field_validator("amount")
    @classmethod
    def _json_keys(cls, value: list[str]) -> list[str]:
        if not value or not all(_JSON_KEY.match(v) for v in value):
            raise ValueError("property names or dotted paths such as ['amount', 'total']")
        return value


class SubscriptionSettings(_Section):
    """How subscriptions are read from events. Renewals and cancellations are
    ``stages.events.renewal`` and ``stages.events.cancel``; a purchase
    (``stages.events.purchase``) with a subscription id or a plan is a subscription payment."""

    started: list[str] = Field(default_factory=lambda: ["Subscription Started"])
    payment: list[str] = Field(default_factory=lambda: ["Invoice Paid", "Payment Succeeded"])
    """Payments of a subscription (they keep it active, like a renewal, but are not counted as
    renewal decisions)."""
    grace_days: float = Field(default=7.0, ge=0)
    """A subscription lapses when no payment comes within its interval plus this many days."""
    default_interval: Literal["month", "quarter", "year"] = "month"
    """The interval of a subscription whose events never say it."""
    fields: SubscriptionFields = Field(default_factory=SubscriptionFields)


class StageSettings(_Section):
    """The stage machine: stages, the rules that place a contact, and the events they use."""

    preset: Literal["relationship", "journey"] | None = None
    stages: list[StageInfo] = Field(default_factory=list)
    rules: list[StageRule] = Field(default_factory=list)
    events: StageEvents = Field(default_factory=StageEvents)
    subscriptions: SubscriptionSettings = Field(default_factory=SubscriptionSettings)
    sales_ready_grades: list[str] = Field(default_factory=lambda: ["A1", "A2", "B1"])
    sales_ready_initiative: str = "Sales-ready: hand over to sales for a personal call."

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            name = data.get("preset") or ("relationship" if not data.get("rules") else None)
            if name in STAGE_PRESETS:
                merged = tomllib.loads(preset_text(f"stages-{name}"))
                merged.update(data)
                merged.setdefault("preset", name)
                return merged
        return data

    @model_validator(mode="after")
    def _consistent(self) -> StageSettings:
        names = [s.name for s in self.stages]
        if not names:
            raise ValueError("at least one stage")
        for rule in self.rules:
            if rule.stage not in names:
                raise ValueError(
                    f"rules naming stages among {', '.join(names)} (not {rule.stage!r})"
                )
        if not self.rules or self.rules[-1].when:
            raise ValueError("a last rule with no conditions (the stage of everyone else)")
        return self

    def info(self, name: str) -> StageInfo:
        return next(s for s in self.stages if s.name == name)


class MetricFields(_Section):
    """Which event property holds each field the metrics read (JSON paths into properties)."""

    ticket_id: str = "ticket_id"
    post_id: str = "post_id"
    parent_id: str = "parent_id"
    author_role: str = "author_role"
    rating: str = "rating"
    referred_email: str = "referred_email"
    medium: str = "channel"
    """The ticket's or post's own channel (email, chat, social, forum, ...)."""

    @field_validator("*")
    @classmethod
    def _json_key(cls, value: str) -> str:
        if not _JSON_KEY.match(value):
            raise ValueError("a property name or dotted path such as 'ticket_id' or 'order.id'")
        return value


class MetricEvents(_Section):
    """Which track events each metric family counts."""

    activity: list[str] = Field(
        default_factory=lambda: ["Logged In", "Product Used", "Order Completed", "Ticket Created"]
    )
    """Seed 000 *activity*: using the product and buying (what a customer does for themself)."""
    engagement: list[str] = Field(
        default_factory=lambda: [
            "Post Created",
            "Post Shared",
            "Post Liked",
            "Review Submitted",
            "Referral Sent",
            "Webinar Attended",
            "Content Reported",
        ]
    )
    """Seed 000 *engagement*: taking part with others (community, reviews, referrals, events)."""
    login: list[str] = Field(default_factory=lambda: ["Logged In"])
    post: list[str] = Field(default_factory=lambda: ["Post Created"])
    share: list[str] = Field(default_factory=lambda: ["Post Shared"])
    like: list[str] = Field(default_factory=lambda: ["Post Liked"])
    report: list[str] = Field(default_factory=lambda: ["Content Reported"])
    moderation: list[str] = Field(default_factory=lambda: ["Moderation Action"])
    ticket: list[str] = Field(default_factory=lambda: ["Ticket Created"])
    reply: list[str] = Field(default_factory=lambda: ["Ticket Replied"])
    review: list[str] = Field(default_factory=lambda: ["Review Submitted"])
    referral: list[str] = Field(default_factory=lambda: ["Referral Sent"])


class MetricStages(_Section):
    """Which stages play which part in the funnel metrics (empty = from the stage preset)."""

    funnel: list[str] = Field(default_factory=list)
    """The stages in the order a contact climbs them (stage conversion, the report's funnel)."""
    lead: str = ""
    """Entering this stage makes a contact a lead (conversion rate)."""
    customers: list[str] = Field(default_factory=list)
    """Stages that count as customers (retention, churn)."""
    churned: list[str] = Field(default_factory=list)
    """Stages that mean a customer was lost (churn rate)."""


# Stage roles of the shipped stage presets.
_STAGE_ROLES: dict[str, dict[str, Any]] = {
    "relationship": {
        "funnel": ["stranger", "prospect", "customer", "fan"],
        "lead": "prospect",
        "customers": ["customer", "fan"],
        "churned": ["churned"],
    },
    "journey": {
        "funnel": ["reach", "acquisition", "conversion", "retention", "loyalty"],
        "lead": "acquisition",
        "customers": ["conversion", "retention", "loyalty"],
        "churned": ["churned"],
    },
}


class MetricsSettings(_Section):
    """Settings of the lifecycle KPIs (``clientela metrics`` and the HTML report)."""

    session_gap_minutes: float = Field(default=30.0, gt=0)
    """A session ends after this much inactivity (seed 004)."""
    sla_minutes: float = Field(default=30.0, gt=0)
    """Social and support care: customers expect an answer within this (seed 004)."""
    human_roles: list[str] = Field(default_factory=lambda: ["agent"])
    """Reply authors that are people (bot auto-replies do not count as a first response)."""
    conversion_window_days: float = Field(default=90.0, gt=0)
    """A lead converts if they buy within this many days of becoming a lead."""
    exclude_classes: list[str] = Field(default_factory=lambda: ["bot", "employee"])
    """Audience classes left out of every metric (bots and your own staff skew them)."""
    default_period: Literal["day", "week", "month", "quarter", "year"] = "month"
    default_periods: int = Field(default=12, gt=0)
    """How many periods, ending with the as-of date's, when no --from is given."""
    events: MetricEvents = Field(default_factory=MetricEvents)
    fields: MetricFields = Field(default_factory=MetricFields)
    stages: MetricStages = Field(default_factory=MetricStages)


class ScoringSettings(_Section):
    """Which model's grade is the contact's grade when several apply."""

    primary: list[str] = Field(default_factory=list)
    """Model names in order of preference; empty = the order of [models]."""


class RecommendSettings(_Section):
    """Cross-sell and up-sell (``[predict.recommend]``): how many suggestions, how much
    evidence a rule needs, who must not get any, and how the back-test splits time."""

    k: int = Field(default=3, ge=1, le=50)
    """Suggestions per customer (and the k of the back-test's hit rate and recall at k)."""
    min_co_buyers: int = Field(default=5, ge=1)
    """A rule X -> Y needs at least this many customers who bought both (an up-sell, this
    many buyers of the step-up product in the category)."""
    min_lift: float = Field(default=1.0, ge=0)
    """A cross-sell rule must beat the base rate by more than this factor (lift > 1.0)."""
    price_unit: str = "€"
    """Written after an up-sell's price in its reason ("the step up at 45 €")."""
    opt_out_traits: dict[str, str] = Field(
        default_factory=lambda: {
            "unsubscribed": "true",
            "marketing_opt_out": "true",
            "email_opt_in": "false",
        }
    )
    """A contact whose trait has this value (case-insensitive) gets no suggestions."""
    opt_out_events: list[str] = Field(default_factory=lambda: ["Unsubscribed"])
    opt_in_events: list[str] = Field(default_factory=lambda: ["Resubscribed"])
    """A contact whose latest event of these two lists is an opt-out gets no suggestions."""
    backtest_days: int = Field(default=90, ge=1)
    """The back-test learns from orders up to as-of minus this many days and is judged on
    the products first bought after that."""
    min_backtest_customers: int = Field(default=10, ge=1)
    """Fewer judged customers than this: the back-test row only says what is missing."""


class PropensitySettings(_Section):
    """Churn and purchase propensity (``[predict.propensity]``): the horizon, the cut-offs the
    models learn from, when there is too little history, the bands and the CRM label trait."""

    horizon_days: int = Field(default=90, gt=0, le=730)
    """P(churn) and P(purchase) are for this many days after the cut-off (and the as-of date)."""
    cutoffs: int = Field(default=4, ge=1, le=24)
    """Training cut-offs: the latest is ``horizon_days`` before the test cut-off (so their
    labels are known by then), the others ``cutoff_spacing_days`` apart before it."""
    cutoff_spacing_days: int = Field(default=30, gt=0, le=365)
    """Days between consecutive training cut-offs."""
    min_positives: int = Field(default=50, ge=1)
    """Fewer positive labels (churners, buyers) in the training windows: no model, a note."""
    min_rows: int = Field(default=200, ge=2)
    """Fewer training rows than this: no model, a note."""
    high_band: float = Field(default=0.5, gt=0, le=1)
    """A probability at or above this is in the ``high`` band."""
    medium_band: float = Field(default=0.2, ge=0, lt=1)
    """At or above this (and below ``high_band``) is ``medium``; below, ``low``."""
    reasons: int = Field(default=3, ge=1, le=10)
    """How many top contributing features are told per contact."""
    label_trait: str = ""
    """A CRM contact trait holding a yes/no outcome (e.g. ``churned``): train a model on the
    imported traits against it (:func:`clientela.predict.traits.train_on_traits`)."""

    @model_validator(mode="after")
    def _bands(self) -> PropensitySettings:
        if self.medium_band >= self.high_band:
            raise ValueError("medium_band must be below high_band")
        return self


class PredictSettings(_Section):
    """Customer lifetime value (``[predict]``): which events are orders, where their value is,
    and how the BG/NBD and Gamma-Gamma predictions are turned into money."""

    order_events: list[str] = Field(default_factory=lambda: ["Order Completed"])
    """Track events that are orders (purchase transactions)."""
    value_properties: list[str] = Field(default_factory=lambda: ["revenue", "total"])
    """Properties holding an order's value, the first present wins; without any, the value is
    the sum of ``products[].price * quantity`` (a missing quantity counts as 1)."""
    time_unit: Literal["day", "week"] = "week"
    """Unit of recency, age and the models' rates (a week is 7 days, fractions kept)."""
    horizon_months: int = Field(default=12, gt=0, le=120)
    """Expected purchases and CLV are for this many months after the as-of date."""
    annual_discount_rate: float = Field(default=0.10, ge=0, lt=10)
    """Yearly rate future money is discounted at (applied monthly: (1 + d)^(1/12) - 1)."""
    margin: float = Field(default=1.0, gt=0, le=1)
    """Share of an order's value that is profit (1.0: CLV in revenue)."""
    exclude_classes: list[str] = Field(default_factory=lambda: ["bot", "employee"])
    """Audience classes that are neither fitted nor predicted (their orders are not sales)."""
    min_customers: int = Field(default=20, gt=1)
    """Fewer customers than this is too little data for BG/NBD (no fit is attempted)."""
    min_repeat_customers: int = Field(default=10, gt=1)
    """Fewer customers with a repeat purchase than this is too little data for either model."""
    recommend: RecommendSettings = Field(default_factory=RecommendSettings)
    """Cross-sell and up-sell (``[predict.recommend]``)."""
    propensity: PropensitySettings = Field(default_factory=PropensitySettings)
    """Churn and purchase propensity (``[predict.propensity]``)."""

    @field_validator("value_properties")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not _JSON_KEY.match(key):
                raise ValueError(f"property names like 'revenue' or 'order.total', not {key!r}")
        return value

    @field_validator("order_events")
    @classmethod
    def _some_event(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one order event name")
        return value


class Settings(_Section):
    """All of a workspace's settings."""

    engine: EngineSettings = Field(default_factory=EngineSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    import_: ImportSettings = Field(default_factory=ImportSettings, alias="import")
    report: ReportSettings = Field(default_factory=ReportSettings)
    models: dict[str, ModelSettings] = Field(default_factory=_default_models)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    audience: AudienceSettings = Field(default_factory=AudienceSettings)
    stages: StageSettings = Field(default_factory=lambda: StageSettings.model_validate({}))
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    predict: PredictSettings = Field(default_factory=PredictSettings)
    segments: dict[str, SegmentDefinition] = Field(default_factory=dict)
    playbook: PlaybookSettings = Field(default_factory=PlaybookSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    loyalty: LoyaltySettings = Field(default_factory=LoyaltySettings)
    destinations: dict[str, DestinationSettings] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("models")
    @classmethod
    def _some_model(cls, value: dict[str, ModelSettings]) -> dict[str, ModelSettings]:
        if not value:
            raise ValueError("at least one scoring model under [models.NAME]")
        for name in value:
            if not re.match(r"^[A-Za-z0-9_-]+$", name):
                raise ValueError(f"model names of letters, digits, '_' and '-' (not {name!r})")
        return value

    @model_validator(mode="after")
    def _primary_known(self) -> Settings:
        for name in self.scoring.primary:
            if name not in self.models:
                raise ValueError(f"scoring.primary names models among {', '.join(self.models)}")
        return self

    @model_validator(mode="after")
    def _metric_stages_known(self) -> Settings:
        names = [s.name for s in self.stages.stages]
        own = self.metrics.stages
        preset = _STAGE_ROLES.get(self.stages.preset or "")
        for key in ("funnel", "lead", "customers", "churned"):
            value = getattr(own, key) or (preset or {}).get(key)
            for name in [value] if isinstance(value, str) else value or []:
                if name not in names:
                    raise ValueError(
                        f"metrics.stages.{key} naming stages among {', '.join(names)} "
                        f"(not {name!r})"
                    )
        return self

    def stage_roles(self) -> dict[str, Any]:
        """funnel, lead, customers and churned stages: as set, else from the stage preset.
        With custom stages (no preset) they must be set; a metric that needs them says so."""
        preset = _STAGE_ROLES.get(self.stages.preset or "")
        own = self.metrics.stages
        roles = {
            "funnel": own.funnel or (preset or {}).get("funnel", []),
            "lead": own.lead or (preset or {}).get("lead", ""),
            "customers": own.customers or (preset or {}).get("customers", []),
            "churned": own.churned or (preset or {}).get("churned", []),
        }
        missing = [k for k in ("funnel", "lead", "customers") if not roles[k]]
        if missing:
            raise ClientelaError(
                "the stages are your own (no stage preset), so the metrics need to be told "
                f"which play which part: set {', '.join('metrics.stages.' + k for k in missing)}"
                " in clientela.toml"
            )
        return roles

    def model_order(self) -> list[str]:
        """Model names, the preferred first (for a contact's grade)."""
        rest = [m for m in self.models if m not in self.scoring.primary]
        return [*self.scoring.primary, *rest]


def parse_settings(data: dict[str, Any], source: Path | str | None = None) -> Settings:
    """Validate a settings dict; the first problem becomes a ConfigError naming its key."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        expected = _expected(err)
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            raise ConfigError(key, value, "no such setting (check the spelling)", source) from None
        raise ConfigError(key, value, expected, source) from None


def _expected(err: Any) -> str:
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return f"one of {ctx['expected']}"
    message = str(err["msg"])
    return message.removeprefix("Value error, ")


def load_settings(path: Path) -> Settings:
    """Read and validate ``clientela.toml``; a missing file means all defaults."""
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(file)", str(exc), "valid TOML", path) from None
    return parse_settings(data, path)


DEFAULT_TOML = """\
# clientela workspace settings. Every key is optional; the values shown are the defaults.

[engine]
# "duckdb" runs embedded (one file in this workspace, no server to start);
# "spark" runs the same computations on Apache Spark (pip install 'clientela[spark]').
kind = "duckdb"
duckdb_file = "state/clientela.duckdb"
threads = 0            # 0 = all cores
memory_limit = ""      # e.g. "4GB", "512MiB" or "50%"; empty = DuckDB's default (80% of RAM)

[engine.spark]
master = "local[*]"    # or "spark://host:7077", "yarn", ...
app_name = "clientela"

[engine.spark.conf]
# "spark.driver.memory" = "4g"

[server]
# clientela serve: a read whose engine work takes longer is cancelled (504 query_timeout).
query_seconds = 30.0
# On SIGTERM, running reads are cancelled; requests still open after this are cancelled.
shutdown_seconds = 10.0

[ingest]
# Segment's limits: a larger event or batch goes to quarantine with its reason.
max_event_bytes = 32768
max_batch_bytes = 512000
max_batch_events = 2500
# How much input is landed as one segment file.
chunk_bytes = 67108864
# Times outside [earliest, latest) (UTC, also after the sentAt clock-skew correction) go to
# quarantine as bad_timestamp. Move 'earliest' back to land older history.
earliest = 1970-01-01
latest = 2100-01-01
# Keep each landed event's line as received (events.raw), not only its normalised fields.
# Quarantined records always keep their raw bytes.
keep_raw = false

[identity]
# Ids never treated as a person's id, on top of the built-in list (null, undefined, 0, ...).
junk_ids = []
# A CRM contact and the app user who identified with the same email are one contact.
# Set to false to keep them two (CRM ids and app userIds then only meet when equal).
merge_crm_on_email = true
# Two different app userIds with the same email stay two contacts unless this is true.
merge_identified_on_email = false
# Groups of userIds that are one person, e.g. [["u_1", "u_2"]].
force_merge = []

[privacy]
# Drop the verbatim raw text of landed events received more than this many days ago
# (normalised columns stay) when 'clientela privacy retention' runs. Unset: keep forever.
# keep_raw_days = 365

[import.contacts]
# Which CRM columns hold what. Unmapped columns become traits (snake_case names).
# id = "Contact ID"
# email = "Email Address"
# account_id = "Account ID"
# created_at = "Created Date"
# Two rows with one id: the newest by this column lands (default: the last row of the file).
# modified_at = "Last Modified Date"
# Unset: sniffed per file (UTF-8 with or without BOM, else cp1252; ',' ';' tab '|').
# delimiter = ";"
# encoding = "cp1252"
# Dates: ISO and dd/mm/yyyy-style read on their own; a format for anything else.
# date_format = "%d/%m/%Y"
keep_unmapped = true

[import.contacts.traits]
# "Job Title" = "title"

[import.accounts]
# id = "Account ID"
# name = "Account Name"
# domain = "Website"
# modified_at = "Last Modified Date"
# delimiter, encoding and date_format as for contacts.
keep_unmapped = true

[report]
timezone = "UTC"

# -- scoring (seed 001): fit, engagement, lifecycle --------------------------------------------
# Each [models.NAME] is a scoring model; "preset" takes a shipped one (b2b: firmographics and
# sales-led engagement; b2c: demographics and self-serve engagement). To edit every rule and
# signal, run `clientela init --preset b2b` in a new folder and copy its [models.b2b] here.

[models.b2b]
preset = "b2b"
applies_to = "with_account"      # "all", "with_account" or "without_account"

[models.b2c]
preset = "b2c"
applies_to = "without_account"

[scoring]
primary = []          # model names in order of preference for a contact's grade

# -- audience classes: who is not a buyer ------------------------------------------------------
[audience]
own_domains = []          # your company's email domains: employees
competitor_domains = []
competitor_names = []     # compared with the "company" trait
vendor_domains = []
academic_domains = [".edu", ".ac.uk", ".edu.es", ".edu.au", ".ac.jp", ".edu.mx"]
demote_points = 40.0      # fit points taken off a class whose policy is "demote"

[audience.policy]         # "exclude" (no lead score, never marketed to) or "demote"
bot = "exclude"
employee = "exclude"
competitor = "exclude"
vendor = "exclude"
student = "exclude"
job_seeker = "exclude"

# -- stage machine (seed 000 / seed 003) -------------------------------------------------------
[stages]
preset = "relationship"   # stranger, prospect, customer, fan (+ dormant, churned); or "journey"
sales_ready_grades = ["A1", "A2", "B1"]

[stages.subscriptions]      # renewals and cancellations: stages.events.renewal and .cancel
started = ["Subscription Started"]
payment = ["Invoice Paid", "Payment Succeeded"]   # payments that keep a subscription active
grace_days = 7.0            # lapsed: no payment within the interval plus this many days
default_interval = "month"  # month, quarter or year, when the events do not say

[stages.subscriptions.fields]   # the event property holding each field
subscription_id = "subscription_id"
plan = "plan"
mrr = "mrr"                 # monthly amount, when stated
amount = ["amount", "total", "revenue"]   # amount of one interval: the first present
interval = "interval"       # month(ly), quarter(ly), year(ly) or annual(ly)

# -- metrics (seeds 000-004): `clientela metrics list`, `clientela report` ----------------------
[metrics]
session_gap_minutes = 30.0   # a session ends after this much inactivity
sla_minutes = 30.0           # care: customers expect a human answer within this
human_roles = ["agent"]      # reply authors that are people (not the auto-responder)
conversion_window_days = 90.0
exclude_classes = ["bot", "employee"]   # left out of every metric
default_period = "month"     # day, week, month, quarter or year
default_periods = 12         # periods shown when no --from is given

[metrics.events]
activity = ["Logged In", "Product Used", "Order Completed", "Ticket Created"]
engagement = [
  "Post Created",
  "Post Shared",
  "Post Liked",
  "Review Submitted",
  "Referral Sent",
  "Webinar Attended",
  "Content Reported",
]
login = ["Logged In"]
post = ["Post Created"]
share = ["Post Shared"]
like = ["Post Liked"]
report = ["Content Reported"]
moderation = ["Moderation Action"]
ticket = ["Ticket Created"]
reply = ["Ticket Replied"]
review = ["Review Submitted"]
referral = ["Referral Sent"]

[metrics.fields]             # the event property holding each field
ticket_id = "ticket_id"
post_id = "post_id"
parent_id = "parent_id"
author_role = "author_role"
rating = "rating"
referred_email = "referred_email"
medium = "channel"

[metrics.stages]             # empty = from the stage preset
funnel = []                  # relationship: stranger, prospect, customer, fan
lead = ""                    # relationship: prospect
customers = []               # relationship: customer, fan
churned = []                 # relationship: churned

# -- predict: customer lifetime value (BG/NBD + Gamma-Gamma) ---------------------------------
[predict]
order_events = ["Order Completed"]
value_properties = ["revenue", "total"]   # first present; else sum of products[].price * quantity
time_unit = "week"            # "day" or "week": unit of recency, age T and the fitted rates
horizon_months = 12           # expected purchases and CLV over this many months
annual_discount_rate = 0.10   # discounted monthly at (1 + rate)^(1/12) - 1
margin = 1.0                  # share of order value that is profit (1.0: CLV in revenue)
exclude_classes = ["bot", "employee"]
min_customers = 20            # fewer buyers: no fit, a message says why
min_repeat_customers = 10     # fewer repeat buyers: no fit, a message says why

[predict.propensity]          # P(churn) of customers, P(purchase) of prospects
horizon_days = 90             # within this many days of the cut-off
cutoffs = 4                   # training cut-offs (the latest data are the held-out test)
cutoff_spacing_days = 30
min_positives = 50            # fewer churners or buyers to learn from: no model, a note says why
min_rows = 200
high_band = 0.5               # probability bands: high >= 0.5, medium >= 0.2, else low
medium_band = 0.2
reasons = 3                   # top contributing features told per contact
label_trait = ""              # a CRM trait with a yes/no outcome to train on, e.g. "churned"

[predict.recommend]           # cross-sell and up-sell per buyer, with their reasons
k = 3                         # suggestions per customer (and the k of the back-test)
min_co_buyers = 5             # customers who bought both, for a rule X -> Y to count
min_lift = 1.0                # a rule must beat the base rate by more than this factor
price_unit = "€"
opt_out_events = ["Unsubscribed"]     # the latest of these two lists decides
opt_in_events = ["Resubscribed"]
backtest_days = 90            # learn up to as-of minus this, judge on what was bought after
min_backtest_customers = 10
[predict.recommend.opt_out_traits]    # a contact with one of these trait values gets none
unsubscribed = "true"
marketing_opt_out = "true"
email_opt_in = "false"
"""
