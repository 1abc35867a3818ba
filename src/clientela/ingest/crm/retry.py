"""Retrying quarantined CRM rows (``clientela quarantine retry``) after a settings change.

A row that was read into columns (quarantined as ``missing_id`` or ``bad_date``) is kept as a
JSON object of its columns; a retry runs those objects through the same import path with the
current ``[import.contacts]`` / ``[import.accounts]`` settings (a new ``id`` column, a
``date_format``), and the rows that now pass land. Rows that never became columns
(``wrong_field_count``, ``malformed_row``) need the file fixed and imported again; a
``duplicate_id`` row lost to a newer row of the same id and is not landed over it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from clientela.engine import scratch_duckdb
from clientela.ingest.crm.columns import Kind
from clientela.ingest.crm.importer import ImportReport, land_rows
from clientela.workspace import Workspace

NOT_RETRIED = frozenset({"wrong_field_count", "malformed_row", "duplicate_id"})


@dataclass
class CrmRetry:
    """What a retry of one kind's rows did."""

    retried: int = 0
    landed: int = 0
    still_rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # of the rows still rejected
    not_retried: dict[str, int] = field(default_factory=dict)  # reason → rows left as they are
    resolved: list[str] = field(default_factory=list)  # quarantine ids of the rows that landed


def _row(raw: bytes | None) -> dict[str, Any] | None:
    try:
        value = json.loads(bytes(raw or b"").decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def retry_rows(workspace: Workspace, kind: Kind, records: list[dict[str, Any]]) -> CrmRetry:
    """Import the open quarantined rows ``records`` (of ``kind``) again with today's settings;
    the ones that land are listed in ``resolved`` (the caller marks them resolved)."""
    outcome = CrmRetry()
    todo: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for record in records:
        row = None if record["reason"] in NOT_RETRIED else _row(record["raw"])
        if row is None:
            reason = str(record["reason"])
            outcome.not_retried[reason] = outcome.not_retried.get(reason, 0) + 1
        else:
            todo.append((record, row))
    if not todo:
        return outcome
    columns: dict[str, None] = {}
    for _, row in todo:
        columns.update(dict.fromkeys(row))
    table = pa.table(
        {
            "_line": pa.array([r["line"] for r, _ in todo], pa.int64()),
            "_source": pa.array([r["source"] for r, _ in todo], pa.string()),
            "_qid": pa.array([r["quarantine_id"] for r, _ in todo], pa.string()),
            "_row_json": pa.array(
                [bytes(r["raw"] or b"").decode("utf-8") for r, _ in todo], pa.string()
            ),
            **{
                col: pa.array([_text(row.get(col)) for _, row in todo], pa.string())
                for col in columns
            },
        }
    )
    settings = workspace.settings.import_
    cfg = settings.contacts if kind == "contacts" else settings.accounts
    con = scratch_duckdb()
    try:
        con.register("retried_rows", table)
        con.execute("CREATE TABLE rows AS SELECT * FROM retried_rows")
        con.unregister("retried_rows")
        report = ImportReport(source="(quarantine retry)")
        land_rows(con, workspace, kind, list(columns), cfg, report, [])
        outcome.resolved = [
            str(q) for (q,) in con.execute("SELECT _qid FROM out WHERE _reason IS NULL").fetchall()
        ]
    finally:
        con.close()
    outcome.retried = len(todo)
    outcome.landed = report.accepted
    outcome.still_rejected = report.quarantined
    outcome.reasons = dict(report.reasons)
    return outcome
