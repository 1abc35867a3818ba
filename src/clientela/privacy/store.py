"""What privacy operations keep in ``state/``, and the locks and rewrites they share.

* ``state/privacy-salt``: 32 random bytes (hex), made once per workspace. Every hash of an
  identity is ``sha256(salt || identity)``, so a tombstone cannot be matched against a list of
  known emails without the workspace's own salt.
* ``state/tombstones.json``: the salted hashes of every identity of every forgotten person
  (no plain ids, no emails). Landing drops records carrying any of them
  (:class:`Tombstones`, :func:`tombstone_filter_sql`).
* ``state/audit.jsonl``: one JSON line per forget, export and retention run: who (the actor),
  when, what, how many rows per place, and the salted hash of the subject. No PII.
* ``state/landing.lock``: landers hold it shared, forget and retention exclusive
  (:func:`landing_lock`).

Identities are compared *normalised*: trimmed, and lower-cased when they hold an ``@``
(emails, and userIds that are emails), the same in Python (:func:`normalise_identity`) and
in SQL (:func:`normalised_sql`).
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from clientela.errors import WorkspaceError
from clientela.workspace import Workspace

SALT_FILE = "privacy-salt"
TOMBSTONES_FILE = "tombstones.json"
AUDIT_FILE = "audit.jsonl"
LANDING_LOCK = "landing.lock"
HTTP_LOG_LOCK = Path("http-log") / ".lock"  # the one a running server holds (api.log.LogLock)

# The normalised identity columns of a landed events segment (and of the lander's ``norm``).
IDENTITY_COLUMNS: tuple[str, ...] = ("user_id", "anonymous_id", "previous_id", "email")

# Parquet options of events segments (the lander's own): rewritten segments stay alike.
EVENTS_COPY_OPTIONS = (
    "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL -1, "
    "STRING_DICTIONARY_PAGE_SIZE_LIMIT 1, ROW_GROUP_SIZE 500000"
)
PLAIN_COPY_OPTIONS = "FORMAT parquet, COMPRESSION zstd"
# Where a rejected record's raw JSON names its person (checked by Tombstones.drop_from).
_RAW_PATHS = (
    "$.userId",
    "$.anonymousId",
    "$.previousId",
    "$.traits.email",
    "$.context.traits.email",
)


def normalise_identity(value: str) -> str:
    """An identity as compared and hashed: trimmed; lower-cased when it holds an ``@``."""
    text = value.strip()
    return text.lower() if "@" in text else text


def normalised_sql(expr: str) -> str:
    """SQL for :func:`normalise_identity` of a text expression (NULL stays NULL)."""
    text = f"({expr})::VARCHAR"
    return f"(CASE WHEN contains({text}, '@') THEN lower(trim({text})) ELSE trim({text}) END)"


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def path_sql(path: Path) -> str:
    return sql_text(str(path))


def actor_of_cli() -> str:
    """The actor of a command run by hand: ``cli:<user name>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"cli:{user}"


# -- salt and hashes ---------------------------------------------------------------------------


def workspace_salt(workspace: Workspace) -> str:
    """The workspace's salt (made on first use, readable by its owner only)."""
    path = workspace.state_dir / SALT_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        salt = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made meanwhile by another process: read theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(salt + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            return salt
    salt = path.read_text(encoding="ascii").strip()
    if len(salt) != 64:
        raise WorkspaceError(f"{path} is damaged (expected 64 hex digits); restore it from backup")
    return salt


def identity_hash(salt: str, value: str) -> str:
    """``sha256(salt || normalised identity)`` in hex, as DuckDB's ``sha256()`` computes it."""
    return hashlib.sha256((salt + normalise_identity(value)).encode("utf-8")).hexdigest()


# -- tombstones --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tombstones:
    """The salted hashes of every forgotten identity, loaded once (e.g. per lander).

    :meth:`drop_from` is the fast way to drop forgotten records from a table of normalised
    events: it hashes each *distinct* id once, then deletes by plain comparison.
    """

    salt: str
    hashes: frozenset[str]

    def condition_sql(self, columns: Iterable[str] = IDENTITY_COLUMNS) -> str:
        """A SQL condition, true for a row holding a forgotten identity in any of ``columns``
        (hashes every value of every row: simple, but slower than :meth:`drop_from`)."""
        listed = ", ".join(sql_text(h) for h in sorted(self.hashes))
        tests = [
            f"sha256({sql_text(self.salt)} || {normalised_sql(c)}) IN ({listed})" for c in columns
        ]
        return "coalesce(" + " OR ".join(tests) + ", false)"

    def drop_from(
        self,
        con: Any,
        table: str,
        columns: Iterable[str] = IDENTITY_COLUMNS,
        raw_bytes: str | None = None,
    ) -> int:
        """Delete the rows of ``table`` (in DuckDB connection ``con``) holding a forgotten
        identity in any of ``columns``; returns how many were deleted.

        ``raw_bytes`` names a BLOB column holding a rejected record's bytes (NULL for accepted
        ones): its ``userId``, ``anonymousId``, ``previousId``, ``traits.email`` and
        ``context.traits.email`` are checked too, so a record that would be quarantined is
        dropped rather than kept with the person's data in it.
        """
        # Values as stored; only the distinct ones are normalised and hashed (a chunk has
        # far fewer distinct ids than rows), and rows are then matched by plain equality.
        exprs = ['"' + c + '"' for c in columns]
        if raw_bytes is not None:
            text = f'try(decode("{raw_bytes}"))'
            exprs += [
                f'CASE WHEN "{raw_bytes}" IS NOT NULL '
                f"THEN try(json_extract_string({text}, '{path}')) END"
                for path in _RAW_PATHS
            ]
        con.register(
            "forgotten_hashes", pa.table({"h": pa.array(sorted(self.hashes), pa.string())})
        )
        try:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE forgotten_values AS SELECT v FROM ("
                f"SELECT DISTINCT unnest([{', '.join(f'({e})::VARCHAR' for e in exprs)}]) AS v "
                f"FROM {table}) WHERE v IS NOT NULL "
                f"AND sha256({sql_text(self.salt)} || {normalised_sql('v')}) "
                "IN (SELECT h FROM forgotten_hashes)"
            )
            row = con.execute("SELECT count(*) FROM forgotten_values").fetchone()
            if not row or not row[0]:
                return 0
            hit = " OR ".join(f"({e})::VARCHAR IN (SELECT v FROM forgotten_values)" for e in exprs)
            deleted = con.execute(f"DELETE FROM {table} WHERE coalesce({hit}, false)").fetchone()
            return int(deleted[0]) if deleted else 0
        finally:
            con.execute("DROP TABLE IF EXISTS forgotten_values")
            con.unregister("forgotten_hashes")


def load_tombstones(workspace: Workspace) -> Tombstones | None:
    """The workspace's tombstones, or None when nobody was forgotten (landing pays nothing)."""
    path = workspace.state_dir / TOMBSTONES_FILE
    if not path.exists():
        return None
    data = orjson.loads(path.read_bytes())
    hashes = frozenset(str(t["hash"]) for t in data.get("tombstones", []))
    if not hashes:
        return None
    return Tombstones(salt=workspace_salt(workspace), hashes=hashes)


def tombstone_filter_sql(workspace: Workspace) -> str | None:
    """A DuckDB condition over ``user_id``, ``anonymous_id``, ``previous_id`` and ``email``
    that is true for records of forgotten people (None when nobody was forgotten).

    For bulk landing prefer ``load_tombstones(ws).drop_from(con, table)``, which hashes each
    distinct id once instead of every column of every row.
    """
    tombstones = load_tombstones(workspace)
    return tombstones.condition_sql() if tombstones is not None else None


def add_tombstones(workspace: Workspace, values: Iterable[str], kind_of: dict[str, str]) -> int:
    """Add the hashes of ``values`` to the tombstones (atomically); returns how many are new."""
    salt = workspace_salt(workspace)
    path = workspace.state_dir / TOMBSTONES_FILE
    data: dict[str, Any] = {"version": 1, "tombstones": []}
    if path.exists():
        data = orjson.loads(path.read_bytes())
    known = {t["hash"] for t in data["tombstones"]}
    now = datetime.now(UTC).isoformat()
    added = 0
    for value in sorted(set(values)):
        digest = identity_hash(salt, value)
        if digest in known:
            continue
        known.add(digest)
        data["tombstones"].append(
            {"hash": digest, "kind": kind_of.get(value, "id"), "forgotten_at": now}
        )
        added += 1
    if added:
        with workspace.atomic_file(path) as tmp:
            tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return added


# -- audit -------------------------------------------------------------------------------------


def audit(workspace: Workspace, record: dict[str, Any]) -> dict[str, Any]:
    """Append one record to ``state/audit.jsonl`` (with ``at``), flushed to disk."""
    entry = {"at": datetime.now(UTC).isoformat(), **record}
    path = workspace.state_dir / AUDIT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = orjson.dumps(entry) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def read_audit(workspace: Workspace) -> list[dict[str, Any]]:
    """Every audit record, oldest first."""
    path = workspace.state_dir / AUDIT_FILE
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


# -- locks -------------------------------------------------------------------------------------


@contextmanager
def landing_lock(
    workspace: Workspace, *, exclusive: bool = False, timeout: float | None = 0.0
) -> Iterator[None]:
    """Hold ``state/landing.lock``: shared by whatever lands data (``ingest``, the server's
    compactor, ``quarantine retry``, CRM imports), exclusive by forget and retention, so no
    segment is written while they rewrite segments. Waits up to ``timeout`` seconds (None:
    as long as it takes), then raises :class:`WorkspaceError`."""
    path = workspace.state_dir / LANDING_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if timeout is None:
            fcntl.flock(fd, mode)
        deadline = time.monotonic() + (timeout or 0.0)
        while timeout is not None:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise WorkspaceError(
                        "data is being landed in this workspace (an ingest, import, quarantine "
                        "retry or the server's compaction holds state/landing.lock)"
                        if exclusive
                        else "a privacy operation (forget or retention) is rewriting this "
                        "workspace's segments; try again when it has finished"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


@contextmanager
def http_log_lock(workspace: Workspace) -> Iterator[None]:
    """Hold the HTTP log folder's lock, which a running server holds for its whole life:
    with it, no server appends to or lands the log files. Refuses when a server runs."""
    path = workspace.state_dir / HTTP_LOG_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise WorkspaceError(
                "a clientela server is running on this workspace (it holds "
                f"{path}); forget through its API (POST /api/privacy/forget with an admin key) "
                "or stop it first"
            ) from None
        yield
    finally:
        os.close(fd)


@contextmanager
def job_lock(workspace: Workspace) -> Iterator[None]:
    """Hold what a running job holds (on DuckDB, the workspace's database file), so no run
    computes from segments while they are rewritten. Refuses while a job runs."""
    if workspace.settings.engine.kind != "duckdb":
        # Spark jobs hold no lock on the workspace; the landing lock is all there is.
        yield
        return
    from clientela.engine import connect

    try:
        engine = connect(workspace)
    except Exception as exc:  # DuckDB's lock error, or the engine's busy error for it
        busy = type(exc).__name__ == "WorkspaceBusyError" or "lock" in str(exc).lower()
        if not busy:
            raise
        raise WorkspaceError(
            "another clientela process is using this workspace's engine file "
            f"({workspace.settings.engine.duckdb_file}: a run, most likely); try again when "
            "it has finished"
        ) from None
    try:
        yield
    finally:
        engine.close()


def clean_old_partials(workspace: Workspace, older_than: float) -> int:
    """Remove files in ``tmp/`` untouched for ``older_than`` seconds (left by crashes; they
    may hold anybody's data). Younger ones may be written right now by a running server."""
    removed = 0
    now = time.time()
    if workspace.tmp_dir.exists():
        for leftover in workspace.tmp_dir.glob("*.partial"):
            try:
                if now - leftover.stat().st_mtime >= older_than:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return removed
