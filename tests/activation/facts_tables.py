"""Hand-built contact facts and events for the segment and playbook tests (memtables of the
shapes :func:`clientela.activation.segments.contact_facts` and the job's events have)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from clientela.activation.conditions import FACT_KINDS

_TYPES = {"string": "string", "number": "float64", "bool": "boolean", "time": "timestamp('UTC')"}

EVENT_SCHEMA = {
    "contact_id": "string",
    "message_id": "string",
    "type": "string",
    "event": "string",
    "path": "string",
    "secs": "int64",
    "p_plan": "string",
}


def facts(rows: list[dict[str, Any]], **traits: dict[str, str]) -> ir.Table:
    """One row per contact: every fact null unless given; ``audience_class`` buyer and
    ``orders`` 0 by default. ``traits`` become ``t_<name>`` columns ({contact: value})."""
    schema = {c: _TYPES[k] for c, k in FACT_KINDS.items()}
    full = [{"audience_class": "buyer", "orders": 0.0} | r for r in rows]
    data = {c: [r.get(c) for r in full] for c in schema}
    for name, values in traits.items():
        schema[f"t_{name}"] = "string"
        data[f"t_{name}"] = [values.get(r["contact_id"]) for r in full]
    return ibis.memtable(data, schema=schema)


def events(rows: list[tuple[str, str, str | None, datetime, dict[str, str] | None]]) -> ir.Table:
    """(contact, type, event or path, when, properties) rows."""
    data: dict[str, list[Any]] = {c: [] for c in EVENT_SCHEMA}
    for i, (contact, kind, what, at, props) in enumerate(rows):
        data["contact_id"].append(contact)
        data["message_id"].append(f"m{i}")
        data["type"].append(kind)
        data["event"].append(what if kind == "track" else None)
        data["path"].append(what if kind == "page" else None)
        data["secs"].append(int(at.timestamp()))
        data["p_plan"].append((props or {}).get("plan"))
    return ibis.memtable(data, schema=EVENT_SCHEMA)
