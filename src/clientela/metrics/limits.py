"""Cost limits of the metric queries a reader can shape, all in one place.

A reader shapes a query with the funnel's steps, the breakdowns (``--by``), the range and
period, and the cell of a ``who`` list. Each of these multiplies the work the engine does or
the rows it hands back, so each has a limit; beyond it the query is refused at once with a
:class:`LimitError` (the API answers ``400``, the CLI prints the message) that names the
option, the value and the limit. ``docs/metrics.md`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from clientela.errors import ClientelaError


@dataclass(frozen=True)
class Limits:
    """The limits one metric query runs under (:data:`DEFAULT_LIMITS` unless given)."""

    funnel_steps: int = 20
    """Steps of one funnel (each ordered step is one more join over the events)."""
    breakdown_values: int = 500
    """Distinct value combinations of the ``--by`` dimensions (after ``--where``)."""
    periods: int = 1000
    """Periods in the range (1,000 days ≈ 2.7 years by day, 19 years by week)."""
    retention_periods: int = 100
    """Cohort periods of a retention matrix (periods × periods cells: 100 × 100)."""
    who_rows: int = 10_000
    """Contacts of one ``who`` list (one page of it)."""


DEFAULT_LIMITS = Limits()


class LimitError(ClientelaError):
    """A query asks for more than one of the :class:`Limits`."""

    def __init__(self, option: str, value: object, limit: int, message: str) -> None:
        self.option = option
        self.value = value
        self.limit = limit
        super().__init__(message)


def count_periods(first: date, last: date, kind: str, stop: int) -> int:
    """How many periods of ``kind`` the range [first, last] touches, counting at most to
    ``stop`` (so a range of 50 years by day costs ``stop`` steps, not 18,000)."""
    from clientela.metrics.periods import next_start, period_start

    count = 0
    start = period_start(first, kind)
    while start <= last and count < stop:
        count += 1
        start = next_start(start, kind)
    return count
