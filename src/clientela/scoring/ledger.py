"""The score ledger: every point a contact earned or lost, with its rule, event, time and decay.

One row per contribution. For a model and contact, the fit rows add up to the fit score and
the engagement rows add up to the raw engagement points (which the saturating curve maps to
0-100). Caps and clamps are rows too, so the parts always add up.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from clientela.engine.portable import union_all

COLUMNS: dict[str, str] = {
    "contact_id": "string",
    "model": "string",
    "dimension": "string",
    "rule": "string",
    "message_id": "string",
    "event_at": "timestamp('UTC')",
    "raw_points": "float64",
    "points": "float64",
    "decay": "float64",
    "detail": "string",
}

# Points are rounded so every engine publishes the same digits.
DIGITS = 6


def rows(
    table: ir.Table,
    *,
    model: str,
    dimension: str,
    rule: ir.Value | str,
    raw_points: ir.Value | float,
    points: ir.Value | float,
    detail: ir.Value | str,
    message_id: ir.Value | None = None,
    event_at: ir.Value | None = None,
    decay: ir.Value | float = 1.0,
) -> ir.Table:
    """Ledger rows from ``table`` (which has ``contact_id``), in the ledger's column order."""

    def lit(value: ir.Value | str | float | None, dtype: str) -> ir.Value:
        if value is None:
            return ibis.null(dtype)
        if isinstance(value, ir.Value):
            return value.cast(dtype)
        return ibis.literal(value, type=dtype)

    return table.select(
        contact_id=table.contact_id,
        model=ibis.literal(model),
        dimension=ibis.literal(dimension),
        rule=lit(rule, "string"),
        message_id=lit(message_id, "string"),
        event_at=lit(event_at, "timestamp('UTC')"),
        raw_points=lit(raw_points, "float64").round(DIGITS),
        points=lit(points, "float64").round(DIGITS),
        decay=lit(decay, "float64").round(DIGITS + 3),
        detail=lit(detail, "string"),
    )


def union(parts: list[ir.Table]) -> ir.Table:
    """All ledger parts as one table (an empty typed table when there are none)."""
    if not parts:
        empty = ibis.memtable(ibis.schema(COLUMNS).to_pyarrow().empty_table())
        return empty.select(**{c: empty[c].cast(t) for c, t in COLUMNS.items()})
    return union_all(parts)
