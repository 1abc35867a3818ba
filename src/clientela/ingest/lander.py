"""Land normalised events as whole, immutable Parquet segments; rejected records to quarantine.

A :class:`EventLander` takes chunks of text lines (from files, from quarantine retries, and later
from the HTTP log), normalises them with :mod:`clientela.ingest.segment`, drops records whose
``messageId`` is already landed, and writes one events segment and one quarantine segment per
chunk, each by write-then-rename. A crash therefore leaves whole segments only; running the same
ingest again lands what is missing and nothing twice.
"""

from __future__ import annotations

import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pyarrow as pa

from clientela import schema
from clientela.engine import scratch_duckdb
from clientela.engine.faults import engine_errors, is_record_fault
from clientela.ingest.segment import (
    BLANK,
    ENVELOPE,
    Limits,
    TimeWindow,
    envelope_items_sql,
    normalise_statements,
)
from clientela.privacy.store import landing_lock, load_tombstones
from clientela.workspace import Workspace, new_segment_name

# What a record says, for telling a retry (same content; its sentAt and receivedAt may differ)
# from another record that reuses a messageId. Normalised columns, so it reads the same from
# a chunk and from landed segments.
_FINGERPRINT = (
    "md5(json_array(type, event, name, user_id, anonymous_id, previous_id, group_id, "
    "original_timestamp::VARCHAR, properties, traits, context)::VARCHAR)"
)

# Columns of an events segment, in order (schema.EVENTS with the ingest id last).
_EVENT_COLUMNS = ", ".join(f'"{c}"' for c in schema.EVENTS if c != "ingest_id")


@dataclass
class LandingReport:
    """What one landing run did."""

    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    blank: int = 0
    forgotten: int = 0  # records of people forgotten (clientela privacy forget): dropped
    reasons: Counter[str] = field(default_factory=Counter)
    segments: list[Path] = field(default_factory=list)

    def add(self, other: LandingReport) -> None:
        """Fold another report into this one."""
        self.lines += other.lines
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.blank += other.blank
        self.forgotten += other.forgotten
        self.reasons.update(other.reasons)
        self.segments.extend(other.segments)


class EventLander:
    """Lands chunks of lines into a workspace. Open one per ingest run; it is not thread-safe."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        settings = workspace.settings
        self.limits = Limits(
            max_event_bytes=settings.ingest.max_event_bytes,
            max_batch_bytes=settings.ingest.max_batch_bytes,
            max_batch_events=settings.ingest.max_batch_events,
        )
        self.window = TimeWindow(
            earliest=datetime.combine(settings.ingest.earliest, time(), UTC),
            latest=datetime.combine(settings.ingest.latest, time(), UTC),
        )
        self.junk_ids = settings.identity.all_junk_ids()
        # The raw line is written only with [ingest] keep_raw; the column stays, empty.
        self.event_columns = (
            _EVENT_COLUMNS
            if settings.ingest.keep_raw
            else _EVENT_COLUMNS.replace('"raw"', 'NULL::VARCHAR AS "raw"')
        )
        self.ingest_id = uuid.uuid4().hex
        self.con: Any = scratch_duckdb(settings.engine.threads, settings.engine.memory_limit)
        # Shared with other landers; forget and retention take it alone while they rewrite.
        self._landing = ExitStack()
        self._landing.enter_context(landing_lock(workspace, timeout=None))
        self.tombstones = load_tombstones(workspace)  # None when nobody was forgotten
        workspace.clean_tmp()
        self._load_seen()

    def _load_seen(self) -> None:
        """Hashes of every landed messageId: the fast first test of "already landed"."""
        files = self.workspace.segments(self.workspace.events_dir)
        if files:
            self.con.execute(
                "CREATE TABLE seen AS SELECT message_hash AS h FROM read_parquet(?)",
                [[str(f) for f in files]],
            )
        else:
            self.con.execute("CREATE TABLE seen (h BIGINT)")

    def close(self) -> None:
        """Release the scratch database and the landing lock."""
        self.con.close()
        self._landing.close()

    def land(self, lines: pa.Table) -> LandingReport:
        """Land one chunk: columns ``source`` (string), ``line`` (int64), ``item`` (int32 or
        null: the position in a batch, for retried batch items), ``raw`` (string or null) and
        ``bad_bytes`` (binary, set when the line is not UTF-8)."""
        report = LandingReport(lines=lines.num_rows)
        con = self.con
        # Many small record batches let DuckDB parse on every core at once.
        con.register("lines_in", pa.Table.from_batches(lines.to_batches(max_chunksize=32_768)))
        now = datetime.now(UTC).isoformat()
        self._normalise("lines_in", "norm", now)
        if _scalar(con, f"SELECT count(*) FROM norm WHERE reason = '{ENVELOPE}'"):
            con.execute(f"CREATE OR REPLACE TEMP TABLE batch_items AS {envelope_items_sql('norm')}")
            self._normalise("batch_items", "norm_items", now, in_batch=True)
            con.execute("INSERT INTO norm BY NAME SELECT * FROM norm_items")
            con.execute(f"DELETE FROM norm WHERE reason = '{ENVELOPE}'")
            con.execute("DROP TABLE batch_items; DROP TABLE norm_items")
        if self.tombstones is not None:
            # A forgotten person's records never land again, nor reach quarantine.
            report.forgotten = self.tombstones.drop_from(con, "norm", raw_bytes="raw_bytes")
        report.blank = _scalar(con, f"SELECT count(*) FROM norm WHERE reason = '{BLANK}'")
        self._land_accepted(report)
        self._quarantine(report, now)
        con.unregister("lines_in")
        con.execute("DROP TABLE IF EXISTS norm")
        return report

    def _normalise(self, relation: str, target: str, now: str, in_batch: bool = False) -> None:
        """Normalise the records of ``relation`` into the temp table ``target``.

        Normalisation is vectorised, so a value that makes the engine raise (one nobody
        foresaw) would stop the whole chunk. When that happens the records are halved until
        the ones at fault stand alone; each of those is quarantined as ``unprocessable`` with
        the engine's message, and every other record is normalised as usual.
        """
        con = self.con
        args = self._sql_args(now)
        try:
            self._run(normalise_statements(relation, target, in_batch=in_batch, **args))
            return
        except engine_errors() as exc:
            if not is_record_fault(exc):
                raise
            self._drop_stages(target)
            error = exc
        rows = con.execute(f"SELECT * FROM {relation}").to_arrow_table()
        if rows.num_rows <= 1:
            # An empty run makes ``target`` with the right columns; the record goes in as is.
            empty = f"{target}_empty"
            con.register(empty, rows.slice(0, 0))
            self._run(normalise_statements(empty, target, in_batch=in_batch, **args))
            con.unregister(empty)
            message = " ".join(str(error).split())[:300]
            con.execute(
                f"INSERT INTO {target} BY NAME SELECT source, line, item, "
                "'unprocessable' AS reason, "
                f"'the engine could not normalise this record: ' || {_sql_text(message)} "
                "AS detail, coalesce(encode(raw), bad_bytes) AS raw_bytes "
                f"FROM {relation}"
            )
            return
        half = rows.num_rows // 2
        parts = [f"{target}_0", f"{target}_1"]
        for name, part in zip(parts, (rows.slice(0, half), rows.slice(half)), strict=True):
            con.register(f"{name}_in", part)
            try:
                self._normalise(f"{name}_in", name, now, in_batch)
            finally:
                con.unregister(f"{name}_in")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {target} AS "
            f"SELECT * FROM {parts[0]} UNION ALL BY NAME SELECT * FROM {parts[1]}"
        )
        con.execute(f"DROP TABLE {parts[0]}; DROP TABLE {parts[1]}")

    def _drop_stages(self, target: str) -> None:
        """Drop what a failed normalisation into ``target`` left behind."""
        for stage in ("_checked", "_fields"):
            self.con.execute(f"DROP VIEW IF EXISTS {target}{stage}")
        for stage in ("_parsed", ""):
            self.con.execute(f"DROP TABLE IF EXISTS {target}{stage}")

    def _sql_args(self, now: str) -> dict[str, Any]:
        return {
            "limits": self.limits,
            "junk_ids": self.junk_ids,
            "received_at": f"'{now}'::TIMESTAMPTZ",
            "window": self.window,
        }

    def _run(self, statements: list[str]) -> None:
        for statement in statements:
            self.con.execute(statement)

    def _land_accepted(self, report: LandingReport) -> None:
        """Write the accepted rows of ``norm`` that are not duplicates as one segment.

        Duplicates are rare, so they are found as a small list of rows to leave out, and the
        segment is written straight from ``norm`` (no second copy of the chunk). A repeated
        ``messageId`` whose content differs from the copy it repeats (an earlier line, or what
        is already landed) is no retry: it goes to quarantine as ``conflicting_duplicate``.
        """
        con = self.con
        accepted = "norm WHERE reason IS NULL"
        con.execute(
            "CREATE OR REPLACE TEMP TABLE left_out (message_id VARCHAR, line BIGINT, "
            "item INTEGER, conflict BOOLEAN, detail VARCHAR)"
        )
        # Duplicates inside the chunk: the first occurrence (file order) wins.
        repeated = _scalar(
            con,
            f"SELECT count(*) FROM (SELECT 1 FROM {accepted} GROUP BY message_id "
            "HAVING count(*) > 1)",
        )
        if repeated:
            con.execute(
                "INSERT INTO left_out SELECT message_id, line, item, fp <> first_fp, "
                "'messageId ''' || message_id || ''' was used by line ' || first_line "
                "|| ' with different content; the first record was kept' FROM ("
                "SELECT message_id, line, item, fp, row_number() OVER w AS n, "
                "first_value(fp) OVER w AS first_fp, first_value(line) OVER w AS first_line "
                f"FROM (SELECT *, {_FINGERPRINT} AS fp FROM {accepted}) "
                "WINDOW w AS (PARTITION BY message_id ORDER BY source, line, item NULLS FIRST)"
                ") WHERE n > 1"
            )
        # Already landed: the hash set says "maybe"; the stored ids say for sure.
        maybe = _scalar(
            con,
            f"SELECT count(*) FROM (SELECT message_hash FROM {accepted}) AS a "
            "SEMI JOIN seen ON a.message_hash = seen.h",
        )
        if maybe:
            files = [str(f) for f in self.workspace.segments(self.workspace.events_dir)]
            con.execute(
                "INSERT INTO left_out SELECT n.message_id, n.line, n.item, "
                "NOT list_contains(s.fps, n.fp), 'messageId ''' || n.message_id "
                "|| ''' is already landed with different content; this record was not landed' "
                f"FROM (SELECT *, {_FINGERPRINT} AS fp FROM {accepted}) AS n JOIN ("
                f"SELECT message_id, list(DISTINCT {_FINGERPRINT}) AS fps "
                "FROM read_parquet(?) WHERE message_hash IN ("
                f"SELECT message_hash FROM (SELECT message_hash FROM {accepted}) AS a "
                "SEMI JOIN seen ON a.message_hash = seen.h) GROUP BY message_id"
                ") AS s ON n.message_id = s.message_id",
                [files],
            )
        kept_sql = f"SELECT * FROM {accepted}"
        if repeated or maybe:
            # One row per left-out record (it may repeat an earlier line and a landed record);
            # it conflicts if it differs from either copy.
            con.execute(
                "CREATE OR REPLACE TEMP TABLE left_out AS SELECT message_id, line, item, "
                "bool_or(conflict) AS conflict, max(detail) FILTER (WHERE conflict) AS detail "
                "FROM left_out GROUP BY ALL"
            )
            con.execute(
                "UPDATE norm SET reason = 'conflicting_duplicate', field = 'messageId', "
                "detail = o.detail, raw_bytes = encode(norm.raw), raw = NULL "
                "FROM left_out AS o WHERE o.conflict AND norm.message_id = o.message_id "
                "AND norm.line = o.line AND coalesce(norm.item, -1) = coalesce(o.item, -1)"
            )
            kept_sql = (
                f"SELECT n.* FROM (SELECT * FROM {accepted}) AS n ANTI JOIN left_out AS o "
                "ON n.message_id = o.message_id AND n.line = o.line "
                "AND coalesce(n.item, -1) = coalesce(o.item, -1)"
            )
        total = _scalar(con, f"SELECT count(*) FROM {accepted}")
        kept = total - _scalar(con, "SELECT count(*) FROM left_out WHERE NOT conflict")
        report.duplicates = total - kept
        report.accepted = kept
        if kept:
            target = self.workspace.events_dir / new_segment_name("events")
            with self.workspace.atomic_file(target) as tmp:
                # Strings are nearly all distinct (ids, JSON): dictionary pages only cost time.
                con.execute(
                    f"COPY (SELECT {self.event_columns}, '{self.ingest_id}' AS ingest_id "
                    f"FROM ({kept_sql})) TO '{_path_sql(tmp)}' "
                    "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL -1, "
                    "STRING_DICTIONARY_PAGE_SIZE_LIMIT 1, ROW_GROUP_SIZE 500000)"
                )
            report.segments.append(target)
            con.execute(f"INSERT INTO seen SELECT message_hash FROM ({kept_sql})")

    def _quarantine(self, report: LandingReport, now: str) -> None:
        con = self.con
        rows = con.execute(
            "SELECT reason, count(*) FROM norm WHERE reason IS NOT NULL AND reason <> 'blank' "
            "GROUP BY reason"
        ).fetchall()
        if not rows:
            return
        for reason, count in rows:
            report.reasons[reason] += count
            report.quarantined += count
        target = self.workspace.quarantine_dir / new_segment_name("events")
        with self.workspace.atomic_file(target) as tmp:
            con.execute(
                "COPY (SELECT md5(concat_ws('|', source, line, coalesce(item, -1), "
                "md5(raw_bytes))) AS quarantine_id, 'events' AS kind, source, line, "
                "item, reason, field, detail, raw_bytes AS raw, "
                f"'{now}'::TIMESTAMPTZ AS quarantined_at, '{self.ingest_id}' AS ingest_id "
                f"FROM norm WHERE reason IS NOT NULL AND reason <> 'blank') TO '{_path_sql(tmp)}' "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
        report.segments.append(target)


def _scalar(con: Any, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _path_sql(path: Path) -> str:
    return str(path).replace("'", "''")
