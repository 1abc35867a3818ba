"""Quarantine: rejected records, kept verbatim with source, line and reason, and their retries.

Rejected records are appended to ``quarantine/`` (one Parquet file per landing chunk). A retry
runs them through the same landing path again, typically after a config change (a larger
size limit, fewer junk ids); the ones that land are recorded in a ``resolved-*`` file and no
longer listed. A record rejected again stays open with its new reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import pyarrow as pa

from clientela.engine import scratch_duckdb
from clientela.errors import NotFoundError
from clientela.ingest.files import LINES_SCHEMA, text_or_bytes
from clientela.ingest.lander import EventLander, LandingReport
from clientela.schema import QUARANTINE
from clientela.workspace import Workspace, new_segment_name

RESOLVED_PREFIX = "resolved-"


@dataclass(frozen=True)
class QuarantineFilter:
    """Which open records to look at."""

    reason: str | None = None
    source: str | None = None
    kind: str | None = None
    quarantine_id: str | None = None


def _open_records_sql(
    workspace: Workspace, flt: QuarantineFilter, columns: str = "*"
) -> tuple[str, list[Any]]:
    records = [
        str(p)
        for p in workspace.segments(workspace.quarantine_dir)
        if not p.name.startswith(RESOLVED_PREFIX)
    ]
    resolved = [str(p) for p in workspace.segments(workspace.quarantine_dir, RESOLVED_PREFIX)]
    if not records:
        return "", []
    params: list[Any] = [records]
    resolved_sql = "SELECT NULL::VARCHAR AS quarantine_id WHERE false"
    if resolved:
        resolved_sql = "SELECT quarantine_id FROM read_parquet(?)"
        params.append(resolved)
    where = ["quarantine_id NOT IN (SELECT quarantine_id FROM resolved)"]
    if flt.reason:
        where.append("reason = ?")
        params.append(flt.reason)
    if flt.source:
        where.append("contains(source, ?)")
        params.append(flt.source)
    if flt.kind:
        where.append("kind = ?")
        params.append(flt.kind)
    if flt.quarantine_id:
        where.append("starts_with(quarantine_id, ?)")
        params.append(flt.quarantine_id)
    sql = f"""
WITH everything AS (
    SELECT {columns} FROM read_parquet(?, union_by_name = true)
    QUALIFY row_number() OVER (PARTITION BY quarantine_id ORDER BY quarantined_at DESC) = 1
),
resolved AS ({resolved_sql})
SELECT * FROM everything WHERE {" AND ".join(where)}
ORDER BY source, line, item NULLS FIRST
"""
    return sql, params


_NO_RAW = "* EXCLUDE (raw)"


def open_records(workspace: Workspace, flt: QuarantineFilter | None = None) -> pa.Table:
    """Every open quarantined record matching the filter, in file order."""
    sql, params = _open_records_sql(workspace, flt or QuarantineFilter())
    con = scratch_duckdb()
    try:
        if not sql:
            return ibis.schema(QUARANTINE).to_pyarrow().empty_table()
        return con.execute(sql, params).to_arrow_table()
    finally:
        con.close()


def summary(
    workspace: Workspace, flt: QuarantineFilter | None = None
) -> list[tuple[str, str, int]]:
    """(kind, reason, count) of open records (matching the filter), largest count first;
    counted in the engine without reading the raw bytes."""
    sql, params = _open_records_sql(workspace, flt or QuarantineFilter(), _NO_RAW)
    if not sql:
        return []
    con = scratch_duckdb()
    try:
        rows = con.execute(
            f"SELECT kind, reason, count(*) AS n FROM ({sql}) GROUP BY ALL "
            "ORDER BY n DESC, kind, reason",
            params,
        ).fetchall()
    finally:
        con.close()
    return [(str(k), str(r), int(n)) for k, r, n in rows]


def page(workspace: Workspace, flt: QuarantineFilter, limit: int, offset: int = 0) -> pa.Table:
    """One page of the open records matching the filter, in file order, without their raw
    bytes (read one record with :func:`get` for those)."""
    sql, params = _open_records_sql(workspace, flt, _NO_RAW)
    if not sql:
        return ibis.schema(QUARANTINE).to_pyarrow().empty_table().drop_columns(["raw"])
    con = scratch_duckdb()
    try:
        return con.execute(f"{sql} LIMIT ? OFFSET ?", [*params, limit, offset]).to_arrow_table()
    finally:
        con.close()


def get(workspace: Workspace, quarantine_id: str) -> dict[str, Any]:
    """One open record by id (a unique prefix is enough)."""
    table = open_records(workspace, QuarantineFilter(quarantine_id=quarantine_id))
    if table.num_rows == 0:
        raise NotFoundError(f"no open quarantined record has an id starting with {quarantine_id!r}")
    if table.num_rows > 1:
        raise NotFoundError(
            f"{table.num_rows} open records have ids starting with {quarantine_id!r}; "
            "give more of the id"
        )
    return dict(table.to_pylist()[0])


@dataclass
class RetryReport:
    """What a retry did: ``retried`` and ``landing`` are about events; ``crm`` about the
    CRM rows of each kind when they were retried (``crm=True``); ``skipped_kinds`` counts
    the CRM rows left as they were."""

    retried: int
    landing: LandingReport
    skipped_kinds: dict[str, int]
    crm: dict[str, Any] = field(default_factory=dict)  # kind → crm.retry.CrmRetry


def retry(
    workspace: Workspace, flt: QuarantineFilter | None = None, *, crm: bool = False
) -> RetryReport:
    """Run open event records through landing again; mark the ones that land as resolved.

    With ``crm``, quarantined CRM rows are imported again too, with the current
    ``[import.*]`` settings (see :mod:`clientela.ingest.crm.retry`); without it they are
    counted in ``skipped_kinds``.
    """
    records = open_records(workspace, flt or QuarantineFilter())
    skipped: dict[str, int] = {}
    if records.num_rows == 0:
        return RetryReport(0, LandingReport(), skipped)
    rows = records.to_pylist()
    events = [r for r in rows if r["kind"] == "events"]
    outcomes: dict[str, Any] = {}
    for kind in ("contacts", "accounts"):
        of_kind = [r for r in rows if r["kind"] == kind]
        if of_kind and crm:
            from clientela.ingest.crm.retry import retry_rows

            outcome = retry_rows(workspace, kind, of_kind)
            _mark_resolved(workspace, kind, outcome.resolved)
            outcomes[kind] = outcome
            if outcome.not_retried:
                skipped[kind] = sum(outcome.not_retried.values())
        elif of_kind:
            skipped[kind] = len(of_kind)
    if not events:
        return RetryReport(0, LandingReport(), skipped, outcomes)
    texts, blobs = text_or_bytes(bytes(r["raw"] or b"") for r in events)
    lines = pa.table(
        [
            pa.array([r["source"] for r in events], pa.string()),
            pa.array([r["line"] for r in events], pa.int64()),
            pa.array([r["item"] for r in events], pa.int32()),
            texts,
            blobs,
        ],
        schema=LINES_SCHEMA,
    )
    lander = EventLander(workspace)
    try:
        report = lander.land(lines)
        # Rejected again: written by this retry's lander, so they carry its ingest id.
        still_open = {
            r["quarantine_id"]
            for r in open_records(workspace, QuarantineFilter(kind="events")).to_pylist()
            if r["ingest_id"] == lander.ingest_id
        }
    finally:
        lander.close()
    resolved = [r["quarantine_id"] for r in events if r["quarantine_id"] not in still_open]
    _mark_resolved(workspace, "events", resolved)
    return RetryReport(len(events), report, skipped, outcomes)


def _mark_resolved(workspace: Workspace, kind: str, resolved: list[str]) -> None:
    """Record that these open records landed: they are no longer listed."""
    if not resolved:
        return
    target = workspace.quarantine_dir / (RESOLVED_PREFIX + new_segment_name(kind))
    table = pa.table(
        {
            "quarantine_id": pa.array(resolved, pa.string()),
            "resolved_at": pa.array(
                [datetime.now(UTC)] * len(resolved), pa.timestamp("us", tz="UTC")
            ),
        }
    )
    con = scratch_duckdb()
    try:
        con.register("resolved_rows", table)
        with workspace.atomic_file(target) as tmp:
            con.execute(
                f"COPY resolved_rows TO '{str(tmp).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)"
            )
    finally:
        con.close()
