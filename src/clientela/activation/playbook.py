"""The next-best-action playbook: at most one proposed action per contact per run.

(Contract stub: proposes nothing until the playbook is built.)
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from clientela.activation.tables import PROPOSED_SCHEMA
from clientela.config import Settings
from clientela.engine import Engine


def propose(
    engine: Engine,
    settings: Settings,
    facts: ir.Table,
    contact_events: ir.Table,
    members: ir.Table,
    recommendations: ir.Table,
    moment: datetime,
) -> ir.Table:
    """:data:`~clientela.activation.tables.PROPOSED_SCHEMA`: one row per contact the
    playbook has an action for."""
    return ibis.memtable(PROPOSED_SCHEMA.empty_table())
