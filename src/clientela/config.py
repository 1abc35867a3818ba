"""Workspace settings, read from ``clientela.toml`` and validated with pydantic.

Every setting has a default, so an empty file is a valid workspace. A wrong setting raises
:class:`~clientela.errors.ConfigError` naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clientela.errors import ConfigError

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
    spark: SparkSettings = Field(default_factory=SparkSettings)


class IngestSettings(_Section):
    """Limits and sizes for landing events (the limits are Segment's)."""

    max_event_bytes: int = Field(default=32 * 1024, gt=0)
    max_batch_bytes: int = Field(default=500 * 1024, gt=0)
    max_batch_events: int = Field(default=2500, gt=0)
    chunk_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)


class IdentitySettings(_Section):
    """Identity resolution policy."""

    junk_ids: list[str] = Field(default_factory=list)
    merge_identified_on_email: bool = False
    force_merge: list[list[str]] = Field(default_factory=list)

    def all_junk_ids(self) -> list[str]:
        """Built-in junk ids plus the workspace's own, normalised for comparison."""
        return sorted({*BUILTIN_JUNK_IDS, *(j.strip().lower() for j in self.junk_ids)})


class ContactColumns(_Section):
    """Which CRM columns hold the contact's id, email, account and creation date."""

    id: str | None = None
    email: str | None = None
    account_id: str | None = None
    created_at: str | None = None
    traits: dict[str, str] = Field(default_factory=dict)
    keep_unmapped: bool = True


class AccountColumns(_Section):
    """Which CRM columns hold the account's id, name and web domain."""

    id: str | None = None
    name: str | None = None
    domain: str | None = None
    traits: dict[str, str] = Field(default_factory=dict)
    keep_unmapped: bool = True


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


class Settings(_Section):
    """All of a workspace's settings."""

    engine: EngineSettings = Field(default_factory=EngineSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    import_: ImportSettings = Field(default_factory=ImportSettings, alias="import")
    report: ReportSettings = Field(default_factory=ReportSettings)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
memory_limit = ""      # e.g. "4GB"; empty = DuckDB's default (80% of RAM)

[engine.spark]
master = "local[*]"    # or "spark://host:7077", "yarn", ...
app_name = "clientela"

[engine.spark.conf]
# "spark.driver.memory" = "4g"

[ingest]
# Segment's limits: a larger event or batch goes to quarantine with its reason.
max_event_bytes = 32768
max_batch_bytes = 512000
max_batch_events = 2500
# How much input is landed as one segment file.
chunk_bytes = 67108864

[identity]
# Ids never treated as a person's id, on top of the built-in list (null, undefined, 0, ...).
junk_ids = []
# Two different userIds with the same email stay two contacts unless this is true.
merge_identified_on_email = false
# Groups of userIds that are one person, e.g. [["u_1", "u_2"]].
force_merge = []

[import.contacts]
# Which CRM columns hold what. Unmapped columns become traits (snake_case names).
# id = "Contact ID"
# email = "Email Address"
# account_id = "Account ID"
# created_at = "Created Date"
keep_unmapped = true

[import.contacts.traits]
# "Job Title" = "title"

[import.accounts]
# id = "Account ID"
# name = "Account Name"
# domain = "Website"
keep_unmapped = true

[report]
timezone = "UTC"
"""
