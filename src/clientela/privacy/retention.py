"""Retention of raw bytes: ``[privacy] keep_raw_days``.

With ``[ingest] keep_raw = true`` every accepted event keeps the record as it came (``raw``,
verbatim JSON text) next to its normalised columns, for explaining and replaying (by default
it keeps none, and there is nothing to drop). After ``keep_raw_days`` days (counted from
``received_at``, when it reached clientela) the raw text is dropped: each segment holding
older raw text is rewritten (atomically, like forget) with ``raw`` set to NULL on those rows.
Every other column, and every row, stays: counts, scores and history do not change.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clientela.engine import scratch_duckdb
from clientela.privacy.forget import LOCK_TIMEOUT
from clientela.privacy.store import (
    EVENTS_COPY_OPTIONS,
    audit,
    job_lock,
    landing_lock,
    path_sql,
)
from clientela.workspace import Workspace


@dataclass
class RetentionReport:
    """What one retention pass did."""

    keep_raw_days: int | None = None
    cutoff: datetime | None = None
    """raw text of events received before this was dropped (None: retention is off)"""
    rows: int = 0
    """events whose raw text was dropped"""
    files_rewritten: int = 0
    files_checked: int = 0
    seconds: float = 0.0


def apply_retention(
    workspace: Workspace,
    now: datetime | None = None,
    *,
    actor: str = "system",
    lock_timeout: float = LOCK_TIMEOUT,
) -> RetentionReport:
    """Drop the raw text of landed events received more than ``[privacy] keep_raw_days``
    days before ``now`` (default: the current time). Nothing happens when the setting is
    unset. Takes the same locks as forget (refuses while a job runs)."""
    started = time.perf_counter()
    days = workspace.settings.privacy.keep_raw_days
    report = RetentionReport(keep_raw_days=days)
    if days is None:
        return report
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    cutoff = moment - timedelta(days=days)
    report.cutoff = cutoff
    old = f"received_at < '{cutoff.isoformat()}'::TIMESTAMPTZ"
    settings = workspace.settings.engine
    con = scratch_duckdb(settings.threads, settings.memory_limit)
    try:
        with ExitStack() as stack:
            stack.enter_context(landing_lock(workspace, exclusive=True, timeout=lock_timeout))
            stack.enter_context(job_lock(workspace))
            for path in workspace.segments(workspace.events_dir):
                report.files_checked += 1
                source = f"read_parquet({path_sql(path)})"
                row = con.execute(
                    f"SELECT count(*) FROM {source} WHERE raw IS NOT NULL AND {old}"
                ).fetchone()
                count = int(row[0]) if row else 0
                if not count:
                    continue
                with workspace.atomic_file(path) as tmp:
                    con.execute(
                        f"COPY (SELECT * REPLACE (CASE WHEN {old} THEN NULL ELSE raw END AS raw) "
                        f"FROM {source}) TO {path_sql(tmp)} ({EVENTS_COPY_OPTIONS})"
                    )
                report.rows += count
                report.files_rewritten += 1
    finally:
        con.close()
    report.seconds = round(time.perf_counter() - started, 3)
    audit(
        workspace,
        {
            "operation": "retention",
            "actor": actor,
            "keep_raw_days": days,
            "cutoff": cutoff.isoformat(),
            "removed": {"events_raw": report.rows} if report.rows else {},
            "files_rewritten": report.files_rewritten,
            "seconds": report.seconds,
        },
    )
    return report
