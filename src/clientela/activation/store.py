"""The delivery store: what is to be sent where, what went out, what died (``state/``).

An outbox in SQLite (``state/deliveries.sqlite``), one row per (destination, item id): an
item is a planned action (its ``action_id``) or a segment membership change (a hash of
segment, contact, change and time). Enqueueing uses that key, so enqueueing the same
published version twice adds nothing. An item goes ``pending`` → ``delivered``, or → ``dead``
after its destination's last attempt; dead items can be put back
(:meth:`DeliveryStore.replay_dead`).

Why SQLite (the standard library's): every status change is one small transaction that
survives a crash (write-ahead log, ``synchronous=FULL``), the primary key makes enqueueing
idempotent for free, and readers (the main job's frequency caps, the API) read while a
delivery writes. The workspace's DuckDB file is held by the main job while it runs, and the
Parquet files are immutable, so neither fits state that changes item by item.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from clientela.activation.tables import SENT_SCHEMA
from clientela.errors import ClientelaError
from clientela.workspace import Workspace

DB_FILE = "deliveries.sqlite"
LOCK_FILE = "deliveries.lock"
STATUSES = ("pending", "delivered", "dead")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    destination TEXT NOT NULL,
    item_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    version TEXT NOT NULL,
    payload TEXT NOT NULL,
    contact_id TEXT,
    channel TEXT,
    purpose TEXT,
    action TEXT,
    counts_as_sent INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    enqueued_at REAL NOT NULL,
    delivered_at REAL,
    PRIMARY KEY (destination, item_id)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (destination, status, next_attempt_at);
CREATE TABLE IF NOT EXISTS enqueued_versions (
    destination TEXT NOT NULL,
    version TEXT NOT NULL,
    at REAL NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (destination, version)
);
"""


@dataclass(frozen=True)
class Item:
    """One thing to deliver to one destination (what :meth:`DeliveryStore.enqueue` takes)."""

    destination: str
    item_id: str
    """The idempotency key: the action's ``action_id``, or a segment change's hash."""
    kind: str
    """``action`` or ``segment_change``."""
    version: str
    """The published version it was read from."""
    payload: dict[str, Any]
    """The row as delivered (JSON-ready: times as ISO strings)."""
    counts_as_sent: bool = False


@dataclass(frozen=True)
class StoredItem:
    """An item as the store holds it, with its delivery state."""

    destination: str
    item_id: str
    kind: str
    version: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    enqueued_at: datetime
    delivered_at: datetime | None
    seq: int = 0
    """Its place in the outbox (the order items were enqueued in)."""


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _stored(row: sqlite3.Row) -> StoredItem:
    return StoredItem(
        destination=row["destination"],
        item_id=row["item_id"],
        kind=row["kind"],
        version=row["version"],
        payload=json.loads(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=datetime.fromtimestamp(row["next_attempt_at"], UTC),
        last_error=row["last_error"],
        enqueued_at=datetime.fromtimestamp(row["enqueued_at"], UTC),
        delivered_at=_time(row["delivered_at"]),
        seq=row["seq"],
    )


class DeliveryStore:
    """The outbox of one workspace. Not shared between threads: open one per thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.con = sqlite3.connect(path, timeout=30)
        self.con.row_factory = sqlite3.Row
        self.con.execute("PRAGMA journal_mode=WAL")
        # FULL: a status change committed before the next request is on disk, so a crash
        # after a 2xx never forgets the item was delivered (nor, before it, that it was not).
        self.con.execute("PRAGMA synchronous=FULL")
        with self.con:
            self.con.executescript(_SCHEMA)

    @classmethod
    def open(cls, workspace: Workspace) -> DeliveryStore:
        """The workspace's store (created on first use)."""
        return cls(workspace.state_dir / DB_FILE)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DeliveryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- enqueueing ---------------------------------------------------------------------------

    def enqueue(self, items: Iterable[Item], now: float) -> int:
        """Add the items not already in the outbox (by destination and item id), in one
        transaction; returns how many were new."""
        rows = [
            (
                i.destination,
                i.item_id,
                i.kind,
                i.version,
                json.dumps(i.payload, sort_keys=True),
                i.payload.get("contact_id"),
                i.payload.get("channel"),
                i.payload.get("purpose"),
                i.payload.get("action"),
                int(i.counts_as_sent and i.kind == "action"),
                now,
                now,
            )
            for i in items
        ]
        with self.con:
            before = self.con.total_changes
            self.con.executemany(
                "INSERT OR IGNORE INTO outbox (destination, item_id, kind, version, payload, "
                "contact_id, channel, purpose, action, counts_as_sent, next_attempt_at, "
                "enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return self.con.total_changes - before

    def known(self, destination: str, item_ids: Iterable[str]) -> set[str]:
        """Which of these item ids the outbox already holds for the destination."""
        ids = list(item_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.con.execute(
                f"SELECT item_id FROM outbox WHERE destination = ? AND item_id IN ({marks})",
                [destination, *chunk],
            )
            found.update(r[0] for r in rows)
        return found

    def version_enqueued(self, destination: str, version: str) -> bool:
        """Whether this published version was already enqueued for the destination."""
        row = self.con.execute(
            "SELECT 1 FROM enqueued_versions WHERE destination = ? AND version = ?",
            (destination, version),
        ).fetchone()
        return row is not None

    def mark_version(self, destination: str, version: str, items: int, now: float) -> None:
        """Remember that a version was enqueued (after its items were)."""
        with self.con:
            self.con.execute(
                "INSERT OR IGNORE INTO enqueued_versions VALUES (?, ?, ?, ?)",
                (destination, version, now, items),
            )

    # -- delivering ---------------------------------------------------------------------------

    def due(
        self, destination: str, now: float, limit: int = 1000, after: int = 0
    ) -> list[StoredItem]:
        """Pending items whose next attempt time has come, in the order they were enqueued;
        ``after`` (the ``seq`` of the last item of the previous page) pages on."""
        rows = self.con.execute(
            "SELECT rowid AS seq, * FROM outbox WHERE destination = ? AND status = 'pending' "
            "AND next_attempt_at <= ? AND rowid > ? ORDER BY rowid LIMIT ?",
            (destination, now, after, limit),
        )
        return [_stored(r) for r in rows]

    def next_attempt(self, destination: str) -> float | None:
        """When the earliest pending item of the destination is due (None: none pending)."""
        row = self.con.execute(
            "SELECT min(next_attempt_at) FROM outbox WHERE destination = ? AND status = 'pending'",
            (destination,),
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def mark_delivered(self, destination: str, item_ids: Iterable[str], now: float) -> None:
        """The receiver took these items (a 2xx, or a file renamed into place)."""
        with self.con:
            self.con.executemany(
                "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, "
                "delivered_at = ?, last_error = NULL WHERE destination = ? AND item_id = ?",
                [(now, destination, i) for i in item_ids],
            )

    def mark_failed(
        self, destination: str, item_id: str, error: str, next_attempt_at: float, dead: bool
    ) -> None:
        """An attempt failed: count it, keep the error, and either schedule the next attempt
        or give the item up (``dead``)."""
        with self.con:
            self.con.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ? WHERE destination = ? AND item_id = ?",
                ("dead" if dead else "pending", error, next_attempt_at, destination, item_id),
            )

    def replay_dead(self, destination: str | None, now: float) -> int:
        """Put dead items back to pending with their attempts reset; returns how many."""
        where, args = ("AND destination = ?", [destination]) if destination else ("", [])
        with self.con:
            cursor = self.con.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ? "
                f"WHERE status = 'dead' {where}",
                [now, *args],
            )
            return cursor.rowcount

    # -- reading ------------------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        """Per destination, how many items are pending, delivered and dead."""
        out: dict[str, dict[str, int]] = {}
        rows = self.con.execute(
            "SELECT destination, status, count(*) FROM outbox GROUP BY destination, status"
        )
        for destination, status, n in rows:
            out.setdefault(destination, dict.fromkeys(STATUSES, 0))[status] = n
        return out

    def items(
        self,
        destination: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[StoredItem], int]:
        """A page of items (oldest first) and how many match in all."""
        clauses, args = [], []
        if destination is not None:
            clauses.append("destination = ?")
            args.append(destination)
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        total = self.con.execute(f"SELECT count(*) FROM outbox {where}", args).fetchone()[0]
        rows = self.con.execute(
            f"SELECT rowid AS seq, * FROM outbox {where} ORDER BY rowid LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [_stored(r) for r in rows], int(total)


@contextmanager
def delivery_lock(workspace: Workspace) -> Iterator[None]:
    """Held while delivering: two deliveries at once would send every item twice."""
    path = workspace.state_dir / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="ascii") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ClientelaError(
                "another delivery is running in this workspace (clientela deliver, or "
                "POST /api/deliver); wait for it to finish and try again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def sent_messages(workspace: Workspace) -> pa.Table:
    """:data:`~clientela.activation.tables.SENT_SCHEMA`: every action delivered so far to a
    destination that ``counts_as_sent``, once per action (its first delivery) however many
    destinations got it. Segment changes are not messages and are left out."""
    path = workspace.state_dir / DB_FILE
    if not path.exists():
        return SENT_SCHEMA.empty_table()
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute(
            "SELECT contact_id, channel, purpose, action, min(delivered_at) FROM outbox "
            "WHERE kind = 'action' AND status = 'delivered' AND counts_as_sent = 1 "
            "GROUP BY item_id, contact_id, channel, purpose, action "
            "ORDER BY 5, contact_id"
        ).fetchall()
    finally:
        con.close()
    data: dict[str, list[Any]] = {f.name: [r[i] for r in rows] for i, f in enumerate(SENT_SCHEMA)}
    data["sent_at"] = [_time(s) for s in data["sent_at"]]
    return pa.table(data, schema=SENT_SCHEMA)
