"""The tracking plan check (``clientela check``): do the landed events feed the settings?

Every *concept* the settings read from events is listed with how many landed events it gets:

* each scoring signal of each model (counted with the scoring's own filter, ``where``
  tests, page paths and channels included);
* each ``[stages.events]`` list, with the stage rules whose features it drives;
* each ``[metrics.events]`` list and each ``[metrics.fields]`` property, with the metrics
  that read them;
* playbook inputs: there is no playbook yet, so there is nothing to check (said so).

Every event name seen is listed the other way round: its count, the concepts it feeds and,
for the most frequent names, its property keys. A track event name that feeds no concept
counts only as generic activity; the check looks for the concept it most likely means (close
names after light stemming and a few domain synonyms: *answered* ~ *replied*) and writes the
``clientela.toml`` sections that map it.

The counts come from two queries over the landed events: one GROUP BY (type, event name)
that also sums every signal's filter, and one GROUP BY (event name, property key) over the
most frequent and the unused names. Both are Ibis (and the engine's JSON explode), so the
check runs on DuckDB and Spark alike.

The package, by concept: :mod:`~clientela.check.reads` (what the settings read from
events), :mod:`~clientela.check.counts` (the two queries), :mod:`~clientela.check.matching`
(close names), :mod:`~clientela.check.mapping` (the TOML that maps them) and
:mod:`~clientela.check.results` (what the check returns).
"""

from __future__ import annotations

import tomllib
from typing import Any

from clientela.check.counts import name_counts, property_keys
from clientela.check.mapping import toml_sections, toml_table
from clientela.check.matching import Target, best_targets, find_targets, similarity, words
from clientela.check.reads import (
    FEATURE_EVENTS,
    FIELD_EVENTS,
    METRICS_BY_EVENTS,
    METRICS_BY_STAGE_EVENTS,
    NON_TRACK_FEEDS,
    all_signals,
    event_lists,
    list_concepts,
    reader_lists,
    signal_wants,
)
from clientela.check.results import Concept, EventName, Suggestion, TomlSection, TrackingPlan
from clientela.config import Settings
from clientela.engine import Engine, connect
from clientela.workspace import Workspace

__all__ = [
    "FEATURE_EVENTS",
    "FIELD_EVENTS",
    "METRICS_BY_EVENTS",
    "METRICS_BY_STAGE_EVENTS",
    "Concept",
    "EventName",
    "Suggestion",
    "TomlSection",
    "TrackingPlan",
    "check",
    "event_lists",
    "reader_lists",
    "similarity",
    "toml_table",
    "tracking_summary",
    "unused_event_names",
    "words",
]

TOP_NAMES = 15
"""Property keys are listed for this many of the most frequent track event names."""
TOP_KEYS = 8
"""Property keys shown per event name."""


def check(engine: Engine, workspace: Workspace) -> TrackingPlan:
    """Check the landed events against the workspace's settings (see the module docstring)."""
    settings = workspace.settings
    rows, n_signals = name_counts(engine, settings, with_signals=True)
    signal_counts = [sum(r[f"s{i}"] for r in rows) for i in range(n_signals)]
    track = {r["name"]: r["events"] for r in rows if r["type"] == "track"}
    feeds = _feeds(settings, rows, n_signals)
    unused = [r["name"] for r in rows if r["type"] == "track" and not feeds[(r["type"], r["name"])]]
    field_names = {
        n
        for lists in FIELD_EVENTS.values()
        for k in lists
        for n in settings.metrics.events.model_dump().get(k, [])
        if n in track
    }
    top = [r["name"] for r in rows if r["type"] == "track"][:TOP_NAMES]
    keys = property_keys(engine, sorted({*top, *unused, *field_names}))
    concepts = list_concepts(settings, track, signal_counts, keys)
    targets = find_targets(settings)
    names: list[EventName] = []
    chosen: list[tuple[str, Target]] = []
    for r in rows:
        entry = EventName(
            type=r["type"],
            name=r["name"],
            events=r["events"],
            feeds=feeds[(r["type"], r["name"])],
            properties=keys.get(r["name"], [])[:TOP_KEYS] if r["type"] == "track" else [],
        )
        if r["type"] == "track" and not entry.used:
            best = best_targets(r["name"], targets)[:3]
            entry.suggestions = [
                Suggestion(
                    concept=t.label,
                    why=f"names {score:.0%} alike",
                    score=score,
                    section=", ".join(f"models.{m}" for m in t.models) or t.table,
                )
                for score, t in best
            ]
            if best:
                chosen.append((r["name"], best[0][1]))
        names.append(entry)
    sections = toml_sections(settings, _raw_settings(workspace), chosen)
    for entry in names:
        for s in entry.suggestions[:1]:
            s.section = ", ".join(t.table for t in sections if entry.name in t.maps)
    total = sum(r["events"] for r in rows)
    return TrackingPlan(events=total, concepts=concepts, names=names, toml=sections)


def _raw_settings(workspace: Workspace) -> dict[str, Any]:
    path = workspace.root / "clientela.toml"
    if not path.exists():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _feeds(
    settings: Settings, rows: list[dict[str, Any]], n_signals: int
) -> dict[tuple[str, str], list[str]]:
    """(type, name) → the concepts its events feed (a signal only when some of its events
    pass the signal's tests)."""
    signals = all_signals(settings)
    lists = {**event_lists(settings), **reader_lists(settings)}
    out: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        fed = []
        for i, (model, s) in enumerate(signals[:n_signals]):
            if r[f"s{i}"] > 0:
                fed.append(f"signal {model}: {s.name}")
            elif r["type"] == "track" and s.type == "track" and r["name"] in s.event:
                fed.append(f"signal {model}: {s.name} (none pass: {signal_wants(s)})")
        if r["type"] == "track":
            fed += [
                f"{table}.{key}"
                for table, by_key in lists.items()
                for key, names in by_key.items()
                if r["name"] in names
            ]
        elif r["type"] in NON_TRACK_FEEDS:
            fed.append(NON_TRACK_FEEDS[r["type"]])
        out[(r["type"], r["name"])] = fed
    return out


def _used_names(settings: Settings) -> set[str]:
    """Every track event name some concept reads (by name; ``where`` tests aside)."""
    used: set[str] = set()
    for _model, signal in all_signals(settings):
        if signal.type == "track":
            used.update(signal.event)
    for lists in [*event_lists(settings).values(), *reader_lists(settings).values()]:
        for names in lists.values():
            used.update(names)
    return used


def unused_event_names(engine: Engine, settings: Settings) -> list[tuple[str, int]]:
    """Track event names no signal, stage list or metric list reads, with their counts, most
    frequent first (one GROUP BY over the landed events)."""
    rows, _n = name_counts(engine, settings, with_signals=False)
    used = _used_names(settings)
    return [
        (r["name"], r["events"]) for r in rows if r["type"] == "track" and r["name"] not in used
    ]


def tracking_summary(workspace: Workspace, shown: int = 3) -> str | None:
    """One line for the end of ``import`` / ``ingest``: the event names that feed nothing
    (``2 event names feed nothing: Demo Requested (412), Email Clicked (96); run `clientela
    check```), or None when every name feeds something."""
    # Embedded and in memory whatever the workspace's engine: the landed Parquet is all it
    # reads, so it starts no Spark session and takes no lock a running job holds.
    engine = connect(workspace, "duckdb", reader=True)
    try:
        unused = unused_event_names(engine, workspace.settings)
    finally:
        engine.close()
    if not unused:
        return None
    listed = ", ".join(f"{name} ({count:,})" for name, count in unused[:shown])
    more = f", and {len(unused) - shown} more" if len(unused) > shown else ""
    noun = "event name feeds" if len(unused) == 1 else "event names feed"
    return f"{len(unused)} {noun} nothing: {listed}{more}; run `clientela check`"
