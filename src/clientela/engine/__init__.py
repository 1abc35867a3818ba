"""The engine layer: the only place that knows which backend (DuckDB or Spark) runs.

Everything else builds Ibis expressions over the tables this layer opens, and hands them back here
to run. Landed data is Parquet, which both engines read.
"""

from clientela.engine.core import (
    DiskFullError,
    Engine,
    WorkspaceBusyError,
    connect,
    scratch_duckdb,
)

__all__ = ["DiskFullError", "Engine", "WorkspaceBusyError", "connect", "scratch_duckdb"]
