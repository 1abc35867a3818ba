"""Which engine errors a record can cause (so landing isolates the record) and which it cannot
(disk, memory, an interrupt, a bug in our own SQL: those stop the work and are reported)."""

from __future__ import annotations

import duckdb

# Raised by values: a conversion or range error, a failed check on an input, an engine
# limitation or internal fault that a strange value hits.
_RECORD_FAULTS = (
    duckdb.DataError,
    duckdb.InvalidInputException,
    duckdb.InternalException,
    duckdb.NotImplementedException,
)


def is_record_fault(exc: BaseException) -> bool:
    """Whether ``exc`` may come from the values being processed rather than the environment."""
    return isinstance(exc, _RECORD_FAULTS)


def engine_errors() -> tuple[type[BaseException], ...]:
    """The base class of every error the embedded engine raises, for ``except`` clauses."""
    return (duckdb.Error,)
