"""Forget a person (GDPR article 17): remove them from everything the workspace holds.

What is removed, and how (every rewrite writes a whole new file to ``tmp/`` and renames it
over the old one, so a crash leaves the old file or the new one, never a torn file):

* **Landed events**: every segment holding a row whose ``user_id``, ``anonymous_id``,
  ``previous_id`` or ``email`` is one of the person's identities is rewritten without those
  rows (a segment left empty is deleted). The lander's dedupe set is built from the
  segments, so it simply no longer knows those messageIds; the tombstones stop them coming
  back.
* **CRM contacts** (``landed/contacts``): rows whose ``user_id`` or ``email`` is theirs.
  CRM accounts are companies and are kept.
* **Quarantine**: records whose raw bytes parse to one of their ids (any top-level field,
  ``traits.email``, ``context.traits.email``), or whose raw text or detail contains one of
  their identities as plain text (case-insensitive; identities of fewer than
  :data:`MIN_SUBSTRING` characters are matched as whole fields only, or every record holding
  a ``7`` would go). A batch quarantined whole goes whole.
* **HTTP log files not landed yet** (``state/http-log``): from the command line, only when no
  server runs (a server holds the log's lock; forget then refuses and says to use the API).
  The files are then all closed: lines holding the person are removed (from a batch, only
  their items). Through the API, the server's log is rotated and landed first (after the
  tombstones are written, so what they sent is dropped or, before landing drops it, removed
  from the segments like the rest).
* **Published results**: a new version is published without the person's rows in every
  table (rows of their contact ids; identities holding their ids; any other text cell equal
  to one of their identities is set to NULL, e.g. a referrer's ``referred_email``); the
  other tables' rows are copied as they are. Every older version (kept for as-of reads) is
  rewritten in place the same way. Aggregates over several contacts (an account's member
  count) keep counting them until the next run.
* **Delivered-state stores**: none exist yet; pass ``hooks`` (name, callable) and each is
  called with the workspace and the :class:`~clientela.privacy.subject.Subject`.
* ``tmp/``: leftovers of interrupted writes are removed.

Then the tombstones (:mod:`clientela.privacy.store`) keep the salted hash of each identity
so landing drops them if old files are ingested again or late events arrive, and one audit
record is appended.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from clientela.engine import scratch_duckdb
from clientela.engine.core import CURRENT
from clientela.privacy.store import (
    EVENTS_COPY_OPTIONS,
    PLAIN_COPY_OPTIONS,
    add_tombstones,
    audit,
    clean_old_partials,
    http_log_lock,
    identity_hash,
    job_lock,
    landing_lock,
    normalise_identity,
    normalised_sql,
    path_sql,
    sql_text,
    workspace_salt,
)
from clientela.privacy.subject import Subject, current_version, register_values, resolve_subject
from clientela.workspace import Workspace

ForgetHook = Callable[[Workspace, Subject], int]
"""A store outside the landed and published data (e.g. delivered state of a destination):
called with the person, removes them, returns how many records it removed."""

MIN_SUBSTRING = 5  # identities shorter than this are matched in raw text as whole fields only
LOCK_TIMEOUT = 60.0  # seconds to wait for running landings to finish
SERVER_TMP_AGE = 600.0  # in a running server, tmp/ files younger than this may be in use
_ROW_COLUMNS = ("contact_id", "kept_contact", "refused_contact")
_VALUE_TABLES = ("identities", "identity_conflicts")


@dataclass
class ForgetReport:
    """What one forget did (counts only: it is written to the audit log as is)."""

    subject: str = ""
    """salted hash of the given id or email"""
    identities: int = 0
    contacts: int = 0
    tombstones_added: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    """rows (or lines, files) removed, per place"""
    files_rewritten: int = 0
    files_deleted: int = 0
    version: str | None = None
    """the version published without the person (None when nothing was published)"""
    versions_rewritten: int = 0
    seconds: float = 0.0

    def count(self, place: str, n: int) -> None:
        if n:
            self.removed[place] = self.removed.get(place, 0) + n

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def forget(
    workspace: Workspace,
    id_or_email: str,
    *,
    actor: str,
    flush_http_log: Callable[[], object] | None = None,
    hooks: Sequence[tuple[str, ForgetHook]] = (),
    lock_timeout: float = LOCK_TIMEOUT,
) -> ForgetReport:
    """Remove the person behind ``id_or_email`` from the whole workspace.

    ``actor`` says who asked (``cli:<user>``, ``key:<key id>``) for the audit record.
    ``flush_http_log`` is given by a running server: it must close the current log file and
    return once every log file is landed. Without it (the command line), no server may run
    and the log files are scrubbed here. Refuses (:class:`~clientela.errors.WorkspaceError`)
    while a job runs, or while data keeps being landed for ``lock_timeout`` seconds.
    """
    started = time.perf_counter()
    settings = workspace.settings.engine
    report = ForgetReport()
    con = scratch_duckdb(settings.threads, settings.memory_limit)
    try:
        early: Subject | None = None
        if flush_http_log is not None:
            # Tombstones first, so whatever the server lands from now on can be dropped;
            # then land everything the log holds, so the scrub below sees it in segments.
            early = resolve_subject(workspace, con, id_or_email)
            report.tombstones_added += add_tombstones(workspace, early.identities, early.kinds)
            flush_http_log()
        with ExitStack() as stack:
            if flush_http_log is None:
                stack.enter_context(http_log_lock(workspace))
            stack.enter_context(landing_lock(workspace, exclusive=True, timeout=lock_timeout))
            stack.enter_context(job_lock(workspace))
            subject = resolve_subject(workspace, con, id_or_email)
            if early is not None:
                subject = Subject(
                    given=subject.given,
                    kinds={**early.kinds, **subject.kinds},
                    contact_ids=subject.contact_ids | early.contact_ids,
                )
            report.subject = identity_hash(workspace_salt(workspace), subject.given)
            report.identities = len(subject.identities)
            report.contacts = len(subject.contact_ids)
            report.tombstones_added += add_tombstones(workspace, subject.identities, subject.kinds)
            register_values(con, "subject_values", set(subject.identities))
            if flush_http_log is None:
                report.count("http_log", _scrub_http_logs(workspace, subject))
            _scrub_events(workspace, con, report)
            _scrub_contacts(workspace, con, report)
            _scrub_quarantine(workspace, con, subject, report)
            _scrub_published(workspace, con, subject, report)
            for name, hook in hooks:
                report.count(f"delivered:{name}", int(hook(workspace, subject)))
            if flush_http_log is None:
                workspace.clean_tmp()
            else:
                clean_old_partials(workspace, SERVER_TMP_AGE)
    finally:
        con.close()
    report.seconds = round(time.perf_counter() - started, 3)
    audit(
        workspace,
        {
            "operation": "forget",
            "actor": actor,
            "subject": report.subject,
            "identities": report.identities,
            "contacts": report.contacts,
            "tombstones_added": report.tombstones_added,
            "removed": dict(report.removed),
            "files_rewritten": report.files_rewritten,
            "files_deleted": report.files_deleted,
            "version": report.version,
            "versions_rewritten": report.versions_rewritten,
            "seconds": report.seconds,
        },
    )
    return report


# -- landed segments ---------------------------------------------------------------------------

_IN = " IN (SELECT v FROM subject_values)"


def events_condition() -> str:
    tests = [normalised_sql(c) + _IN for c in ("user_id", "anonymous_id", "previous_id", "email")]
    return "coalesce(" + " OR ".join(tests) + ", false)"


def _scrub_events(workspace: Workspace, con: Any, report: ForgetReport) -> None:
    """Rewrite events segments without the person, until no unseen segment is left (a
    lander that ignores the landing lock may add one meanwhile)."""
    done: set[Path] = set()
    while True:
        pending = [p for p in workspace.segments(workspace.events_dir) if p not in done]
        if not pending:
            return
        for path in pending:
            removed = rewrite_without(
                workspace, con, path, events_condition(), EVENTS_COPY_OPTIONS, report
            )
            report.count("events", removed)
            done.add(path)


def contacts_condition() -> str:
    return (
        "coalesce(" + normalised_sql("user_id") + _IN + " OR lower(trim(email))" + _IN + ", false)"
    )


def _scrub_contacts(workspace: Workspace, con: Any, report: ForgetReport) -> None:
    condition = contacts_condition()
    for path in workspace.segments(workspace.contacts_dir):
        report.count(
            "crm_contacts",
            rewrite_without(workspace, con, path, condition, PLAIN_COPY_OPTIONS, report),
        )


def quarantine_condition(subject: Subject) -> str:
    text = "coalesce(try(decode(raw)), raw::VARCHAR, '')"
    values = sorted(subject.identities)
    listed = "[" + ", ".join(sql_text(v) for v in values) + "]::VARCHAR[]"
    fields = [
        f"list_has_any(coalesce(try(json_extract_string({text}, '$.*')), []), {listed})",
    ]
    for path in ("$.userId", "$.anonymousId", "$.previousId", "$.traits.email"):
        fields.append(
            f"{normalised_sql(f'try(json_extract_string({text}, {sql_text(path)}))')}{_IN}"
        )
    fields.append(
        normalised_sql(f"try(json_extract_string({text}, '$.context.traits.email'))") + _IN
    )
    haystack = f"lower({text} || ' ' || coalesce(detail, ''))"
    for value in values:
        if len(value) >= MIN_SUBSTRING:
            fields.append(f"contains({haystack}, {sql_text(value.lower())})")
    return "coalesce(" + " OR ".join(fields) + ", false)"


def _scrub_quarantine(
    workspace: Workspace, con: Any, subject: Subject, report: ForgetReport
) -> None:
    from clientela.ingest.quarantine import RESOLVED_PREFIX

    condition = quarantine_condition(subject)
    for path in workspace.segments(workspace.quarantine_dir):
        if path.name.startswith(RESOLVED_PREFIX):
            continue  # ids and times only
        report.count(
            "quarantine",
            rewrite_without(workspace, con, path, condition, PLAIN_COPY_OPTIONS, report),
        )


def rewrite_without(
    workspace: Workspace,
    con: Any,
    path: Path,
    condition: str,
    options: str,
    report: ForgetReport | None = None,
) -> int:
    """Rewrite one Parquet file without the rows matching ``condition`` (atomically; the
    file is deleted when no row is left). Returns how many rows went."""
    source = f"read_parquet({path_sql(path)})"
    row = con.execute(f"SELECT count(*) FILTER ({condition}), count(*) FROM {source}").fetchone()
    matched, total = (int(row[0]), int(row[1])) if row else (0, 0)
    if not matched:
        return 0
    if matched == total:
        path.unlink()
        _fsync_dir(path.parent)
        if report is not None:
            report.files_deleted += 1
        return matched
    with workspace.atomic_file(path) as tmp:
        con.execute(
            f"COPY (SELECT * FROM {source} WHERE NOT ({condition})) TO {path_sql(tmp)} ({options})"
        )
    if report is not None:
        report.files_rewritten += 1
    return matched


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the HTTP log ------------------------------------------------------------------------------


def _scrub_http_logs(workspace: Workspace, subject: Subject) -> int:
    """Remove the person's lines (and batch items) from log files not landed yet. Only
    called with the log's lock held, so every file is closed. Returns messages removed."""
    from clientela.api.log import LOG_FOLDER, LOG_SUFFIX

    folder = workspace.state_dir / LOG_FOLDER
    if not folder.exists():
        return 0
    matcher = LineMatcher(subject)
    removed = 0
    for path in sorted(folder.glob(f"http-*{LOG_SUFFIX}")):
        data = path.read_bytes()
        lines = data.split(b"\n")  # the last piece is b"" or a torn, unanswered tail
        kept: list[bytes] = []
        changed = 0
        for line in lines:
            new, gone = matcher.scrub(line)
            changed += gone
            if new is not None:
                kept.append(new)
        if not changed:
            continue
        removed += changed
        with workspace.atomic_file(path) as tmp:
            tmp.write_bytes(b"\n".join(kept))
    return removed


class LineMatcher:
    """Does a log line (one message or a batch envelope) hold the person?"""

    def __init__(self, subject: Subject) -> None:
        self.identities = subject.identities
        self.needles = [v.lower().encode() for v in subject.identities if len(v) >= MIN_SUBSTRING]

    def _text_hit(self, raw: bytes) -> bool:
        low = raw.lower()
        return any(n in low for n in self.needles)

    def _message_hit(self, message: Any) -> bool:
        if not isinstance(message, dict):
            return False
        values: list[Any] = list(message.values())
        for key in ("traits", "context"):
            inner = message.get(key)
            if isinstance(inner, dict):
                values.append(inner.get("email"))
                traits = inner.get("traits")
                if isinstance(traits, dict):
                    values.append(traits.get("email"))
        for value in values:
            if (
                isinstance(value, str | int)
                and not isinstance(value, bool)
                and normalise_identity(str(value)) in self.identities
            ):
                return True
        # Escaped text (\u0040 for @) is only readable once parsed.
        return self._text_hit(orjson.dumps(message))

    def found(self, line: bytes) -> list[Any]:
        """The person's messages in a line (unparseable text holding them: as text)."""
        if not line.strip():
            return []
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            return [line.decode("utf-8", "replace")] if self._text_hit(line) else []
        batch = message.get("batch") if isinstance(message, dict) else None
        if not isinstance(batch, list):
            return [message] if self._message_hit(message) else []
        return [m for m in batch if self._message_hit(m)]

    def scrub(self, line: bytes) -> tuple[bytes | None, int]:
        """The line to keep (None: drop it) and how many messages were removed."""
        if not line.strip():
            return line, 0
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            return (None, 1) if self._text_hit(line) else (line, 0)
        batch = message.get("batch") if isinstance(message, dict) else None
        if not isinstance(batch, list):
            return (None, 1) if self._message_hit(message) else (line, 0)
        items = [m for m in batch if not self._message_hit(m)]
        envelope = {k: v for k, v in message.items() if k != "batch"}
        if self._message_hit(envelope):
            return None, len(batch)
        if len(items) == len(batch):
            return line, 0
        if not items:
            return None, len(batch)
        return orjson.dumps({**message, "batch": items}), len(batch) - len(items)


# -- published results -------------------------------------------------------------------------


def _scrub_published(
    workspace: Workspace, con: Any, subject: Subject, report: ForgetReport
) -> None:
    """Publish a version without the person (when the current one holds them); rewrite
    every other version folder in place (older versions, and folders a failed publish left)."""
    results = workspace.results_dir
    current = current_version(workspace)
    if current is None or not (results / current).is_dir():
        current = None
    others = sorted(
        d.name
        for d in results.iterdir()
        if d.is_dir() and d.name.startswith("v") and d.name != current
    )
    if current is not None:
        found = _filter_version(workspace, con, subject, results / current, "count", report)
        if found.changed:
            new = datetime.now(UTC).strftime("v%Y%m%dT%H%M%S%f")
            target = results / new
            target.mkdir(parents=True, exist_ok=False)
            _filter_version(workspace, con, subject, results / current, target, report)
            for table, n in found.rows.items():
                report.count(f"published:{table}", n)
            pointer = results / CURRENT
            with workspace.atomic_file(pointer) as tmp:
                tmp.write_text(new + "\n", encoding="utf-8")
            report.version = new
            others.insert(0, current)
    for name in others:
        if _filter_version(workspace, con, subject, results / name, "in_place", report).changed:
            report.versions_rewritten += 1


@dataclass
class _Filtered:
    rows: dict[str, int] = field(default_factory=dict)
    """rows of the person per table"""
    changed: bool = False
    """some table held the person (rows or cells)"""


def version_contacts(con: Any, folder: Path, subject: Subject) -> set[str]:
    """The person's contact ids in one published version (``subject_values`` registered).
    A table that cannot be read (torn by a failed publish) tells nothing."""
    contacts = set(subject.contact_forms())
    for table, test in (
        ("identities", f"{normalised_sql('value')}{_IN}"),
        ("contacts", f"lower(trim(email)){_IN}"),
    ):
        path = folder / f"{table}.parquet"
        if not path.exists():
            continue
        try:
            rows = con.execute(
                f"SELECT DISTINCT contact_id FROM read_parquet({path_sql(path)}) WHERE {test}"
            ).fetchall()
        except Exception:  # DuckDB's own error: not a whole Parquet file
            continue
        contacts |= {r[0] for r in rows if r[0] is not None}
    return contacts


def _filter_version(
    workspace: Workspace,
    con: Any,
    subject: Subject,
    folder: Path,
    target: Path | str,
    report: ForgetReport,
) -> _Filtered:
    """Filter every table of a version folder without the person: into the folder ``target``
    (every table copied), ``"in_place"`` (only tables holding them rewritten) or ``"count"``
    (nothing written). A table that cannot be read in place (torn by a failed publish, so
    never published) is deleted."""
    contacts = version_contacts(con, folder, subject)
    norm_value = normalised_sql("value")
    register_values(con, "subject_cells", contacts | set(subject.identities))
    found = _Filtered()
    try:
        for path in sorted(folder.glob("*.parquet")):
            table = path.stem
            source = f"read_parquet({path_sql(path)})"
            try:
                columns = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            except Exception:  # DuckDB's own error: not a whole Parquet file
                if target != "in_place":
                    raise
                path.unlink()
                report.files_deleted += 1
                found.changed = True
                continue
            text_columns = [c[0] for c in columns if str(c[1]).upper() == "VARCHAR"]
            row_tests = [
                f'"{c}" IN (SELECT v FROM subject_cells)' for c in _ROW_COLUMNS if c in text_columns
            ]
            if table in _VALUE_TABLES and "value" in text_columns:
                row_tests.append(f"{norm_value}{_IN}")
            row_cond = "coalesce(" + " OR ".join(row_tests) + ", false)" if row_tests else "false"
            redacted = [c for c in text_columns if c not in _ROW_COLUMNS]
            cell_tests = [
                normalised_sql(f'"{c}"') + " IN (SELECT v FROM subject_cells)" for c in redacted
            ]
            cell_cond = (
                "coalesce(" + " OR ".join(cell_tests) + ", false)" if cell_tests else "false"
            )
            row = con.execute(
                f"SELECT count(*) FILTER ({row_cond}), "
                f"count(*) FILTER (NOT ({row_cond}) AND {cell_cond}) FROM {source}"
            ).fetchone()
            rows, cells = (int(row[0]), int(row[1])) if row else (0, 0)
            found.rows[table] = rows
            found.changed = found.changed or bool(rows or cells)
            if target == "count" or (target == "in_place" and not rows and not cells):
                continue
            replace = ", ".join(
                "CASE WHEN " + normalised_sql(f'"{c}"') + " IN (SELECT v FROM subject_cells) "
                f'THEN NULL ELSE "{c}" END AS "{c}"'
                for c in redacted
            )
            select = f"SELECT * REPLACE ({replace})" if replace else "SELECT *"
            sql = f"{select} FROM {source} WHERE NOT ({row_cond})"
            out = path if target == "in_place" else Path(target) / path.name
            with workspace.atomic_file(out) as tmp:
                con.execute(f"COPY ({sql}) TO {path_sql(tmp)} ({PLAIN_COPY_OPTIONS})")
            if target == "in_place":
                report.files_rewritten += 1
    finally:
        con.unregister("subject_cells")
    return found
