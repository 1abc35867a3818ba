"""What the tracking-plan check finds: the concepts the settings read, the event names
seen, suggestions and the TOML that maps unused names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Concept:
    """Something the settings read from events, and how many landed events it gets."""

    kind: str
    """signal, stage events, metric events, metric field"""
    name: str
    """``b2b: demo request``, ``stages.events.purchase``, ``metrics.fields.rating``"""
    wants: str
    """what it reads, in words: ``Form Submitted with form_id = demo-request``"""
    used_by: str
    events: int
    """landed events it gets (for a field: events of its lists that carry the property)"""
    of: int | None = None
    """for a field: events of its lists (the ones that should carry it)"""
    names: list[str] = field(default_factory=list)
    """the track event names it reads"""

    @property
    def has_data(self) -> bool:
        return self.events > 0


@dataclass
class Suggestion:
    """A concept an unused event name may mean, and the settings that map it."""

    concept: str
    why: str
    score: float
    section: str
    """the TOML table to replace (or add), e.g. ``models.b2b`` or ``metrics.events``"""


@dataclass
class EventName:
    """One event name seen (track events by name; other calls by type)."""

    type: str
    name: str
    events: int
    feeds: list[str]
    properties: list[tuple[str, int]] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return bool(self.feeds)


@dataclass
class TomlSection:
    """A complete ``clientela.toml`` table that maps unused names."""

    table: str
    text: str
    replaces: bool
    """True: the workspace's file already has this table; replace it (and its sub-tables)."""
    maps: list[str]
    """the event names it maps"""


@dataclass
class TrackingPlan:
    """The result of :func:`check`."""

    events: int
    concepts: list[Concept]
    names: list[EventName]
    toml: list[TomlSection]
    playbook: str = "no playbook exists yet: no playbook inputs to check"

    @property
    def unused(self) -> list[EventName]:
        return [n for n in self.names if not n.used]

    @property
    def without_data(self) -> list[Concept]:
        return [c for c in self.concepts if not c.has_data]

    def to_json(self) -> dict[str, Any]:
        """The report as plain data (``clientela check --format json``)."""
        return {
            "events": self.events,
            "concepts": [asdict(c) | {"has_data": c.has_data} for c in self.concepts],
            "names": [asdict(n) | {"used": n.used} for n in self.names],
            "unused": [n.name for n in self.unused],
            "toml": [asdict(t) for t in self.toml],
            "playbook": self.playbook,
        }
