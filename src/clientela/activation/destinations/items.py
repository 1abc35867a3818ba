"""What a destination receives, read from the current published version: planned actions
(never a suppressed one) and the segment membership changes the latest run saw."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clientela.activation.settings import DestinationSettings
from clientela.activation.store import Item
from clientela.engine import Engine
from clientela.errors import ClientelaError

PLANNED = "planned"


@dataclass
class Published:
    """The deliverable rows of one published version (JSON-ready: times as ISO strings)."""

    version: str
    as_of: datetime | None
    actions: list[dict[str, Any]] = field(default_factory=list)
    segment_changes: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _table(engine: Engine, name: str, notes: list[str]) -> Any:
    try:
        return engine.published(name)
    except ClientelaError as exc:
        # A version published before activation existed has no such table: nothing to send.
        notes.append(f"{exc}: nothing of it to deliver")
        return None


def read_published(engine: Engine) -> Published:
    """The current published version's planned actions and the membership changes at its
    as-of time (``segment_history`` rows whose ``at`` is the ``run_info`` as-of)."""
    version = engine.current_version()
    if version is None:
        raise ClientelaError("nothing is published yet in this workspace; run: clientela run")
    notes: list[str] = []
    info = _table(engine, "run_info", notes)
    rows = engine.to_arrow(info.limit(1)).to_pylist() if info is not None else []
    as_of: datetime | None = rows[0]["as_of"] if rows else None
    found = Published(version=version, as_of=as_of, notes=notes)
    actions = _table(engine, "actions", notes)
    if actions is not None:
        planned = actions.filter(actions.status == PLANNED).order_by("action_id")
        found.actions = [_jsonable(r) for r in engine.to_arrow(planned).to_pylist()]
        for row in found.actions:
            # The policy's decision is final: a suppressed action must never leave, whatever
            # a filter above did (checked here, not only in the query, on purpose).
            if row["status"] != PLANNED:
                raise ClientelaError(
                    f"action {row['action_id']} is {row['status']}, not planned: refusing it"
                )
    history = _table(engine, "segment_history", notes)
    if history is not None and as_of is not None:
        latest = history.filter(history.at == as_of).order_by(["segment", "contact_id", "change"])
        found.segment_changes = [_jsonable(r) for r in engine.to_arrow(latest).to_pylist()]
    return found


def segment_change_id(row: dict[str, Any]) -> str:
    """The idempotency key of a membership change: a hash of what identifies it (the same
    change read from any version has the same key)."""
    text = "\x1f".join(str(row[k]) for k in ("segment", "contact_id", "change", "at"))
    return "sc_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def items_for(name: str, settings: DestinationSettings, published: Published) -> list[Item]:
    """The items of ``published`` that destination ``name`` receives, after its filters."""
    items: list[Item] = []
    if "actions" in settings.receives:
        for row in published.actions:
            if row["status"] != PLANNED:  # never reached (read_published refuses), kept as a guard
                raise ClientelaError(f"action {row['action_id']} is not planned: refusing it")
            if settings.actions and row["action"] not in settings.actions:
                continue
            if settings.purposes and row["purpose"] not in settings.purposes:
                continue
            items.append(
                Item(
                    destination=name,
                    item_id=row["action_id"],
                    kind="action",
                    version=published.version,
                    payload=row,
                    counts_as_sent=settings.counts_as_sent,
                )
            )
    if "segment_changes" in settings.receives:
        for row in published.segment_changes:
            if settings.segments and row["segment"] not in settings.segments:
                continue
            items.append(
                Item(
                    destination=name,
                    item_id=segment_change_id(row),
                    kind="segment_change",
                    version=published.version,
                    payload=row,
                )
            )
    return items
