"""The published tables of the demo world stay what they were (issue 12's guard).

The job is being redesigned for speed; its results must not move. This runs the job on a
small demo world at the demo's fixed as-of time and compares every published table with the
committed snapshot ``golden/demo_tables.json`` (how it is built and compared:
``golden_tables.py``). A failure names each table that differs and how: row count, columns,
or content (and which columns' values changed).

If a change to the results is intended, regenerate the snapshot and commit it with the change:

    CLIENTELA_UPDATE_GOLDEN=1 PYTHONPATH=src python -m pytest tests/test_golden_tables.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from golden_tables import (
    DECIMALS,
    REGENERATE,
    SNAPSHOT,
    UPDATE_ENV,
    build_demo_workspace,
    demo_as_of,
    differences,
    fingerprint,
    run_and_fingerprint,
    snapshot_document,
)


def test_published_tables_of_the_demo_world_match_the_snapshot(tmp_path: Path) -> None:
    ws = build_demo_workspace(tmp_path / "demo")
    tables = run_and_fingerprint(ws, demo_as_of())
    document = snapshot_document(tables)
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        return
    assert SNAPSHOT.exists(), f"no snapshot at {SNAPSHOT}; create it with: {REGENERATE}"
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert {k: expected[k] for k in ("world", "float_decimals")} == {
        k: document[k] for k in ("world", "float_decimals")
    }, f"the snapshot was made for another world or precision; regenerate: {REGENERATE}"
    found = differences(expected["tables"], tables)
    assert not found, (
        f"published tables of the demo world differ from {SNAPSHOT.name}:\n  "
        + "\n  ".join(found)
        + f"\nIf this change is intended, regenerate the snapshot: {REGENERATE}"
    )


# How differences are found and told (on small tables written here).


def _write(tmp_path: Path, name: str, columns: dict[str, list[object]]) -> Path:
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.table(columns), path)
    return path


BASE = {"contact_id": ["a", "b", "c"], "score": [1.0, 2.5, -0.0], "n": [1, 2, 3]}


def test_row_order_and_float_noise_do_not_count(tmp_path: Path) -> None:
    base = fingerprint(_write(tmp_path, "base", BASE))
    noisy = {
        "contact_id": ["c", "a", "b"],
        "score": [0.0, 1.0 + 10 ** -(DECIMALS + 3), 2.5],
        "n": [3, 1, 2],
    }
    assert fingerprint(_write(tmp_path, "noisy", noisy)) == base


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (
            {**BASE, "score": [1.0, 2.5, 10 ** -(DECIMALS - 1)]},
            ["scores: content differs in columns: score"],
        ),
        (
            {**BASE, "contact_id": ["a", "b", "d"], "n": [1, 2, 4]},
            ["scores: content differs in columns: contact_id, n"],
        ),
        (
            {"contact_id": ["a", "b", "c", "c"], "score": [1.0, 2.5, 0.0, 0.0], "n": [1, 2, 3, 3]},
            [
                "scores: row count 3 -> 4",
                "scores: content differs in columns: contact_id, score, n",
            ],
        ),
        (
            {"contact_id": ["a", "b", "c"], "score": [1.0, 2.5, 0.0], "rank": [1, 2, 3]},
            ["scores: columns removed: n", "scores: columns added: rank"],
        ),
        (
            {**BASE, "n": pa.array([1, 2, 3], pa.int32())},
            ["scores: column types changed: n int64 -> int32"],
        ),
        (
            {"n": [1, 2, 3], "contact_id": ["a", "b", "c"], "score": [1.0, 2.5, 0.0]},
            ["scores: column order changed"],
        ),
        (
            {**BASE, "n": [2, 1, 3]},
            ["scores: content differs: same values per column, combined into other rows"],
        ),
    ],
)
def test_differences_name_the_table_and_how(
    tmp_path: Path, changed: dict[str, object], expected: list[str]
) -> None:
    old = {"scores": fingerprint(_write(tmp_path, "old", BASE))}
    new = {"scores": fingerprint(_write(tmp_path, "new", changed))}
    assert differences(old, new) == expected


def test_missing_and_new_tables_are_named(tmp_path: Path) -> None:
    table = fingerprint(_write(tmp_path, "t", BASE))
    assert differences({"scores": table}, {"ledger": table}) == [
        "scores: table no longer published",
        "ledger: new table, not in the snapshot",
    ]
