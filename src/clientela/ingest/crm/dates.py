"""Dates in CRM exports: ISO, dd/mm/yyyy, mm/dd/yyyy, dd-mm-yyyy, dd.mm.yyyy, yyyy/mm/dd,
each with or without a time of day.

ISO-8601 is read first (it is never ambiguous). For ``a/b/yyyy`` the order is decided per
column by its values: a first number over 12 means day first, a second number over 12 means
month first; when no value tells (every number ≤ 12) the column is read day first, and the
import report says so. ``date_format`` (``--date-format '%m/%d/%Y'``) replaces the guess with
one strftime format. A value that none of these read is a ``bad_date``: its row is
quarantined with the column and the value, never landed with a silent null. Times without a
zone are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", "T%H:%M:%S")
_SEPARATORS = ("/", "-", ".")
_DMY = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{4}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class DatePlan:
    """How one column's dates are read: an SQL expression, the format in a few words, and a
    note for the import report when the reading was a guess or met conflicting values."""

    sql: str
    how: str
    note: str = ""


def _formats(day_first: bool) -> list[str]:
    days = ("%d{s}%m{s}%Y" if day_first else "%m{s}%d{s}%Y").format
    out = [days(s=s) + t for s in _SEPARATORS for t in _TIMES]
    out += [f"%Y{s}%m{s}%d{t}" for s in ("/", ".") for t in _TIMES]
    return out


def plan(con: Any, table: str, column: str, date_format: str | None) -> DatePlan:
    """The reading of ``column`` of ``table``: given format, else ISO then a per-column guess."""
    value = f"nullif(trim({_q(column)}), '')"
    iso = f"try_cast({value} AS TIMESTAMPTZ)"
    if date_format:
        return DatePlan(
            f"coalesce(try_strptime({value}, {_lit(date_format)})::TIMESTAMPTZ, {iso})",
            f"{date_format} or ISO-8601",
        )
    first = f"try_cast(regexp_extract({value}, {_lit(_DMY)}, 1) AS INTEGER)"
    second = f"try_cast(regexp_extract({value}, {_lit(_DMY)}, 2) AS INTEGER)"
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE {first} > 12 AND {second} <= 12), "
        f"count(*) FILTER (WHERE {second} > 12 AND {first} <= 12), "
        f"count(*) FILTER (WHERE regexp_matches({value}, {_lit(_DMY)})) FROM {table}"
    ).fetchone()
    day_evidence, month_evidence, dmy = (int(x or 0) for x in row) if row else (0, 0, 0)
    day_first = day_evidence >= month_evidence
    formats = "[" + ", ".join(_lit(f) for f in _formats(day_first)) + "]"
    # A failed cast costs more than a failed strptime: cast only what looks like ISO.
    sql = (
        f"CASE WHEN regexp_matches({value}, '^\\d{{4}}-') THEN {iso} "
        f"ELSE try_strptime({value}, {formats})::TIMESTAMPTZ END"
    )
    if not dmy:
        return DatePlan(sql, "ISO-8601")
    how = "dd/mm/yyyy or ISO-8601" if day_first else "mm/dd/yyyy or ISO-8601"
    note = ""
    if day_evidence and month_evidence:
        note = (
            f"{day_evidence:,} values put the day first, {month_evidence:,} the month: "
            f"read {'day' if day_first else 'month'} first, the others are quarantined "
            "(set --date-format if that is wrong)"
        )
    elif not day_evidence and not month_evidence:
        note = (
            "no value has a number over 12, so day first is assumed "
            "(set --date-format '%m/%d/%Y' for month first)"
        )
    return DatePlan(sql, how, note)
