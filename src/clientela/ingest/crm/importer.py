"""One CRM file in: read, map columns to roles, check every row, settle duplicate ids, land.

Duplicate ids within a file: the rows that share a contact id (or, with no id, an email) or an
account id are one record told several times. Exactly one of them lands, whole: the newest by
the modified-at column when the file has one (mapped, or recognised such as 'Last Modified
Date', 'LastModifiedDate', 'Fecha de modificación'), else the last row of the file (a row
without a modified date counts as older than one with it, and between equals the later row
wins). The others go to quarantine as ``duplicate_id``, naming the line that was kept, and are
counted in the report: no row lends fields to another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from clientela.config import AccountColumns, ContactColumns
from clientela.engine import scratch_duckdb
from clientela.errors import ConfigError, InputError
from clientela.ingest.crm.columns import Kind, pick, roles, trait_names
from clientela.ingest.crm.dates import DatePlan, plan
from clientela.ingest.crm.read import (
    RESERVED,
    Rejected,
    delimiter_option,
    encoding_option,
    read_csv,
)
from clientela.privacy.store import landing_lock, load_tombstones
from clientela.schema import ACCOUNTS, CONTACTS
from clientela.workspace import Workspace, new_segment_name

SAMPLE_ROWS = 20  # rejected rows and duplicate ids listed in a report


@dataclass
class RejectedRow:
    """A row that is (or, in a dry run, would be) quarantined."""

    line: int
    reason: str
    field: str | None
    detail: str


@dataclass
class ImportReport:
    """What one CRM import did (or, with ``dry_run``, would do)."""

    rows: int = 0
    accepted: int = 0
    quarantined: int = 0
    forgotten: int = 0  # rows of people forgotten (clientela privacy forget): dropped
    reasons: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # role → column
    traits: list[str] = field(default_factory=list)  # trait names, sorted
    trait_columns: dict[str, str] = field(default_factory=dict)  # column → trait name
    source: str = ""
    encoding: str | None = None  # CSV only
    delimiter: str | None = None  # CSV only
    blank: int = 0  # blank lines skipped
    dates: dict[str, str] = field(default_factory=dict)  # column → how its dates are read
    duplicates: dict[str, int] = field(default_factory=dict)  # id → rows (first SAMPLE_ROWS)
    duplicate_ids: int = 0  # ids on more than one row
    duplicate_rule: str = ""
    rejected: list[RejectedRow] = field(default_factory=list)  # first SAMPLE_ROWS, file order
    dry_run: bool = False


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text(col: str | None) -> str:
    return f"nullif(trim({_q(col)}), '')" if col else "NULL::VARCHAR"


def import_file(
    workspace: Workspace,
    kind: Kind,
    path: Path,
    mapping: ContactColumns | AccountColumns | None = None,
    *,
    dry_run: bool = False,
    on_plan: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Land one CRM file as a new immutable segment of ``landed/<kind>/`` (its rejected rows
    in ``quarantine/``). ``on_plan`` sees the mapping and the counts before anything is
    written; with ``dry_run`` nothing is."""
    if not path.is_file():
        raise InputError(path, "no such file")
    settings = workspace.settings.import_
    cfg: ContactColumns | AccountColumns = mapping or (
        settings.contacts if kind == "contacts" else settings.accounts
    )
    con = scratch_duckdb()
    try:
        report = ImportReport(source=str(path), dry_run=dry_run)
        columns, rejected = _load(con, path, cfg, report)
        land_rows(con, workspace, kind, columns, cfg, report, rejected, on_plan)
        return report
    finally:
        con.close()


def land_rows(
    con: Any,
    workspace: Workspace,
    kind: Kind,
    columns: list[str],
    cfg: ContactColumns | AccountColumns,
    report: ImportReport,
    rejected: list[Rejected],
    on_plan: Callable[[ImportReport], None] | None = None,
) -> None:
    """From table ``rows`` (see :func:`_load`) to a landed segment and quarantined rows."""
    dates = _map(con, kind, columns, cfg, report)
    _check(con, kind, columns, dates, report)
    _settle_duplicates(con, report)
    now = datetime.now(UTC).isoformat()
    con.execute(_out_sql(kind, columns, now))
    _add_rejected(con, rejected, report.source)
    tombstones = load_tombstones(workspace) if kind == "contacts" else None
    if tombstones is not None:
        loose = _loose_fields(con)
        report.forgotten = tombstones.drop_from(con, "out", columns=("user_id", "email", *loose))
    _count(con, report)
    if on_plan is not None:
        on_plan(report)
    if report.dry_run:
        return
    folder = workspace.contacts_dir if kind == "contacts" else workspace.accounts_dir
    with landing_lock(workspace, timeout=None):
        _write(con, workspace, kind, folder, report, now)


def _load(
    con: Any, path: Path, cfg: ContactColumns | AccountColumns, report: ImportReport
) -> tuple[list[str], list[Rejected]]:
    """Table ``rows``: ``_line``, ``_source``, ``_qid`` (the quarantine id of a retried row),
    ``_row_json`` (NULL here: the row as a JSON object is made for quarantined rows only) and
    every column of the file as text."""
    rejected: list[Rejected] = []
    if path.name.lower().endswith(".parquet"):
        try:
            con.execute(f"CREATE TABLE src AS SELECT * FROM read_parquet({_lit(str(path))})")
        except Exception as exc:  # DuckDB raises its own error types for bad files
            raise InputError(path, f"cannot be read as Parquet: {exc}") from None
        columns = [str(r[0]) for r in con.execute("DESCRIBE src").fetchall()]
        as_text = ", ".join(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" for c in columns)
        con.execute(
            f"CREATE TABLE parsed AS SELECT row_number() OVER () + 1 AS _line, {as_text} FROM src"
        )
    else:
        parsed = read_csv(path, delimiter_option(cfg.delimiter), encoding_option(cfg.encoding))
        columns, rejected = parsed.columns, parsed.rejected
        report.encoding, report.delimiter, report.blank = (
            parsed.encoding,
            parsed.delimiter,
            parsed.blank,
        )
        con.register("parsed_arrow", parsed.table)
        con.execute("CREATE TABLE parsed AS SELECT * FROM parsed_arrow")
        con.unregister("parsed_arrow")
    clash = RESERVED.intersection(columns)
    if clash:
        raise InputError(path, f"has a column named {sorted(clash)[0]!r}, a name clientela uses")
    con.execute(
        f"CREATE TABLE rows AS SELECT _line, {_lit(str(path))} AS _source, "
        "NULL::VARCHAR AS _qid, NULL::VARCHAR AS _row_json, * EXCLUDE (_line) "
        "FROM parsed ORDER BY _line"
    )
    con.execute("DROP TABLE parsed")
    return columns, rejected


def _map(
    con: Any,
    kind: Kind,
    columns: list[str],
    cfg: ContactColumns | AccountColumns,
    report: ImportReport,
) -> dict[str, DatePlan]:
    """report.columns (role → column), report.trait_columns and report.dates; returns how
    each date role is read."""
    taken: set[str] = set()
    for role in roles(kind):
        col = pick(columns, getattr(cfg, role), role, kind, taken)
        if col:
            report.columns[role] = col
            taken.add(col)
    if "id" not in report.columns and (kind == "accounts" or "email" not in report.columns):
        what = "the contact id or the email" if kind == "contacts" else "the account id"
        flags = "--id/--email" if kind == "contacts" else "--id"
        raise ConfigError(
            f"import.{kind}.id",
            None,
            f"a column holding {what} (set import.{kind}.id or {flags}); "
            "the file has: " + ", ".join(columns),
        )
    for col in cfg.traits:
        if col not in columns:
            raise ConfigError(f"import.{kind}.traits", col, "a column of the file")
    unmapped = [c for c in columns if c not in taken and c not in cfg.traits]
    names = trait_names(unmapped, set(cfg.traits.values())) if cfg.keep_unmapped else {}
    report.trait_columns = {
        c: cfg.traits.get(c) or names[c] for c in columns if c in cfg.traits or c in names
    }
    report.traits = sorted(report.trait_columns.values())
    dates: dict[str, DatePlan] = {}
    for role in ("created_at", "modified_at"):
        if role in report.columns:
            col = report.columns[role]
            dates[role] = reading = plan(con, "rows", col, cfg.date_format)
            report.dates[col] = reading.how + (f" ({reading.note})" if reading.note else "")
    return dates


def _check(
    con: Any, kind: Kind, columns: list[str], dates: dict[str, DatePlan], report: ImportReport
) -> None:
    """Table ``base``: the landed columns, ``_key``, ``_modified``, the first problem of each
    row (``_reason``, ``_field``, ``_detail``; NULL when it has none) and the file's columns."""
    cols = report.columns
    pairs = ", ".join(f"{_lit(t)}, {_text(c)}" for c, t in report.trait_columns.items())
    # A blank cell is a JSON null, which profiles skip: it never overwrites a known trait.
    traits = f"CAST(json_object({pairs}) AS VARCHAR)" if pairs else "NULL::VARCHAR"
    problems: list[tuple[str, str, str, str]] = []  # (condition, reason, column, detail sql)
    if kind == "contacts":
        uid = _text(cols.get("id"))
        email = (
            f"CASE WHEN contains({_text(cols['email'])}, '@') "
            f"THEN lower({_text(cols['email'])}) END"
            if "email" in cols
            else "NULL::VARCHAR"
        )
        fields = (
            f"{uid} AS user_id, {email} AS email, {_text(cols.get('account_id'))} AS account_id, "
            "_created AS created_at"
        )
        key = f"coalesce({uid}, {email})"
        problems.append(
            (f"{uid} IS NULL AND {email} IS NULL", "missing_id", cols.get("id") or cols["email"],
             _lit("row has neither a contact id nor a valid email"))
        )  # fmt: skip
    else:
        aid = _text(cols["id"])
        domain = domain_sql(_q(cols["domain"])) if "domain" in cols else "NULL::VARCHAR"
        fields = f"{aid} AS account_id, {_text(cols.get('name'))} AS name, {domain} AS domain"
        key = aid
        problems.append((f"{aid} IS NULL", "missing_id", cols["id"], _lit("row has no account id")))
    parsed = {"created_at": "_created", "modified_at": "_modified"}
    for role, reading in dates.items():
        col = cols[role]
        head = f"{col!r} ({role}): '"
        tail = f"' is not a date (read as {reading.how}; give its format with --date-format)"
        problems.append(
            (
                f"{_text(col)} IS NOT NULL AND {parsed[role]} IS NULL",
                "bad_date",
                col,
                f"{_lit(head)} || {_text(col)} || {_lit(tail)}",
            )
        )

    def case(pick: Callable[[tuple[str, str, str, str]], str]) -> str:
        return "CASE " + " ".join(f"WHEN {p[0]} THEN {pick(p)}" for p in problems) + " END"

    # Each date is parsed once (DuckDB tries the formats in turn), then only tested.
    con.execute(
        f"CREATE TABLE dated AS SELECT *, {_sql(dates.get('created_at'))} AS _created, "
        f"{_sql(dates.get('modified_at'))} AS _modified FROM rows"
    )
    file_columns = ", ".join(f"{_q(c)} AS _c{i}" for i, c in enumerate(columns))
    con.execute(
        f"CREATE TABLE base AS SELECT {fields}, {traits} AS traits, _source AS source, "
        f"_line AS line, _qid, {key} AS _key, _modified, "
        f"{case(lambda p: _lit(p[1]))} AS _reason, {case(lambda p: _lit(p[2]))} AS _field, "
        f"{case(lambda p: p[3])} AS _detail, _row_json, {file_columns} FROM dated"
    )
    con.execute("DROP TABLE dated")


def _sql(reading: DatePlan | None) -> str:
    return reading.sql if reading else "NULL::TIMESTAMPTZ"


def _settle_duplicates(con: Any, report: ImportReport) -> None:
    """Mark all but one row of each duplicate id ``duplicate_id`` (see the module docstring)."""
    modified = report.columns.get("modified_at")
    report.duplicate_rule = (
        f"the newest by {modified!r} wins (then the last row)" if modified else "the last row wins"
    )
    dups = con.execute(
        "SELECT _key, count(*) AS n FROM base WHERE _reason IS NULL AND _key IS NOT NULL "
        "GROUP BY source, _key HAVING n > 1 ORDER BY min(source), min(line)"
    ).fetchall()
    report.duplicate_ids = len(dups)
    report.duplicates = {str(k): int(n) for k, n in dups[:SAMPLE_ROWS]}
    if not dups:
        return
    id_col = report.columns.get("id") or report.columns.get("email") or "id"
    why = _lit(
        f", which is kept (the newest by {modified!r})"
        if modified
        else ", which is kept (the last row with it)"
    )
    con.execute(
        f"""
UPDATE base SET _reason = 'duplicate_id', _field = {_lit(id_col)},
    _detail = 'id ''' || d._key || ''' is also on line ' || d.kept || {why}
FROM (
    SELECT source AS s, line AS l, _key, first_value(line) OVER (
        PARTITION BY source, _key ORDER BY _modified DESC NULLS LAST, line DESC) AS kept
    FROM base WHERE _reason IS NULL AND _key IS NOT NULL
) d
WHERE base.source = d.s AND base.line = d.l AND d.kept <> d.l
"""
    )


def _out_sql(kind: Kind, columns: list[str], now: str) -> str:
    pairs = ", ".join(f"{_q(c)} := _c{i}" for i, c in enumerate(columns))
    landed = (
        "user_id, email, account_id, created_at"
        if kind == "contacts"
        else "account_id, name, domain"
    )
    return (
        f"CREATE TABLE out AS SELECT {landed}, traits, source, line, "
        f"{_lit(now)}::TIMESTAMPTZ AS imported_at, _reason, _field, _detail, "
        "CASE WHEN _reason IS NOT NULL THEN coalesce(_row_json, "
        f"CAST(to_json(struct_pack({pairs})) AS VARCHAR)) END AS _raw, _qid, "
        "NULL::VARCHAR[] AS _fields FROM base ORDER BY source, line"
    )


def _add_rejected(con: Any, rejected: list[Rejected], source: str) -> None:
    """Rows the CSV reader set aside join ``out`` with their reason (no column is read)."""
    if not rejected:
        return
    table = pa.table(
        {
            "line": pa.array([r.line for r in rejected], pa.int64()),
            "_reason": pa.array([r.reason for r in rejected], pa.string()),
            "_detail": pa.array([r.detail for r in rejected], pa.string()),
            "_raw": pa.array([r.raw for r in rejected], pa.string()),
            "_fields": pa.array([r.fields for r in rejected], pa.list_(pa.string())),
        }
    )
    con.register("rejected_rows", table)
    con.execute(
        "INSERT INTO out BY NAME SELECT line, _reason, NULL AS _field, _detail, _raw, _fields, "
        f"{_lit(source)} AS source FROM rejected_rows"
    )
    con.unregister("rejected_rows")


def _loose_fields(con: Any) -> list[str]:
    """Columns ``_f1``, ``_f2``... of ``out`` holding the fields of the rows the CSV reader set
    aside (no column of theirs was read), so that a forgotten person's id or email in a
    broken row is found too and the row dropped, not kept in quarantine."""
    row = con.execute("SELECT max(len(_fields)) FROM out").fetchone()
    width = min(int(row[0] or 0), 1_000) if row else 0
    names = [f"_f{i}" for i in range(1, width + 1)]
    for i, name in enumerate(names, start=1):
        con.execute(f"ALTER TABLE out ADD COLUMN {name} VARCHAR")
        con.execute(f"UPDATE out SET {name} = _fields[{i}] WHERE _fields IS NOT NULL")
    return names


def _count(con: Any, report: ImportReport) -> None:
    row = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE _reason IS NOT NULL) FROM out"
    ).fetchone()
    report.rows, report.quarantined = (int(row[0]), int(row[1])) if row else (0, 0)
    report.accepted = report.rows - report.quarantined
    for reason, n in con.execute(
        "SELECT _reason, count(*) FROM out WHERE _reason IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).fetchall():
        report.reasons[str(reason)] = int(n)
    report.rejected = [
        RejectedRow(int(line), str(reason), f, str(detail))
        for line, reason, f, detail in con.execute(
            "SELECT line, _reason, _field, _detail FROM out WHERE _reason IS NOT NULL "
            f"ORDER BY source, line LIMIT {SAMPLE_ROWS}"
        ).fetchall()
    ]


def _write(
    con: Any, workspace: Workspace, kind: str, folder: Path, report: ImportReport, now: str
) -> None:
    """Write the accepted rows of ``out`` as a segment and the rejected ones to quarantine."""
    landed = ", ".join(CONTACTS if kind == "contacts" else ACCOUNTS)
    if report.accepted:
        target = folder / new_segment_name(kind)
        with workspace.atomic_file(target) as tmp:
            con.execute(
                f"COPY (SELECT {landed} FROM out WHERE _reason IS NULL ORDER BY source, line) "
                f"TO {_lit(str(tmp))} (FORMAT parquet)"
            )
    if report.quarantined:
        target = workspace.quarantine_dir / new_segment_name(kind)
        with workspace.atomic_file(target) as tmp:
            con.execute(
                "COPY (SELECT coalesce(_qid, md5(concat_ws('|', source, line, _raw))) "
                "AS quarantine_id, "
                f"{_lit(kind)} AS kind, source, line, NULL::INTEGER AS item, "
                "_reason AS reason, _field AS field, _detail AS detail, encode(_raw) AS raw, "
                f"{_lit(now)}::TIMESTAMPTZ AS quarantined_at, NULL AS ingest_id "
                f"FROM out WHERE _reason IS NOT NULL ORDER BY source, line) TO {_lit(str(tmp))} "
                "(FORMAT parquet)"
            )


def domain_sql(expr: str) -> str:
    """SQL: a web address reduced to its bare domain ('https://www.Acme.io/x' → 'acme.io')."""
    return (
        f"nullif(regexp_replace(regexp_replace(lower(trim({expr})), "
        f"'^([a-z]+://)?(www\\.)?', ''), '[/:?#].*$', ''), '')"
    )
