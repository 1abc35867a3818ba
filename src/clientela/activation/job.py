"""How the main job runs the activation parts, in order: loyalty (points, tiers, referrals),
segments (over every contact fact, loyalty tier included), the playbook (one proposed action
per contact), then the policy (consent, do-not-contact, caps, quiet hours, classes), which
decides what may leave. Delivery happens after publishing (:mod:`.destinations`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from clientela.activation import loyalty, playbook, policy, segments
from clientela.activation.store import sent_messages
from clientela.engine import Engine
from clientela.errors import ClientelaError
from clientela.workspace import Workspace

TABLES = (
    "loyalty_ledger",
    "loyalty",
    "referrals",
    "segments",
    "segment_members",
    "segment_history",
    "consent",
    "actions",
)
"""The published activation tables, in the order they are written."""


@dataclass(frozen=True)
class Inputs:
    """What activation reads from the rest of the job (all as Ibis expressions)."""

    contacts: ir.Table
    """contact_id, account_id, first_seen, last_seen, ... (``contacts``)"""
    contact_traits: ir.Table
    """contact_id, trait, value (``contact_traits``)"""
    contact_events: ir.Table
    """every narrowed event with its contact_id (null for events of no contact); property
    columns ``p_<key>`` for the keys :func:`.settings.property_keys` lists"""
    classes: ir.Table
    """contact_id, audience class (``audience``)"""
    scores: ir.Table
    """the primary model's score per contact (fit, engagement, grade, ...)"""
    stages: ir.Table
    """the current stage per contact (``stage``, ``since``, ...)"""
    stage_history: ir.Table
    predictions: ir.Table
    """``predictions``: CLV, P(alive), churn risk, purchase propensity"""
    recommendations: ir.Table
    memberships: ir.Table
    """contact_id, account_id"""
    lifecycle: ir.Table
    """``lifecycle``: one row per contact with class, score, stage and purchase facts"""


def previous(engine: Engine, name: str) -> ir.Table | None:
    """The table ``name`` of the version published before this run, if there is one."""
    try:
        return engine.published(name)
    except ClientelaError:
        return None


def build(
    engine: Engine, workspace: Workspace, inputs: Inputs, moment: datetime
) -> dict[str, ir.Table]:
    """Every activation table of one run, as of ``moment``."""
    settings = workspace.settings
    points = loyalty.build(engine, settings, inputs.contact_events, inputs.classes, moment)
    kept = segments.saved(workspace)
    facts = segments.contact_facts(engine, settings, inputs, points.balances, moment, kept)
    chosen = segments.evaluate(
        engine,
        settings,
        kept,
        facts,
        inputs.contact_events,
        previous(engine, "segment_history"),
        moment,
    )
    proposed = playbook.propose(
        engine,
        settings,
        facts,
        inputs.contact_events,
        chosen.members,
        inputs.recommendations,
        moment,
    )
    consent = policy.consent(engine, settings, inputs.contact_events, inputs.contact_traits, moment)
    # A native table, not an Arrow scan: DuckDB cannot push a join's bloom filter into one.
    sent = engine.cache(ibis.memtable(sent_messages(workspace)))
    decided = policy.apply(
        engine,
        settings,
        proposed,
        facts,
        consent,
        sent,
        inputs.contact_events,
        moment,
        [entry.entry for entry in policy.do_not_contact(workspace)],
    )
    return {
        "loyalty_ledger": points.ledger,
        "loyalty": points.balances,
        "referrals": points.referrals,
        "segments": chosen.definitions,
        "segment_members": chosen.members,
        "segment_history": chosen.history,
        "consent": consent,
        "actions": decided,
    }
