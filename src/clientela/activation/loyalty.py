"""Loyalty and referral programmes: the points ledger, balances and tiers, referrals.

(Contract stub: returns empty tables of the agreed shapes until the programme is built.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from clientela.activation.tables import LOYALTY_LEDGER_SCHEMA, LOYALTY_SCHEMA, REFERRALS_SCHEMA
from clientela.config import Settings
from clientela.engine import Engine


@dataclass(frozen=True)
class Loyalty:
    ledger: ir.Table
    """:data:`~clientela.activation.tables.LOYALTY_LEDGER_SCHEMA`"""
    balances: ir.Table
    """:data:`~clientela.activation.tables.LOYALTY_SCHEMA`"""
    referrals: ir.Table
    """:data:`~clientela.activation.tables.REFERRALS_SCHEMA`"""


def build(
    engine: Engine,
    settings: Settings,
    contact_events: ir.Table,
    classes: ir.Table,
    moment: datetime,
) -> Loyalty:
    """The loyalty ledger, balances and referrals as of ``moment``."""
    return Loyalty(
        ledger=ibis.memtable(LOYALTY_LEDGER_SCHEMA.empty_table()),
        balances=ibis.memtable(LOYALTY_SCHEMA.empty_table()),
        referrals=ibis.memtable(REFERRALS_SCHEMA.empty_table()),
    )
