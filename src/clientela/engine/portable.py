"""Ibis expressions that mean the same on every engine, where Ibis's own do not."""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir


def trim(value: ir.StringValue) -> ir.StringValue:
    """``value`` without leading and trailing whitespace.

    Ibis's ``strip()`` compiles on Spark to ``trim`` with the characters ``'\\t\\n\\r\\v\\f '``
    written as a Spark string literal, where ``\\v`` and ``\\f`` are not escapes: Spark then
    also strips the letters ``v`` and ``f`` (``"riv"`` became ``"ri"``). A regular expression
    means the same to DuckDB and to Java.
    """
    return value.re_replace(r"^\s+|\s+$", "")


def union_all(tables: Sequence[ir.Table]) -> ir.Table:
    """The rows of every table (same columns), duplicates kept; at least one table."""
    out = tables[0]
    for more in tables[1:]:
        out = out.union(more)
    return out
