"""File destinations: one file per delivery batch and kind of item, written whole.

Each file is first written as a hidden ``.NAME.partial`` in the destination folder, flushed to
disk, then renamed into place: a reader of the folder sees whole files or nothing (and should
skip names starting with a dot). Files are named ``actions-<utc time>-<random>.<ext>`` and
``segment_changes-...``, so they sort by delivery time. Every row carries its ``item_id``
(the idempotency key) and the published ``version`` it came from.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from clientela.activation.store import StoredItem
from clientela.activation.tables import ACTIONS_SCHEMA, SEGMENT_HISTORY_SCHEMA
from clientela.workspace import _fsync_dir, _fsync_file

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}
_IDS = [pa.field("item_id", pa.string()), pa.field("version", pa.string())]
SCHEMAS = {
    "action": pa.schema([*_IDS, *ACTIONS_SCHEMA]),
    "segment_change": pa.schema([*_IDS, *SEGMENT_HISTORY_SCHEMA]),
}
"""The columns of each kind's files (csv and parquet; jsonl lines have the same keys)."""
PREFIX = {"action": "actions", "segment_change": "segment_changes"}


def _rows(items: list[StoredItem]) -> list[dict[str, Any]]:
    return [{"item_id": i.item_id, "version": i.version, **i.payload} for i in items]


def _arrow(kind: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = SCHEMAS[kind]
    columns: dict[str, list[Any]] = {}
    for f in schema:
        values = [r.get(f.name) for r in rows]
        if pa.types.is_timestamp(f.type):
            values = [None if v is None else datetime.fromisoformat(v) for v in values]
        columns[f.name] = values
    return pa.table(columns, schema=schema)


def clean_partials(folder: Path) -> int:
    """Remove the half-written files an interrupted delivery left; returns how many."""
    removed = 0
    if folder.is_dir():
        for leftover in folder.glob(".*.partial"):
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed


def write_batch(folder: Path, fmt: str, kind: str, items: list[StoredItem]) -> Path:
    """Write one batch of items of one kind to a new file in ``folder``; returns its path."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    name = f"{PREFIX[kind]}-{stamp}-{uuid.uuid4().hex[:8]}.{EXTENSIONS[fmt]}"
    target = folder / name
    tmp = folder / f".{name}.partial"
    rows = _rows(items)
    try:
        if fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
        elif fmt == "parquet":
            pq.write_table(_arrow(kind, rows), tmp)
        else:
            # The same rule as every CSV clientela writes: no cell a spreadsheet would run.
            from clientela.cli.output import csv_safe

            pacsv.write_csv(csv_safe(_arrow(kind, rows)), tmp)
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(folder)
    finally:
        tmp.unlink(missing_ok=True)
    return target
