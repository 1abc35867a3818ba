"""Settings of the activation parts: ``[segments.NAME]``, ``[playbook]``, ``[policy]``,
``[loyalty]`` and ``[destinations.NAME]`` in ``clientela.toml``. Each part owns its section
below; :func:`property_keys` tells the job which event properties they read."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

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


class LoyaltySettings(_Section):
    """The loyalty and referral programmes (``[loyalty]``)."""


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
