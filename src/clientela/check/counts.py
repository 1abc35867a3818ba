"""Counting the landed events: one GROUP BY per (type, event name) with every signal's
filter summed, one per (event name, property key)."""

from __future__ import annotations

from typing import Any

import ibis
from ibis import _

from clientela.check.reads import all_signals
from clientela.config import Settings
from clientela.engine import Engine
from clientela.scoring.engagement import signal_filter
from clientela.scoring.events import narrow


def name_counts(
    engine: Engine, settings: Settings, with_signals: bool
) -> tuple[list[dict[str, Any]], int]:
    """One GROUP BY over the landed events: (type, name, events[, s0, s1, ...]) rows, where
    ``s<i>`` counts the events of the group that signal ``i`` of :func:`all_signals` takes."""
    events = engine.landed("events")
    if with_signals:
        events = narrow(engine, settings, events)
    signals = all_signals(settings) if with_signals else []
    keyed = events.mutate(
        _name=ibis.ifelse(_.type == "track", _.event.fill_null("(no name)"), _.type)
    )
    sums = {
        f"s{i}": signal_filter(keyed, s).fill_null(False).cast("int64").sum()
        for i, (_m, s) in enumerate(signals)
    }
    rows = engine.to_arrow(
        keyed.group_by(type=_.type, name=_._name).aggregate(events=_.count(), **sums)
    ).to_pylist()
    rows.sort(key=lambda r: (-r["events"], r["type"], r["name"]))
    return rows, len(signals)


def property_keys(engine: Engine, names: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Property keys of the track events with these names: name → [(key, events)], most
    frequent first (one GROUP BY over the exploded properties)."""
    if not names:
        return {}
    events = engine.landed("events")
    picked = events.filter((_.type == "track") & _.event.isin(names)).select("event", "properties")
    entries = engine.json_entries(picked, "properties", ["event"])
    rows = engine.to_arrow(
        entries.group_by(["event", "key"]).aggregate(events=ibis._.count())
    ).to_pylist()
    out: dict[str, list[tuple[str, int]]] = {}
    for r in sorted(rows, key=lambda r: (r["event"], -r["events"], r["key"])):
        out.setdefault(r["event"], []).append((r["key"], r["events"]))
    return out
