"""Reading segments for the command line and the API: the definitions in force (config and
saved) beside the last published counts, a segment's members and its history.

A published version written before the segment tables existed reads as empty (never an
error); a segment defined or saved after the last run is listed with ``members`` null
("not evaluated yet")."""

from __future__ import annotations

import json
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from clientela.activation import segments
from clientela.activation.tables import (
    SEGMENT_HISTORY_SCHEMA,
    SEGMENT_MEMBERS_SCHEMA,
    SEGMENTS_SCHEMA,
)
from clientela.errors import NotFoundError

SCHEMAS: dict[str, pa.Schema] = {
    "segments": SEGMENTS_SCHEMA,
    "segment_members": SEGMENT_MEMBERS_SCHEMA,
    "segment_history": SEGMENT_HISTORY_SCHEMA,
}


def table(engine: Any, name: str) -> ir.Table:
    """The published segment table ``name`` (empty of its shape when the published version
    has none, or nothing is published yet)."""
    if engine.current_version() is None:
        return ibis.memtable(SCHEMAS[name].empty_table())
    found: ir.Table = engine.published_or_empty(name, SCHEMAS[name])
    return found


def listing(engine: Any) -> list[dict[str, Any]]:
    """Every segment in force (config first, then saved), with its description, source,
    definition (as data) and member count as of the last run (None if not evaluated yet)."""
    ws = engine.workspace
    known = segments.definitions(ws.settings, segments.saved(ws))
    counts = {
        r["segment"]: r["members"] for r in engine.to_arrow(table(engine, "segments")).to_pylist()
    }
    return [
        {
            "segment": name,
            "description": d.description,
            "source": source,
            "definition": d.definition(),
            "members": counts.get(name),
        }
        for name, (source, d) in known.items()
    ]


def one(engine: Any, name: str) -> dict[str, Any]:
    """The listing row of segment ``name``, or NotFoundError naming the known ones."""
    rows = {r["segment"]: r for r in listing(engine)}
    if name not in rows:
        raise NotFoundError(
            f"no segment {name!r} (known: {', '.join(sorted(rows)) or 'none'}); "
            "define it in clientela.toml or with `clientela segments create`"
        )
    return rows[name]


def members(engine: Any, name: str) -> ir.Table:
    """contact_id, email, since of the segment's members, oldest membership first."""
    m = table(engine, "segment_members")
    mine = m.filter(m.segment == name)
    version = engine.current_version()
    if (
        version is None
        or not (engine.workspace.results_dir / version / "contacts.parquet").exists()
    ):
        out = mine.select("contact_id", email=ibis.null("string"), since=mine.since)
    else:
        people = engine.published("contacts").select("contact_id", "email")
        out = mine.left_join(people, mine.contact_id == people.contact_id).select(
            mine.contact_id, people.email, mine.since
        )
    return out.order_by(["since", "contact_id"])


def history(engine: Any, name: str) -> ir.Table:
    """contact_id, change, at of the segment's history, latest first."""
    h = table(engine, "segment_history")
    mine = h.filter(h.segment == name).select("contact_id", "change", "at")
    return mine.order_by([ibis.desc("at"), "contact_id", "change"])


def definition_json(row: dict[str, Any]) -> str:
    return json.dumps(row["definition"], sort_keys=True)
