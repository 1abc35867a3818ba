"""Destinations: where planned actions and segment membership changes are delivered.

- :mod:`.items`: what the current published version holds for a destination (planned
  actions only, and the membership changes its run saw), each with its idempotency key;
- :mod:`.files`: file destinations (CSV, Parquet, JSON Lines; one file per batch, whole);
- :mod:`.webhook` and :mod:`.signing`: signed JSON POSTs, backoff with full jitter;
- :mod:`.delivery`: the loop, at least once, over the outbox of :mod:`clientela.activation.store`.

:func:`deliver_published` is what ``clientela deliver`` and ``POST /api/deliver`` call.
"""

from __future__ import annotations

from typing import Any

from clientela.activation.destinations.delivery import (
    DeliveryReport,
    DestinationReport,
    deliver,
)
from clientela.workspace import Workspace

__all__ = ["DeliveryReport", "DestinationReport", "deliver", "deliver_published"]


def deliver_published(workspace: Workspace, **options: Any) -> DeliveryReport:
    """Read the current published version (with a private in-memory DuckDB reader: published
    tables are Parquet, whatever engine wrote them) and :func:`.delivery.deliver` it."""
    from clientela.activation.destinations.delivery import chosen
    from clientela.activation.destinations.items import read_published
    from clientela.engine import connect

    chosen(workspace, options.get("destination"))  # a bad name fails before reading anything
    engine = connect(workspace, "duckdb", reader=True)
    try:
        published = read_published(engine)
    finally:
        engine.close()
    return deliver(workspace, published, **options)
