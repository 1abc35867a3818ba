"""Engine parity: the main job gives identical tables on DuckDB and on Spark."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from clientela import pipeline
from clientela.engine import connect
from clientela.ingest.crm import import_file
from clientela.ingest.files import ingest_files
from clientela.workspace import Workspace
from conftest import make_workspace
from journeys import Journeys

pytestmark = pytest.mark.spark


def _world(tmp_path: Path) -> Workspace:
    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    j.page(anonymous_id="a1", at=0, properties={"path": "/pricing"})
    j.identify(
        anonymous_id="a1", user_id="u1", traits={"email": "Ann@acme.io", "title": "CTO"}, at=1
    )
    j.identify(user_id="u1", traits={"title": "CEO", "age": 41}, at=5)
    j.alias("u1", "u1-new", at=6)
    j.group("acc-1", user_id="u1-new", traits={"name": "Acme", "website": "https://acme.io"}, at=7)
    j.identify(anonymous_id="kiosk", user_id="bob", traits={"email": "bob@b.org"}, at=8)
    j.identify(anonymous_id="kiosk", user_id="cat", at=9)
    j.identify(user_id="dan", traits={"email": "bob@b.org"}, at=10)
    j.identify(anonymous_id="z1", traits={"email": "zed@acme.io"}, at=11)
    j.track("Order Completed", user_id="bob", properties={"revenue": 10}, at=12)
    ingest_files(ws, [j.write(tmp_path / "e.jsonl")])
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "Contact ID,Email Address,Account ID,Job Title\n"
        "bob,bob@b.org,acc-2,Buyer\n"
        "eve,eve@acme.io,,Ops\n"
    )
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("Account ID,Account Name,Website,Employees\nacc-2,Bee Org,b.org,12\n")
    import_file(ws, "contacts", contacts)
    import_file(ws, "accounts", accounts)
    return ws


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, list):
        return tuple(sorted(map(str, value)))
    return value


def _rows(engine: Any, expr: Any) -> list[tuple[Any, ...]]:
    table = engine.to_arrow(expr)
    cols = sorted(table.column_names)
    return sorted((tuple(_normal(r[c]) for c in cols) for r in table.to_pylist()), key=repr)


def test_main_job_is_identical_on_duckdb_and_spark(tmp_path: Path, spark_session: Any) -> None:
    """Every published table of the main job has the same rows on both engines."""
    ws = _world(tmp_path)
    duck = connect(ws, "duckdb")
    spark = connect(ws, "spark")
    try:
        on_duck = pipeline.compute(duck, ws)
        on_spark = pipeline.compute(spark, ws)
        for name in pipeline.TABLES:
            expected = _rows(duck, on_duck[name])
            assert expected, f"{name} is empty: the fixture should exercise it"
            assert _rows(spark, on_spark[name]) == expected, name
    finally:
        duck.close()
        spark.close()


def test_empty_workspace_runs_on_both_engines(tmp_path: Path, spark_session: Any) -> None:
    """Before anything is landed, the job publishes empty tables on either engine."""
    ws = make_workspace(tmp_path / "ws")
    for kind in ("duckdb", "spark"):
        engine = connect(ws, kind)
        try:
            report = pipeline.run(engine, ws)
        finally:
            engine.close()
        assert report.rows == dict.fromkeys(pipeline.TABLES, 0), kind
