"""Reading the published programme: one contact's loyalty and the programme summary, for
``clientela loyalty``, ``contacts show`` and the API.

A version published before the loyalty tables existed reads as an empty programme, never
as an error.
"""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
from ibis import _

from clientela.activation.tables import LOYALTY_LEDGER_SCHEMA, LOYALTY_SCHEMA, REFERRALS_SCHEMA

SCHEMAS = {
    "loyalty_ledger": LOYALTY_LEDGER_SCHEMA,
    "loyalty": LOYALTY_SCHEMA,
    "referrals": REFERRALS_SCHEMA,
}


def table(engine: Any, name: str) -> ir.Table:
    """The published loyalty table ``name``; empty (of its shape) when the published
    version was written before it existed."""
    found: ir.Table = engine.published_or_empty(name, SCHEMAS[name])
    return found


def _rows(engine: Any, expr: ir.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = engine.to_arrow(expr).to_pylist()
    return rows


def contact(engine: Any, contact_id: str) -> dict[str, Any]:
    """``member`` (the ``loyalty`` row, None for a non-member), ``ledger`` (oldest first),
    ``referrals`` (the invitations they sent) and ``referred_by`` (the one that won them)."""
    balances = table(engine, "loyalty")
    ledger = table(engine, "loyalty_ledger")
    referrals = table(engine, "referrals")
    member = _rows(engine, balances.filter(balances.contact_id == contact_id))
    rows = _rows(
        engine,
        ledger.filter(ledger.contact_id == contact_id).order_by(["at", "kind", "message_id"]),
    )
    sent = _rows(
        engine,
        referrals.filter(referrals.referrer_id == contact_id).order_by(["referred_at", "invited"]),
    )
    won = _rows(engine, referrals.filter(referrals.invited_id == contact_id))
    return {
        "contact_id": contact_id,
        "member": member[0] if member else None,
        "ledger": rows,
        "referrals": sent,
        "referred_by": won[0] if won else None,
    }


def summary(engine: Any, tiers_order: list[str] | None = None) -> dict[str, Any]:
    """The programme as of the published run: members, points held (the liability),
    issued, redeemed and expired points, the tier mix (in ``tiers_order``, lowest first,
    when given) and the referrals."""
    balances = table(engine, "loyalty")
    ledger = table(engine, "loyalty_ledger")
    referrals = table(engine, "referrals")
    totals = _rows(
        engine,
        balances.aggregate(
            members=_.count(),
            holding=(_.balance > 0).cast("int64").sum(),
            liability=_.balance.sum(),
        ),
    )[0]
    flows = {
        r["kind"]: r["points"]
        for r in _rows(engine, ledger.group_by("kind").aggregate(points=_.points.sum()))
    }
    tiers = _rows(
        engine,
        balances.group_by("tier")
        .aggregate(members=_.count(), balance=_.balance.sum())
        .order_by("tier"),
    )
    rank = {name: i for i, name in enumerate(tiers_order or [])}
    tiers.sort(key=lambda t: (rank.get(t["tier"], len(rank)), t["tier"]))
    sent = _rows(
        engine,
        referrals.aggregate(
            invitations=_.count(),
            joined=_.invited_id.notnull().cast("int64").sum(),
            converted=_.converted_at.notnull().cast("int64").sum(),
            reward_points=_.reward_points.sum(),
        ),
    )[0]
    invitations = int(sent["invitations"] or 0)
    converted = int(sent["converted"] or 0)
    return {
        "members": int(totals["members"] or 0),
        "members_with_points": int(totals["holding"] or 0),
        "liability": round(float(totals["liability"] or 0.0), 6),
        "issued": round(float(flows.get("earned") or 0.0), 6),
        "redeemed": round(-float(flows.get("redeemed") or 0.0), 6),
        "expired": round(-float(flows.get("expired") or 0.0), 6),
        "tiers": [
            {
                "tier": t["tier"],
                "members": int(t["members"]),
                "balance": round(float(t["balance"] or 0.0), 6),
            }
            for t in tiers
        ],
        "referrals": {
            "invitations": invitations,
            "joined": int(sent["joined"] or 0),
            "converted": converted,
            "conversion_rate": converted * 100.0 / invitations if invitations else None,
            "reward_points": round(float(sent["reward_points"] or 0.0), 6),
        },
    }
