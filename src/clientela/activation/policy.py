"""The contact policy: consent, do-not-contact, frequency caps, quiet hours and non-buyer
classes, enforced before anything leaves.

(Contract stub: no consent rows; every proposed action planned.)
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from clientela.activation.tables import CONSENT_SCHEMA
from clientela.config import Settings
from clientela.engine import Engine


def consent(
    engine: Engine,
    settings: Settings,
    contact_events: ir.Table,
    contact_traits: ir.Table,
    moment: datetime,
) -> ir.Table:
    """:data:`~clientela.activation.tables.CONSENT_SCHEMA`: the consent in force."""
    return ibis.memtable(CONSENT_SCHEMA.empty_table())


def apply(
    engine: Engine,
    settings: Settings,
    proposed: ir.Table,
    facts: ir.Table,
    consent: ir.Table,
    sent: ir.Table,
    contact_events: ir.Table,
    moment: datetime,
) -> ir.Table:
    """:data:`~clientela.activation.tables.ACTIONS_SCHEMA`: every proposed action, planned or
    suppressed with its reason. ``sent`` holds the messages that went out
    (:data:`~clientela.activation.tables.SENT_SCHEMA`)."""
    return proposed.mutate(
        status=ibis.literal("planned"), suppressed_reason=ibis.null("string")
    ).select(
        "action_id",
        "contact_id",
        "action",
        "channel",
        "purpose",
        "priority",
        "reason",
        "products",
        "status",
        "suppressed_reason",
        "as_of",
    )
