"""Segments: saved definitions of contacts, evaluated with every run, with their members and
membership history.

Definitions come from ``[segments.NAME]`` in ``clientela.toml`` and from the CLI/API (kept in
``state/segments.json``, see :func:`saved` and :func:`save`). Every segment is a boolean
expression over the contact facts (:mod:`.facts`), whose behaviour counts are one aggregate
over the events for all segments and rules together.

History is carried from run to run: a run keeps the previous version's ``segment_history``
rows from before its as-of time, derives who was in at that point (the latest change of each
contact), and appends ``entered`` / ``left`` at its own as-of time. Rows at exactly the as-of
time are recomputed rather than kept, so re-running the same as-of gives the same history
(also after a definition changed), and a replay at an earlier as-of never sees later changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
from ibis import _
from pydantic import ValidationError

from clientela.activation import conditions as cond
from clientela.activation.facts import FACT_COLUMNS, contact_facts, with_counts
from clientela.activation.settings import SegmentDefinition
from clientela.activation.tables import (
    SEGMENT_HISTORY_SCHEMA,
    SEGMENT_MEMBERS_SCHEMA,
    SEGMENTS_SCHEMA,
)
from clientela.config import Settings
from clientela.engine import Engine
from clientela.engine.portable import union_all
from clientela.errors import ClientelaError
from clientela.workspace import Workspace

__all__ = [
    "FACT_COLUMNS",
    "SegmentError",
    "Segments",
    "contact_facts",
    "definitions",
    "evaluate",
    "parse",
    "save",
    "saved",
]

SAVED_FILE = "segments.json"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class SegmentError(ClientelaError):
    """A segment definition (or its name) is not valid; the message names segment and field."""


@dataclass(frozen=True)
class Segments:
    definitions: ir.Table
    """:data:`~clientela.activation.tables.SEGMENTS_SCHEMA`"""
    members: ir.Table
    """:data:`~clientela.activation.tables.SEGMENT_MEMBERS_SCHEMA`"""
    history: ir.Table
    """:data:`~clientela.activation.tables.SEGMENT_HISTORY_SCHEMA`"""


def parse(name: str, raw: Any) -> SegmentDefinition:
    """A segment definition from plain data, or an error naming the segment and field."""
    if not NAME.match(name):
        raise SegmentError(
            f"segment name {name!r}: lowercase letters, digits and _ (starting with a letter)"
        )
    try:
        return SegmentDefinition.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(definition)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise SegmentError(f"segment {name!r}: {problems}") from None


def saved(workspace: Workspace) -> dict[str, SegmentDefinition]:
    """Segments created from the CLI or the API (kept in ``state/segments.json``)."""
    path = workspace.state_dir / SAVED_FILE
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ClientelaError(f"{path}: not a readable segments file ({exc})") from None
    return {name: parse(name, body) for name, body in raw.items()}


def save(workspace: Workspace, name: str, definition: SegmentDefinition) -> None:
    """Keep a segment created from the CLI or the API (replacing a saved one of that name).
    A saved segment may not shadow one of ``clientela.toml``, nor name unknown segments."""
    if name in workspace.settings.segments:
        raise SegmentError(
            f"segment {name!r} is defined in clientela.toml ([segments.{name}]); "
            "choose another name or edit it there"
        )
    parse(name, definition.model_dump(by_alias=True, exclude_none=True))
    current = saved(workspace)
    current[name] = definition
    known = {**workspace.settings.segments, **current}
    _order(known)
    body = {n: {"description": d.description, **d.definition()} for n, d in sorted(current.items())}
    path = workspace.state_dir / SAVED_FILE
    with workspace.atomic_file(path) as tmp:
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def definitions(
    settings: Settings, saved: dict[str, SegmentDefinition]
) -> dict[str, tuple[str, SegmentDefinition]]:
    """Every segment by name with its source (``config`` or ``saved``), config ones first."""
    clash = sorted(set(settings.segments) & set(saved))
    if clash:
        raise ClientelaError(
            f"saved segment(s) {', '.join(clash)} shadow [segments.NAME] of clientela.toml: "
            "rename or delete them in state/segments.json"
        )
    out = {n: ("config", d) for n, d in settings.segments.items()}
    out.update({n: ("saved", d) for n, d in saved.items()})
    return out


def _order(known: dict[str, SegmentDefinition]) -> list[str]:
    """Segment names so that each comes after the segments it tests membership of."""
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            loop = " -> ".join([*visiting[visiting.index(name) :], name])
            raise ClientelaError(f"segments test each other's membership in a loop: {loop}")
        visiting.append(name)
        for other in cond.segments_named(known[name].parts()):
            if other not in known:
                raise ClientelaError(
                    f"segment {name!r}: segment = {other!r} is not a segment "
                    f"(known: {', '.join(sorted(known)) or 'none'})"
                )
            visit(other)
        visiting.pop()
        done.append(name)

    for name in known:
        visit(name)
    return done


def _utc(moment: datetime) -> ir.TimestampScalar:
    return ibis.literal(moment).cast("timestamp('UTC')")


def evaluate(
    engine: Engine,
    settings: Settings,
    saved: dict[str, SegmentDefinition],
    facts: ir.Table,
    contact_events: ir.Table,
    previous_history: ir.Table | None,
    moment: datetime,
) -> Segments:
    """Every segment's members as of ``moment`` and the history carried from the previous
    run (``previous_history``: the last published ``segment_history``, or None)."""
    known = definitions(settings, saved)
    order = _order({n: d for n, (_src, d) in known.items()})
    every = [c for _src, d in known.values() for c in d.parts()]
    missing = [t for t in cond.traits(every) if cond.trait_column(t) not in facts.columns]
    if missing:
        raise ClientelaError(
            f"the facts have no trait column for {', '.join(missing)}: "
            "build them with contact_facts(..., saved=...)"
        )
    table = with_counts(facts, contact_events, every, int(moment.timestamp()))
    tests: dict[str, ir.BooleanValue] = {}
    for name in order:
        tests[name] = cond.every(known[name][1].parts(), table, tests.__getitem__)
    flags = {f"s_{i}": tests[n] for i, n in enumerate(order)}
    members = _members(engine, table, order, flags)
    history, members = _history(members, previous_history, list(known), moment)
    counts = members.group_by("segment").aggregate(members=_.count())
    rows = ibis.memtable(
        {
            "segment": list(known),
            "description": [d.description for _src, d in known.values()],
            "source": [src for src, _d in known.values()],
            "definition": [
                json.dumps(d.definition(), sort_keys=True) for _src, d in known.values()
            ],
        },
        schema={
            "segment": "string",
            "description": "string",
            "source": "string",
            "definition": "string",
        },
    )
    defs = rows.left_join(counts, "segment").mutate(members=_.members.fill_null(0))
    return Segments(
        definitions=defs.select(*SEGMENTS_SCHEMA.names).cast(ibis.schema(SEGMENTS_SCHEMA)),
        members=members.select(*SEGMENT_MEMBERS_SCHEMA.names),
        history=history,
    )


def _members(
    engine: Engine, table: ir.Table, order: list[str], flags: dict[str, ir.BooleanValue]
) -> ir.Table:
    """segment, contact_id of every member as of the run (one scan of the facts computes
    every segment's flag; one branch per segment reads the cached flags)."""
    if not order:
        return ibis.memtable(SEGMENT_MEMBERS_SCHEMA.empty_table()).select("segment", "contact_id")
    flagged = engine.cache(table.select("contact_id", **flags))
    return union_all(
        [
            flagged.filter(flagged[f"s_{i}"].fill_null(False)).select(
                segment=ibis.literal(name), contact_id=_.contact_id
            )
            for i, name in enumerate(order)
        ]
    )


def _history(
    members: ir.Table, previous: ir.Table | None, names: list[str], moment: datetime
) -> tuple[ir.Table, ir.Table]:
    """(segment_history, segment_members with ``since``)."""
    at = _utc(moment)
    empty = ibis.memtable(SEGMENT_HISTORY_SCHEMA.empty_table())
    kept = empty if previous is None else previous.select(*SEGMENT_HISTORY_SCHEMA.names)
    kept = kept.filter((kept.at < at) & kept.segment.isin(names or [""]))
    # Who was in just before this run: the latest change of each (segment, contact).
    latest = kept.group_by("segment", "contact_id").aggregate(last_at=_.at.max())
    last = kept.join(
        latest,
        (kept.segment == latest.segment)
        & (kept.contact_id == latest.contact_id)
        & (kept.at == latest.last_at),
    ).select(kept.segment, kept.contact_id, kept.change, kept.at)
    was_in = last.filter(last.change == "entered").select(
        p_segment=_.segment, p_contact=_.contact_id, p_since=_.at
    )
    now = members.select(n_segment=_.segment, n_contact=_.contact_id)
    both = now.outer_join(
        was_in, (now.n_segment == was_in.p_segment) & (now.n_contact == was_in.p_contact)
    )
    entered = both.filter(both.p_contact.isnull()).select(
        segment=_.n_segment, contact_id=_.n_contact, change=ibis.literal("entered"), at=at
    )
    left = both.filter(both.n_contact.isnull()).select(
        segment=_.p_segment, contact_id=_.p_contact, change=ibis.literal("left"), at=at
    )
    current = both.filter(both.n_contact.notnull()).select(
        segment=_.n_segment,
        contact_id=_.n_contact,
        since=ibis.coalesce(both.p_since, at),
    )
    schema = ibis.schema(SEGMENT_HISTORY_SCHEMA)
    history = union_all([t.cast(schema) for t in (kept, entered, left)])
    return history, current.cast(ibis.schema(SEGMENT_MEMBERS_SCHEMA))
