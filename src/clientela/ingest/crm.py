"""CRM imports: contacts and accounts from CSV or Parquet, with a column mapping.

A CRM export loads without editing: ``[import.contacts]`` / ``[import.accounts]`` in
``clientela.toml`` (or flags) say which column holds the id, the email, the account and so on;
every other column becomes a trait under its snake_case name. A row that has no usable id
goes to quarantine with its file, row and reason; the rest of the file still lands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from clientela.config import AccountColumns, ContactColumns
from clientela.engine import scratch_duckdb
from clientela.errors import ConfigError, InputError
from clientela.privacy.store import landing_lock, load_tombstones
from clientela.workspace import Workspace, new_segment_name

Kind = Literal["contacts", "accounts"]


@dataclass
class ImportReport:
    """What one CRM import did."""

    rows: int = 0
    accepted: int = 0
    quarantined: int = 0
    forgotten: int = 0  # rows of people forgotten (clientela privacy forget): dropped
    reasons: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    traits: list[str] = field(default_factory=list)


def snake_case(name: str) -> str:
    """'Job Title' → 'job_title', 'AnnualRevenue' → 'annual_revenue'."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_ALIASES: dict[str, tuple[str, ...]] = {
    # Column names recognised without any mapping (compared in snake_case).
    "id": ("id", "user_id", "userid", "contact_id", "external_id", "account_id", "group_id"),
    "email": ("email", "email_address", "e_mail", "work_email"),
    "account_id": ("account_id", "company_id", "group_id", "organization_id"),
    "created_at": ("created_at", "created_date", "create_date", "created", "signup_date"),
    "name": ("name", "account_name", "company_name", "company"),
    "domain": ("domain", "website", "web_site", "url", "company_domain"),
}


def _pick(columns: list[str], wanted: str | None, role: str, kind: Kind) -> str | None:
    """The column for a role: the mapped one (which must exist), else a well-known name."""
    if wanted:
        if wanted not in columns:
            raise ConfigError(
                f"import.{kind}.{role}",
                wanted,
                "a column of the file; it has: " + ", ".join(columns),
            )
        return wanted
    by_snake = {snake_case(c): c for c in columns}
    candidates = _ALIASES[role]
    if kind == "contacts" and role == "id":
        candidates = tuple(c for c in candidates if c not in ("account_id", "group_id"))
    for alias in candidates:
        if alias in by_snake:
            return by_snake[alias]
    return None


def import_file(
    workspace: Workspace,
    kind: Kind,
    path: Path,
    mapping: ContactColumns | AccountColumns | None = None,
) -> ImportReport:
    """Land one CRM file as a new immutable segment of ``landed/<kind>/``."""
    if not path.is_file():
        raise InputError(path, "no such file")
    settings = workspace.settings.import_
    cols_cfg: ContactColumns | AccountColumns = mapping or (
        settings.contacts if kind == "contacts" else settings.accounts
    )
    con = scratch_duckdb()
    try:
        reader = _reader(path)
        try:
            con.execute(f"CREATE TABLE src AS SELECT * FROM {reader}")
        except Exception as exc:  # DuckDB raises its own error types for bad files
            raise InputError(path, f"cannot be read as CSV or Parquet: {exc}") from None
        con.execute(
            "CREATE TABLE rows AS SELECT row_number() OVER () + 1 AS _line, "
            "CAST(to_json(src) AS VARCHAR) AS _row_json, * FROM src"
        )
        columns = [r[0] for r in con.execute("DESCRIBE src").fetchall()]
        report = ImportReport()
        if kind == "contacts":
            assert isinstance(cols_cfg, ContactColumns)
            sql = _contacts_sql(columns, cols_cfg, report, path)
        else:
            assert isinstance(cols_cfg, AccountColumns)
            sql = _accounts_sql(columns, cols_cfg, report, path)
        now = datetime.now(UTC).isoformat()
        con.execute(f"CREATE TABLE out AS {sql.replace('$NOW', _lit(now))}")
        tombstones = load_tombstones(workspace) if kind == "contacts" else None
        if tombstones is not None:
            report.forgotten = tombstones.drop_from(con, "out", columns=("user_id", "email"))
        report.rows = _count(con, "SELECT count(*) FROM out")
        report.quarantined = _count(con, "SELECT count(*) FROM out WHERE _reason IS NOT NULL")
        report.accepted = report.rows - report.quarantined
        for reason, count in con.execute(
            "SELECT _reason, count(*) FROM out WHERE _reason IS NOT NULL GROUP BY 1"
        ).fetchall():
            report.reasons[reason] = count
        folder = workspace.contacts_dir if kind == "contacts" else workspace.accounts_dir
        with landing_lock(workspace, timeout=None):
            _write(con, workspace, kind, folder, report, now)
        return report
    finally:
        con.close()


def _write(
    con: Any, workspace: Workspace, kind: str, folder: Path, report: ImportReport, now: str
) -> None:
    """Write the accepted rows of ``out`` as a segment and the rejected ones to quarantine."""
    if report.accepted:
        target = folder / new_segment_name(kind)
        with workspace.atomic_file(target) as tmp:
            con.execute(
                "COPY (SELECT * EXCLUDE (_reason, _detail, _raw) FROM out "
                f"WHERE _reason IS NULL) TO {_lit(str(tmp))} (FORMAT parquet)"
            )
    if report.quarantined:
        target = workspace.quarantine_dir / new_segment_name(kind)
        with workspace.atomic_file(target) as tmp:
            con.execute(
                "COPY (SELECT md5(concat_ws('|', source, line, _raw)) AS quarantine_id, "
                f"{_lit(kind)} AS kind, source, line, NULL::INTEGER AS item, "
                "_reason AS reason, 'id' AS field, _detail AS detail, encode(_raw) AS raw, "
                f"{_lit(now)}::TIMESTAMPTZ AS quarantined_at, NULL AS ingest_id "
                f"FROM out WHERE _reason IS NOT NULL) TO {_lit(str(tmp))} (FORMAT parquet)"
            )


def _reader(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return f"read_parquet({_lit(str(path))})"
    # Every column as text: ids like "00123" must not become numbers.
    return f"read_csv({_lit(str(path))}, all_varchar = true, header = true)"


def _traits_sql(
    columns: list[str], used: set[str], explicit: dict[str, str], keep_unmapped: bool
) -> tuple[str, list[str]]:
    """A JSON object of the trait columns (empty values left out)."""
    for col in explicit:
        if col not in columns:
            raise ConfigError("import.traits", col, "a column of the file")
    names: dict[str, str] = {}
    for col in columns:
        if col in explicit:
            names[col] = explicit[col]
        elif keep_unmapped and col not in used:
            names[col] = snake_case(col)
    if not names:
        return "NULL::VARCHAR", []
    pairs = ", ".join(
        f"{_lit(trait)}, nullif(trim({_q(col)}::VARCHAR), '')" for col, trait in names.items()
    )
    # json_object keeps nulls; drop them so a blank CRM cell never overwrites a known trait.
    return (
        f"CAST(json_object({pairs}) AS VARCHAR)",
        sorted(names.values()),
    )


def _contacts_sql(columns: list[str], cfg: ContactColumns, report: ImportReport, path: Path) -> str:
    id_col = _pick(columns, cfg.id, "id", "contacts")
    email_col = _pick(columns, cfg.email, "email", "contacts")
    account_col = _pick(columns, cfg.account_id, "account_id", "contacts")
    created_col = _pick(columns, cfg.created_at, "created_at", "contacts")
    if id_col is None and email_col is None:
        raise ConfigError(
            "import.contacts.id",
            None,
            "a column holding the contact id or the email (set import.contacts.id or .email, "
            "or --id/--email); the file has: " + ", ".join(columns),
        )
    mapped = {c for c in (id_col, email_col, account_col, created_col) if c}
    report.columns = {
        k: v
        for k, v in {
            "id": id_col,
            "email": email_col,
            "account_id": account_col,
            "created_at": created_col,
        }.items()
        if v
    }
    traits, report.traits = _traits_sql(columns, mapped, cfg.traits, cfg.keep_unmapped)
    uid = f"nullif(trim({_q(id_col)}::VARCHAR), '')" if id_col else "NULL::VARCHAR"
    email = (
        f"CASE WHEN contains({_q(email_col)}::VARCHAR, '@') "
        f"THEN lower(trim({_q(email_col)}::VARCHAR)) END"
        if email_col
        else "NULL::VARCHAR"
    )
    account = f"nullif(trim({_q(account_col)}::VARCHAR), '')" if account_col else "NULL::VARCHAR"
    created = f"try_cast({_q(created_col)} AS TIMESTAMPTZ)" if created_col else "NULL::TIMESTAMPTZ"
    return f"""
SELECT {uid} AS user_id, {email} AS email, {account} AS account_id, {created} AS created_at,
    {traits} AS traits, {_lit(str(path))} AS source, _line AS line,
    $NOW::TIMESTAMPTZ AS imported_at,
    CASE WHEN {uid} IS NULL AND {email} IS NULL THEN 'missing_id' END AS _reason,
    'row has neither a contact id nor a valid email' AS _detail,
    _row_json AS _raw
FROM rows
"""


def _accounts_sql(columns: list[str], cfg: AccountColumns, report: ImportReport, path: Path) -> str:
    id_col = _pick(columns, cfg.id, "id", "accounts")
    name_col = _pick(columns, cfg.name, "name", "accounts")
    domain_col = _pick(columns, cfg.domain, "domain", "accounts")
    if id_col is None:
        raise ConfigError(
            "import.accounts.id",
            None,
            "a column holding the account id (set import.accounts.id or --id); "
            "the file has: " + ", ".join(columns),
        )
    mapped = {c for c in (id_col, name_col, domain_col) if c}
    report.columns = {
        k: v for k, v in {"id": id_col, "name": name_col, "domain": domain_col}.items() if v
    }
    traits, report.traits = _traits_sql(columns, mapped, cfg.traits, cfg.keep_unmapped)
    aid = f"nullif(trim({_q(id_col)}::VARCHAR), '')"
    name = f"nullif(trim({_q(name_col)}::VARCHAR), '')" if name_col else "NULL::VARCHAR"
    domain = domain_sql(f"{_q(domain_col)}::VARCHAR") if domain_col else "NULL::VARCHAR"
    return f"""
SELECT {aid} AS account_id, {name} AS name, {domain} AS domain, {traits} AS traits,
    {_lit(str(path))} AS source, _line AS line, $NOW::TIMESTAMPTZ AS imported_at,
    CASE WHEN {aid} IS NULL THEN 'missing_id' END AS _reason,
    'row has no account id' AS _detail,
    _row_json AS _raw
FROM rows
"""


def domain_sql(expr: str) -> str:
    """SQL: a web address reduced to its bare domain ('https://www.Acme.io/x' → 'acme.io')."""
    return (
        f"nullif(regexp_replace(regexp_replace(lower(trim({expr})), "
        f"'^([a-z]+://)?(www\\.)?', ''), '[/:?#].*$', ''), '')"
    )


def _count(con: Any, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
