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
from ibis import _

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


FACT_COLUMNS = (
    "contact_id",
    "account_id",
    "email",
    "audience_class",
    "stage",
    "stage_since",
    "grade",
    "fit",
    "engagement",
    "orders",
    "first_purchase_at",
    "last_active_at",
    "recency_days",
    "subscription_status",
    "plan",
    "mrr",
    "clv",
    "p_alive",
    "churn_risk",
    "purchase_propensity",
    "loyalty_tier",
    "loyalty_balance",
    "timezone",
)
"""The columns of :func:`contact_facts`, the fields segments and playbook rules test."""


def contact_facts(
    engine: Engine, settings: Settings, inputs: Inputs, loyalty: ir.Table, moment: datetime
) -> ir.Table:
    """One row per contact with every field a segment or a playbook rule can test: the
    ``lifecycle`` row (class, grade, fit, engagement, stage, purchases, subscription), the
    predictions (CLV, P(alive), churn risk, purchase propensity), the loyalty tier and
    balance, the contact's email and time zone (trait ``timezone``, else null)."""
    life = inputs.lifecycle
    pred = inputs.predictions.select(
        "contact_id", "clv", "p_alive", "churn_risk", "purchase_propensity"
    )
    points = loyalty.select("contact_id", loyalty_tier=_.tier, loyalty_balance=_.balance)
    people = inputs.contacts.select("contact_id", "email")
    zones = inputs.contact_traits.filter(_.trait == "timezone").select(
        "contact_id", timezone=_.value.cast("string")
    )
    joined = (
        life.left_join(pred, "contact_id")
        .left_join(points, "contact_id")
        .left_join(people, "contact_id")
        .left_join(zones, "contact_id")
    )
    return engine.cache(joined.select(*FACT_COLUMNS))


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
