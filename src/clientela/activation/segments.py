"""Segments: saved definitions of contacts, evaluated with every run, with their members and
membership history.

(Contract stub: no segments until the condition language is built.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from clientela.activation.settings import SegmentDefinition
from clientela.activation.tables import (
    SEGMENT_HISTORY_SCHEMA,
    SEGMENT_MEMBERS_SCHEMA,
    SEGMENTS_SCHEMA,
)
from clientela.config import Settings
from clientela.engine import Engine
from clientela.workspace import Workspace

if TYPE_CHECKING:
    from clientela.activation.job import Inputs


@dataclass(frozen=True)
class Segments:
    definitions: ir.Table
    """:data:`~clientela.activation.tables.SEGMENTS_SCHEMA`"""
    members: ir.Table
    """:data:`~clientela.activation.tables.SEGMENT_MEMBERS_SCHEMA`"""
    history: ir.Table
    """:data:`~clientela.activation.tables.SEGMENT_HISTORY_SCHEMA`"""


def saved(workspace: Workspace) -> dict[str, SegmentDefinition]:
    """Segments created from the CLI or the API (kept in the workspace)."""
    return {}


def contact_facts(
    engine: Engine, settings: Settings, inputs: Inputs, loyalty: ir.Table, moment: datetime
) -> ir.Table:
    """One row per contact with every field a segment or a playbook rule can test (stage,
    class, grade, fit, engagement, traits, account, predictions, loyalty tier, ...)."""
    return inputs.contacts.select("contact_id")


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
    return Segments(
        definitions=ibis.memtable(SEGMENTS_SCHEMA.empty_table()),
        members=ibis.memtable(SEGMENT_MEMBERS_SCHEMA.empty_table()),
        history=ibis.memtable(SEGMENT_HISTORY_SCHEMA.empty_table()),
    )
