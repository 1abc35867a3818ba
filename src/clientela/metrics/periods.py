"""Reporting periods in the report's time zone (``[report] timezone``).

A period (day, week, month, quarter, year) starts at local midnight of its first day, so a
May in ``Europe/Madrid`` starts at 2026-04-30 22:00 UTC. Events carry whole UTC epoch
seconds (``secs``); :meth:`Calendar.local_day` turns them into local day numbers with one
``CASE`` over the zone's offset changes inside the range (daylight saving), which runs the
same on every engine, and :meth:`Calendar.assign` maps local days to period labels with a
join on a small day table.

Weeks start on Monday. Labels sort in time order: ``2026-05-04`` (day, and a week by its
Monday), ``2026-05`` (month), ``2026-Q2`` (quarter), ``2026`` (year).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from clientela.errors import ClientelaError, did_you_mean

PERIOD_KINDS = ("day", "week", "month", "quarter", "year")
SECONDS_PER_DAY = 86_400
EPOCH = date(1970, 1, 1)
# How far before a range local times are exact (earlier events get the oldest known offset).
HISTORY_DAYS = 3660


def _unknown_kind(kind: str) -> ClientelaError:
    hint = did_you_mean(kind, PERIOD_KINDS)
    return ClientelaError(f"period must be one of {', '.join(PERIOD_KINDS)} (not {kind!r}){hint}")


@dataclass(frozen=True)
class Period:
    """One reporting period: local dates [start, end) and the UTC seconds they span."""

    label: str
    start: date
    end: date
    start_secs: int
    end_secs: int


def period_start(day: date, kind: str) -> date:
    """The first day of the period of ``kind`` that contains ``day``."""
    if kind == "day":
        return day
    if kind == "week":
        return day - timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    if kind == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if kind == "year":
        return date(day.year, 1, 1)
    raise _unknown_kind(kind)


def next_start(start: date, kind: str) -> date:
    """The first day of the period after the one starting on ``start``."""
    if kind == "day":
        return start + timedelta(days=1)
    if kind == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def label(start: date, kind: str) -> str:
    """The period's label; labels sort in time order."""
    if kind in ("day", "week"):
        return start.isoformat()
    if kind == "month":
        return f"{start.year:04d}-{start.month:02d}"
    if kind == "quarter":
        return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year:04d}"


class Calendar:
    """The periods of a query, in one time zone, and the expressions that place events."""

    def __init__(self, timezone: str, kind: str, first: date, last: date) -> None:
        if kind not in PERIOD_KINDS:
            raise _unknown_kind(kind)
        if last < first:
            raise ClientelaError(f"--to ({last}) is before --from ({first})")
        self.zone = ZoneInfo(timezone)
        self.timezone = timezone
        self.kind = kind
        periods: list[Period] = []
        start = period_start(first, kind)
        while start <= last:
            end = next_start(start, kind)
            periods.append(
                Period(label(start, kind), start, end, self.utc_secs(start), self.utc_secs(end))
            )
            start = end
        self.periods = periods
        self.start_secs = periods[0].start_secs
        self.end_secs = periods[-1].end_secs
        # Offsets are known from HISTORY_DAYS before the range (metrics also place earlier
        # events: first-ever activity, trailing MAU) to a day after it.
        self.transitions = self._transitions(
            self.start_secs - HISTORY_DAYS * SECONDS_PER_DAY, self.end_secs + SECONDS_PER_DAY
        )

    def utc_secs(self, day: date) -> int:
        """UTC epoch seconds of local midnight starting ``day``."""
        return int(datetime.combine(day, time(0), tzinfo=self.zone).timestamp())

    def offset(self, secs: int) -> int:
        """The zone's UTC offset, in seconds, at UTC epoch second ``secs``."""
        moment = datetime.fromtimestamp(secs, UTC).astimezone(self.zone)
        delta = moment.utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    def _transitions(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """[(first second of a new offset, offset)] from ``lo`` to ``hi``; the first entry
        holds the offset at ``lo``. Daily scan (zones change offset at most once a day),
        then bisection to the exact second."""
        changes = [(lo, self.offset(lo))]
        step = SECONDS_PER_DAY
        t = lo
        while t < hi:
            nxt = min(t + step, hi)
            if self.offset(nxt) != changes[-1][1]:
                a, b = t, nxt  # offset(a) is the old one, offset(b) the new one
                while b - a > 1:
                    mid = (a + b) // 2
                    if self.offset(mid) == changes[-1][1]:
                        a = mid
                    else:
                        b = mid
                changes.append((b, self.offset(b)))
            t = nxt
        return changes

    def local_secs(self, secs: ir.IntegerValue) -> ir.IntegerValue:
        """UTC epoch seconds → seconds since 1970-01-01 00:00 local time."""
        if len(self.transitions) == 1:
            return secs + self.transitions[0][1]
        branches = [
            (secs < start, secs + offset) for (_, offset), (start, _) in pairwise(self.transitions)
        ]
        return ibis.cases(*branches, else_=secs + self.transitions[-1][1])

    def local_day(self, secs: ir.IntegerValue) -> ir.IntegerValue:
        """The local day number (days since 1970-01-01 in the report's zone)."""
        return (self.local_secs(secs) // SECONDS_PER_DAY).cast("int64")

    def day_table(self) -> ir.Table:
        """One row per local day of the range: ``local_day`` and its period's label."""
        days: list[int] = []
        labels: list[str] = []
        for period in self.periods:
            for n in range((period.start - EPOCH).days, (period.end - EPOCH).days):
                days.append(n)
                labels.append(period.label)
        return ibis.memtable({"local_day": days, "period": labels}).cast(
            {"local_day": "int64", "period": "string"}
        )

    def bounds(self) -> ir.Table:
        """One row per period: label, index, and the UTC seconds it starts and ends."""
        return ibis.memtable(
            {
                "period": [p.label for p in self.periods],
                "period_index": list(range(len(self.periods))),
                "start_secs": [p.start_secs for p in self.periods],
                "end_secs": [p.end_secs for p in self.periods],
            }
        ).cast(
            {
                "period": "string",
                "period_index": "int64",
                "start_secs": "int64",
                "end_secs": "int64",
            }
        )

    def assign(self, table: ir.Table, secs: str = "secs", to: str = "period") -> ir.Table:
        """Rows of ``table`` inside the range, with the label of the period their ``secs``
        falls in (rows outside the range are dropped)."""
        days = self.day_table().rename({to: "period"}) if to != "period" else self.day_table()
        inside = table.filter((table[secs] >= self.start_secs) & (table[secs] < self.end_secs))
        inside = inside.mutate(_local_day=self.local_day(inside[secs]))
        joined = inside.join(days, inside._local_day == days.local_day)
        return joined.drop("_local_day", "local_day")

    def labels(self) -> list[str]:
        return [p.label for p in self.periods]
