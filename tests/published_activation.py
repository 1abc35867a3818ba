"""Hand-made published versions for the tests of delivery (destinations, ``deliver``, the
deliveries API), while the playbook, policy and segments are being built.

A version holds only the tables delivery reads: ``actions``, ``segment_history`` and
``run_info`` (computing a whole real run takes ~10 s even on an empty workspace; delivery
never reads the other tables).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import ibis

from clientela.activation.tables import ACTIONS_SCHEMA, SEGMENT_HISTORY_SCHEMA
from clientela.engine import connect
from clientela.workspace import Workspace

AS_OF = datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC)
EARLIER = AS_OF - timedelta(days=1)


def action(
    aid: str,
    cid: str,
    name: str,
    purpose: str,
    status: str = "planned",
    channel: str = "email",
    **values: Any,
) -> dict[str, Any]:
    """One ``actions`` row (the suppressed ones with a reason)."""
    row: dict[str, Any] = dict.fromkeys(ACTIONS_SCHEMA.names)
    row.update(action_id=aid, contact_id=cid, action=name, channel=channel, purpose=purpose)
    row.update(priority=3, reason=f"{name} for {cid}", status=status, as_of=AS_OF)
    if status == "suppressed":
        row["suppressed_reason"] = "consent: email withdrawn"
    row.update(values)
    return row


ACTIONS = [
    action("act-1", "c1", "thank_you", "transactional"),
    action("act-2", "c2", "onboarding", "service"),
    action("act-3", "c3", "win_back", "marketing", products='[{"product_id": "p1"}]'),
    action("act-4", "c4", "sales_call", "sales", channel="phone"),
    action("act-5", "c5", "review_ask", "marketing"),
    action("act-6", "c6", "courtesy_reply", "courtesy"),
    action("sup-1", "c7", "win_back", "marketing", status="suppressed"),
    action("sup-2", "c8", "review_ask", "marketing", status="suppressed"),
]
PLANNED = [a["action_id"] for a in ACTIONS if a["status"] == "planned"]
SUPPRESSED = [a["action_id"] for a in ACTIONS if a["status"] == "suppressed"]

HISTORY = [
    {"segment": "vip", "contact_id": "c1", "change": "entered", "at": EARLIER},  # an older run
    {"segment": "vip", "contact_id": "c2", "change": "entered", "at": AS_OF},
    {"segment": "vip", "contact_id": "c1", "change": "left", "at": AS_OF},
    {"segment": "quiet", "contact_id": "c3", "change": "entered", "at": AS_OF},
]
"""Three changes the latest run saw (at ``AS_OF``) and one of an earlier run."""


def publish(
    ws: Workspace,
    actions: list[dict[str, Any]] | None = None,
    history: list[dict[str, Any]] | None = None,
    as_of: datetime = AS_OF,
) -> str:
    """Publish a version with these actions and membership history; returns its name."""
    actions = ACTIONS if actions is None else actions
    history = HISTORY if history is None else history
    tables = {
        "actions": ibis.memtable(
            {n: [r[n] for r in actions] for n in ACTIONS_SCHEMA.names},
            schema=ibis.schema(ACTIONS_SCHEMA),
        ),
        "segment_history": ibis.memtable(
            {n: [r[n] for r in history] for n in SEGMENT_HISTORY_SCHEMA.names},
            schema=ibis.schema(SEGMENT_HISTORY_SCHEMA),
        ),
        "run_info": ibis.memtable({"as_of": [as_of], "models": ["main"]}).cast(
            {"as_of": "timestamp('UTC')"}
        ),
    }
    engine = connect(ws)
    try:
        return engine.publish(tables)
    finally:
        engine.close()
