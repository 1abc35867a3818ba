"""Small helpers the loyalty modules share."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

SECONDS_PER_DAY = 86_400

LOT_COLUMNS = ("contact_id", "secs", "rule", "points", "message_id", "reason")
"""An earned lot: who, when (epoch seconds), which rule, how many points, the event behind
it and the reason in words."""


def shaped(table: ir.Table, schema: pa.Schema) -> ir.Table:
    """``table``'s columns of ``schema``, in its order and with its types."""
    target = ibis.Schema.from_pyarrow(schema)
    return table.select(*[table[name].cast(dtype).name(name) for name, dtype in target.items()])


def timestamp(secs: ir.IntegerValue) -> ir.TimestampValue:
    """Epoch seconds as a UTC timestamp."""
    return secs.as_timestamp("s").cast("timestamp('UTC')")
