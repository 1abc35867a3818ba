"""Fingerprints of the published tables of the demo world, for the golden test.

The main job is to be redesigned for speed (issue 12) while its published results stay the
same. ``test_golden_tables.py`` runs the job on a small demo world at a fixed as-of time and
compares every published table with the snapshot committed in ``golden/demo_tables.json``:
per table the row count, the column names and types (Arrow types as written to Parquet),
an order-independent digest of the content and one per column (so a difference can be
pinned to the columns that changed).

Floats are rounded to ``DECIMALS`` decimal places before hashing, so that last-bit noise of
a different (but equivalent) plan does not count as a change; every other value is hashed as
it is (times in ISO form, decimals as text).

To regenerate the snapshot on purpose (after a change that is meant to change results):

    CLIENTELA_UPDATE_GOLDEN=1 PYTHONPATH=src python -m pytest tests/test_golden_tables.py
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import patch

SNAPSHOT = Path(__file__).parent / "golden" / "demo_tables.json"
UPDATE_ENV = "CLIENTELA_UPDATE_GOLDEN"
REGENERATE = f"{UPDATE_ENV}=1 PYTHONPATH=src python -m pytest tests/test_golden_tables.py"

CONTACTS = 400
"""People in the demo world: big enough that every table has rows (non-buyer classes,
accounts, subscriptions, merges), small enough that the job runs in seconds."""
SEED = 7
DECIMALS = 6
"""Floats are compared to this many decimal places."""
FITTED = {
    "predictions": ("p_alive", "expected_purchases", "expected_order_value", "clv"),
    "prediction_models": ("log_likelihood", "value", "se", "message"),
}
"""Columns that come out of a numerical optimiser (scipy), whose last digits may differ
between machines: the snapshot records that they are there (their type and how many are
null), not their values. The models' values are checked against published figures with a
tolerance in tests/predict/."""


LANDED_AT = datetime(2026, 6, 29, 23, 0, tzinfo=UTC)
"""The clock of landing and CRM import while the world is built. CRM rows carry the time they
were imported (``imported_at``: the ``updated_at`` of CRM traits, memberships' evidence), so
an unpinned clock would make the published tables differ from run to run."""


class _PinnedClock(datetime):
    """``datetime`` whose ``now()`` is :data:`LANDED_AT`."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return LANDED_AT if tz is None else LANDED_AT.astimezone(tz)


def build_demo_workspace(root: Path, contacts: int = CONTACTS, seed: int = SEED) -> Any:
    """What ``clientela demo`` builds, without printing: a workspace with the demo settings,
    the demo world's events landed and its CRM contacts and accounts imported (at
    :data:`LANDED_AT`)."""
    from clientela.datasets.demo import DemoSpec, generate, write_demo_settings
    from clientela.ingest.crm import import_file
    from clientela.ingest.files import ingest_files
    from clientela.workspace import init_workspace, open_workspace

    init_workspace(root)
    write_demo_settings(root / "clientela.toml")
    ws = open_workspace(root)
    data = root / "input"
    generate(data, DemoSpec(contacts=contacts, seed=seed))
    with (
        patch("clientela.ingest.lander.datetime", _PinnedClock),
        patch("clientela.ingest.crm.importer.datetime", _PinnedClock),
    ):
        ingest_files(ws, [data / "events"])
        import_file(ws, "contacts", data / "crm" / "contacts.csv")
        import_file(ws, "accounts", data / "crm" / "accounts.csv")
    return ws


def demo_as_of() -> datetime:
    """The as-of time of ``clientela demo``: the morning after the demo world ends."""
    from clientela.datasets.demo import DemoSpec

    return DemoSpec().as_of


def run_and_fingerprint(ws: Any, as_of: datetime, kind: str = "duckdb") -> dict[str, Any]:
    """Run the main job on ``ws`` and fingerprint every published table."""
    from clientela import pipeline
    from clientela.engine import connect

    engine = connect(ws, kind)
    try:
        pipeline.run(engine, ws, as_of=as_of)
        version = engine.current_version()
    finally:
        engine.close()
    folder = ws.results_dir / str(version)
    return {
        name: fingerprint(folder / f"{name}.parquet", fitted=FITTED.get(name, ()))
        for name in pipeline.TABLES
    }


def canonical(value: Any, decimals: int = DECIMALS) -> Any:
    """A JSON-ready form of one value that hashes the same however the row was computed."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return round(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds()}s"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): canonical(v, decimals) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v, decimals) for v in value]
    return value


def _sha(items: list[str]) -> str:
    """An order-independent digest of a multiset of strings (duplicates count)."""
    digest = hashlib.sha256()
    for item in sorted(items):
        digest.update(hashlib.sha256(item.encode()).digest())
    return digest.hexdigest()[:32]


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def fingerprint(
    path: Path, decimals: int = DECIMALS, fitted: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Row count, columns (``"name: Arrow type"``) and content digests of one Parquet table.

    ``digest`` is over whole rows (as ``{column: value}``, so the order of columns does not
    matter to it); ``column_digests`` has one per column, over the multiset of its values.
    A ``fitted`` column counts only as null or not (see :data:`FITTED`).
    """
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns = [f"{f.name}: {f.type}" for f in table.schema]
    values = {
        name: [
            (v is None) if name in fitted else canonical(v, decimals)
            for v in table.column(name).to_pylist()
        ]
        for name in table.column_names
    }
    rows = [
        _dump({name: values[name][i] for name in table.column_names}) for i in range(table.num_rows)
    ]
    return {
        "rows": table.num_rows,
        "columns": columns,
        "digest": _sha(rows),
        "column_digests": {
            name: _sha([_dump(v) for v in column]) for name, column in values.items()
        },
    }


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """One line per table that differs, saying how: missing or new table, row count,
    columns (added, removed, retyped, reordered) or content (naming the columns whose values
    changed), in the order of the snapshot. Empty when the tables are the same."""
    lines = []
    for name in [*expected, *(n for n in actual if n not in expected)]:
        if name not in actual:
            lines.append(f"{name}: table no longer published")
            continue
        if name not in expected:
            lines.append(f"{name}: new table, not in the snapshot")
            continue
        lines.extend(f"{name}: {how}" for how in _table_differences(expected[name], actual[name]))
    return lines


def _table_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    found = []
    if old["rows"] != new["rows"]:
        found.append(f"row count {old['rows']} -> {new['rows']}")
    old_types, new_types = _types(old["columns"]), _types(new["columns"])
    removed = [c for c in old_types if c not in new_types]
    added = [c for c in new_types if c not in old_types]
    retyped = [
        f"{c} {old_types[c]} -> {new_types[c]}"
        for c in old_types
        if c in new_types and old_types[c] != new_types[c]
    ]
    if removed:
        found.append(f"columns removed: {', '.join(removed)}")
    if added:
        found.append(f"columns added: {', '.join(added)}")
    if retyped:
        found.append(f"column types changed: {'; '.join(retyped)}")
    kept = [c for c in old_types if c in new_types]
    if not (removed or added) and kept != [c for c in new_types if c in old_types]:
        found.append("column order changed")
    changed = [c for c in kept if old["column_digests"].get(c) != new["column_digests"].get(c)]
    if changed:
        found.append(f"content differs in columns: {', '.join(changed)}")
    elif old["digest"] != new["digest"] and not (removed or added):
        # Every column holds the same values, but they are paired differently in rows.
        found.append("content differs: same values per column, combined into other rows")
    return found


def _types(columns: list[str]) -> dict[str, str]:
    return {name: kind for name, _, kind in (c.partition(": ") for c in columns)}


def snapshot_document(tables: dict[str, Any]) -> dict[str, Any]:
    """The snapshot file's content: how it was made, then the tables' fingerprints."""
    return {
        "about": (
            "Fingerprints of the published tables of the demo world, compared by "
            "tests/test_golden_tables.py. Regenerate on purpose with: " + REGENERATE
        ),
        "world": {
            "contacts": CONTACTS,
            "seed": SEED,
            "landed_at": LANDED_AT.isoformat(),
            "as_of": demo_as_of().isoformat(),
        },
        "float_decimals": DECIMALS,
        "tables": tables,
    }
