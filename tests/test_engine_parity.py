"""Engine parity: the main job gives identical tables on DuckDB and on Spark."""

from __future__ import annotations

from datetime import UTC, datetime
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


AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
SETTINGS = """
[audience]
competitor_domains = ["rival.example"]
"""


def _world(tmp_path: Path) -> Workspace:
    ws = make_workspace(tmp_path / "ws", SETTINGS)
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
    # Scoring, audience classes and stages: signals with caps and decay, a bot, a job seeker,
    # a competitor, a churn and a return, advocacy.
    for k in range(8):
        j.page(user_id="u1-new", properties={"path": "/pricing" if k % 2 else "/blog"}, at=20 + k)
    j.track("Meeting Held", user_id="u1-new", properties={"meeting_type": "demo"}, at=30)
    j.track("Form Submitted", user_id="u1-new", properties={"form_id": "demo-request"}, at=31)
    j.track("Webinar Attended", user_id="bob", at=40)
    j.track(
        "Order Completed",
        user_id="bob",
        properties={"products": [{"product_id": "kit", "category": "Looms"}]},
        at=50,
    )
    j.track("Subscription Cancelled", user_id="bob", at=24 * 40)
    j.track("Order Completed", user_id="bob", at=24 * 60)
    j.track("Post Created", user_id="bob", at=24 * 61)
    for k in range(6):
        j.page(anonymous_id="crawler", context={"userAgent": "Googlebot/2.1"}, at=70 + k / 7200)
    j.identify(user_id="jo", traits={"email": "jo@mail.example"}, at=80)
    j.track("Job Application Submitted", user_id="jo", properties={"job_id": "j1"}, at=81)
    j.identify(user_id="riv", traits={"email": "x@rival.example", "company": "Rival"}, at=82)
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
        on_duck = pipeline.compute(duck, ws, AS_OF)
        on_spark = pipeline.compute(spark, ws, AS_OF)
        for name in pipeline.TABLES:
            expected = _rows(duck, on_duck[name])
            assert expected, f"{name} is empty: the fixture should exercise it"
            assert _rows(spark, on_spark[name]) == expected, name
    finally:
        duck.close()
        spark.close()


def test_empty_workspace_runs_on_both_engines(tmp_path: Path, spark_session: Any) -> None:
    """Before anything is landed, the job publishes empty tables (and its as-of time) on
    either engine."""
    ws = make_workspace(tmp_path / "ws")
    for kind in ("duckdb", "spark"):
        engine = connect(ws, kind)
        try:
            report = pipeline.run(engine, ws)
        finally:
            engine.close()
        assert report.rows == {**dict.fromkeys(pipeline.TABLES, 0), "run_info": 1}, kind
