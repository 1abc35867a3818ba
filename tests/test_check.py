"""The tracking plan check: `clientela check` on the demo world and on unmapped events."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clientela import metrics
from clientela.check import (
    FEATURE_EVENTS,
    FIELD_EVENTS,
    METRICS_BY_EVENTS,
    METRICS_BY_STAGE_EVENTS,
    TrackingPlan,
    check,
    event_lists,
    reader_lists,
    similarity,
    toml_table,
    tracking_summary,
    words,
)
from clientela.cli import app
from clientela.config import STAGE_FEATURES, MetricEvents, MetricFields, StageEvents
from clientela.engine import connect, scratch_duckdb
from clientela.ingest.files import ingest_files
from clientela.workspace import Workspace, open_workspace
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys

runner = CliRunner()


def _check(ws: Workspace) -> TrackingPlan:
    engine = connect(ws)
    try:
        return check(engine, ws)
    finally:
        engine.close()


def _sql(ws: Workspace, query: str) -> list[tuple[Any, ...]]:
    """A query over the landed events (``events``), straight in DuckDB."""
    files = [str(p) for p in ws.segments(ws.events_dir)]
    con = scratch_duckdb()
    try:
        con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({files!r})")
        return list(con.execute(query).fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The events of a small generated demo world, landed in a fresh workspace."""
    from clientela.datasets.demo import DemoSpec, generate

    root = tmp_path_factory.mktemp("check-demo")
    generate(root / "world", DemoSpec(contacts=300, seed=11))
    ws = make_workspace(root / "ws")
    ingest_files(ws, [root / "world" / "events"])
    return ws


@pytest.fixture(scope="module")
def demo_plan(demo_ws: Workspace) -> TrackingPlan:
    """The check of the demo world."""
    return _check(demo_ws)


def _unmapped_journeys() -> Journeys:
    """Twelve B2B people whose tracking plan says Demo Requested, Email Clicked and Ticket
    Answered where the presets expect other names."""
    j = Journeys()
    for k in range(12):
        j.identify(user_id=f"u{k}", traits={"email": f"p{k}@acme.io"}, at=k)
        j.group(f"acc-{k % 3}", user_id=f"u{k}", traits={"name": f"Acme {k % 3}"}, at=k)
        j.track("Demo Requested", user_id=f"u{k}", properties={"source": "site"}, at=k + 1)
        for m in range(k % 3 + 1):
            j.track(
                "Email Clicked", user_id=f"u{k}", properties={"campaign_id": "c1"}, at=k + 2 + m
            )
        j.track("Ticket Answered", user_id=f"u{k}", properties={"ticket_id": f"t{k}"}, at=k + 3)
        j.track("Webinar Attended", user_id=f"u{k}", at=k + 4)
    return j


def _paste(toml_text: str, plan: TrackingPlan) -> str:
    """What the user does with the printed tables: replace the ones marked 'replace' (with
    their sub-tables), add the others at the end."""
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")
    replaced = {t.table for t in plan.toml if t.replaces}
    kept: list[str] = []
    dropping = False
    for line in toml_text.splitlines():
        match = header.match(line)
        if match:
            name = match.group(1)
            dropping = any(name == t or name.startswith(t + ".") for t in replaced)
        if not dropping:
            kept.append(line)
    return "\n".join(kept) + "\n\n" + "\n".join(t.text for t in plan.toml)


def test_demo_world_every_concept_has_data_and_counts_match_duckdb(
    demo_ws: Workspace, demo_plan: TrackingPlan
) -> None:
    """On the demo world every signal, list and field gets events, counted as DuckDB counts."""
    assert demo_plan.without_data == []
    direct = dict(
        _sql(demo_ws, "SELECT event, count(*) FROM events WHERE type = 'track' GROUP BY 1")
    )
    seen = {n.name: n.events for n in demo_plan.names if n.type == "track"}
    assert seen == direct
    total = _sql(demo_ws, "SELECT count(*) FROM events")[0][0]
    assert demo_plan.events == total
    concepts = {c.name: c for c in demo_plan.concepts}
    demo_requests = _sql(
        demo_ws,
        "SELECT count(*) FROM events WHERE type = 'track' AND event = 'Form Submitted' "
        "AND json_extract_string(properties, '$.form_id') = 'demo-request'",
    )[0][0]
    assert concepts["b2b: demo request"].events == demo_requests > 0
    pages = _sql(demo_ws, "SELECT count(*) FROM events WHERE type = 'page'")[0][0]
    assert concepts["b2b: page view"].events == pages
    rated = _sql(
        demo_ws,
        "SELECT count(*) FROM events WHERE event = 'Review Submitted' "
        "AND json_exists(properties, '$.rating')",
    )[0][0]
    field = concepts["metrics.fields.rating"]
    assert (field.events, field.of) == (rated, direct["Review Submitted"])
    purchases = concepts["stages.events.purchase"]
    assert purchases.events == direct["Order Completed"]
    assert "customer (orders >= 1)" in purchases.used_by
    assert concepts["audience.job_events"].events == direct["Job Application Submitted"]


def test_demo_world_names_feed_what_the_settings_read(
    demo_ws: Workspace, demo_plan: TrackingPlan
) -> None:
    """Every name lists the concepts that read it; unused names are read by nothing."""
    settings = demo_ws.settings
    read_by_name = {
        name
        for lists in [*event_lists(settings).values(), *reader_lists(settings).values()]
        for names in lists.values()
        for name in names
    } | {n for m in settings.models.values() for s in m.signals for n in s.event}
    for entry in demo_plan.names:
        if entry.type == "track":
            assert entry.used == (entry.name in read_by_name), entry.name
    by_name = {n.name: n for n in demo_plan.names}
    assert "metrics.events.reply" in by_name["Ticket Replied"].feeds
    assert "signal b2b: demo request" in by_name["Form Submitted"].feeds
    assert ("ticket_id", by_name["Ticket Replied"].events) in by_name["Ticket Replied"].properties
    assert by_name["identify"].feeds == ["identity and traits (identify calls)"]
    # What the contact policy and the loyalty programme read feeds them, not nothing.
    assert "policy.opt_out_events" in by_name["Unsubscribed"].feeds
    assert "loyalty.redemption_event" in by_name["Points Redeemed"].feeds
    assert demo_plan.playbook.startswith("no playbook exists yet")


def test_check_command_on_the_demo_world(demo_ws: Workspace) -> None:
    """`clientela check` prints the tables, and --format json gives the same report."""
    result = runner.invoke(app, ["check", "-w", str(demo_ws.root)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "what the settings read" in result.output and "event names seen" in result.output
    assert "no playbook exists yet" in result.output
    assert "no data" not in result.output
    result = runner.invoke(app, ["check", "--format", "json", "-w", str(demo_ws.root)])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["events"] > 0 and all(c["has_data"] for c in body["concepts"])
    assert {c["kind"] for c in body["concepts"]} == {
        "signal",
        "stage events",
        "subscription events",
        "metric events",
        "metric field",
        "audience events",
    }


def test_unmapped_events_are_named_with_counts_and_suggestions(tmp_path: Path) -> None:
    """Demo Requested, Email Clicked and Ticket Answered are named with counts and a match."""
    ws = make_workspace(tmp_path / "ws")
    land(ws, _unmapped_journeys())
    plan = _check(ws)
    unused = {n.name: n for n in plan.unused}
    assert {name: n.events for name, n in unused.items()} == {
        "Demo Requested": 12,
        "Email Clicked": 24,
        "Ticket Answered": 12,
    }
    assert unused["Demo Requested"].suggestions[0].concept.startswith("the signal `demo request`")
    assert unused["Email Clicked"].suggestions[0].concept.startswith("the signal `email click`")
    assert unused["Ticket Answered"].suggestions[0].concept.startswith("`Ticket Replied`")
    assert unused["Demo Requested"].properties == [("source", 12)]
    assert {t.table for t in plan.toml} == {
        "models.b2b",
        "models.b2c",
        "stages.events",
        "metrics.events",
    }
    concepts = {c.name: c for c in plan.concepts}
    assert not concepts["b2b: demo request"].has_data
    assert concepts["b2b: webinar attended"].events == 12

    result = runner.invoke(app, ["check", "-w", str(ws.root)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert (
        "Demo Requested (12 events) is not used; did you mean the signal `demo request` "
        "(Form Submitted with form_id = demo-request; model b2b)? map it with the "
        "[models.b2b] lines below"
    ) in result.output
    assert "# replace [metrics.events]: maps Ticket Answered" in result.output
    assert "# add [stages.events]: maps Ticket Answered" in result.output


def test_pasting_the_printed_toml_maps_the_events_and_a_run_scores_them(tmp_path: Path) -> None:
    """The printed tables, pasted into clientela.toml, make every name used and scored."""
    ws = make_workspace(tmp_path / "ws")
    land(ws, _unmapped_journeys())
    plan = _check(ws)
    path = ws.root / "clientela.toml"
    path.write_text(_paste(path.read_text(encoding="utf-8"), plan), encoding="utf-8")
    ws = open_workspace(ws.root)
    assert "Ticket Answered" in ws.settings.metrics.events.reply
    after = _check(ws)
    assert after.unused == [] and after.toml == []
    by_name = {n.name: n for n in after.names}
    assert "signal b2b: demo request (Demo Requested)" in by_name["Demo Requested"].feeds
    assert "signal b2b: email click" in by_name["Email Clicked"].feeds
    assert "metrics.events.reply" in by_name["Ticket Answered"].feeds
    assert tracking_summary(ws) is None

    ledger = run_job(ws, as_of=datetime(2025, 1, 8, tzinfo=UTC))["score_ledger"]
    scored = {(r["rule"], r["detail"]) for r in ledger if r["points"] > 0}
    assert ("demo request (Demo Requested)", "Demo Requested") in scored
    assert ("email click", "Email Clicked") in scored


def test_tracking_summary_names_what_feeds_nothing(tmp_path: Path) -> None:
    """The one-line summary for import/ingest lists unused names, most frequent first."""
    ws = make_workspace(tmp_path / "ws")
    assert tracking_summary(ws) is None  # nothing landed
    land(ws, _unmapped_journeys())
    assert tracking_summary(ws) == (
        "3 event names feed nothing: Email Clicked (24), Demo Requested (12), "
        "Ticket Answered (12); run `clientela check`"
    )
    assert tracking_summary(ws, shown=1) == (
        "3 event names feed nothing: Email Clicked (24), and 2 more; run `clientela check`"
    )


def test_ingest_and_import_end_with_the_tracking_summary(tmp_path: Path) -> None:
    """`clientela ingest` (and a CRM import after it) prints the summary line at the end."""
    ws = make_workspace(tmp_path / "ws")
    events = _unmapped_journeys().write(tmp_path / "events.jsonl")
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(events), "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "3 event names feed nothing: Email Clicked (24)" in result.output
    crm = tmp_path / "crm.csv"
    crm.write_text("id,email\nc1,c1@example.com\n", encoding="utf-8")
    result = runner.invoke(app, ["import", "contacts", str(crm), "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "feed nothing" in result.output and "clientela check" in result.output


def test_check_on_an_empty_workspace_says_nothing_was_landed(tmp_path: Path) -> None:
    """Before anything is landed the check says so instead of listing empty concepts."""
    ws = make_workspace(tmp_path / "ws")
    result = runner.invoke(app, ["check", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "nothing has been landed yet" in result.output
    plan = _check(ws)
    assert plan.events == 0 and plan.names == [] and len(plan.without_data) == len(plan.concepts)


def test_close_names_fold_stems_and_synonyms() -> None:
    """Name matching folds case, inflections and domain synonyms, and tells names apart."""
    assert words("Ticket Answered") == ["ticket", "reply"]
    assert words("demoRequested") == ["demo", "request"]
    assert similarity("Demo Requested", "demo request") == 1.0
    assert similarity("Ticket Answered", "Ticket Replied") == 1.0
    assert similarity("Invoice Paid", "Webinar Attended") < 0.5


def test_toml_tables_round_trip() -> None:
    """A written table parses back to the same data (sub-tables, arrays of tables, quoting)."""
    body = {
        "preset": "b2b",
        "weird key": 'a "quoted" ñ\\ value',
        "cutoffs": {"1": 60, "2": 35.5},
        "signals": [
            {"name": "demo", "event": ["Demo Requested"], "where": {"form_id": "x"}, "points": 25.0}
        ],
        "flag": True,
    }
    text = toml_table("models.m", body)
    assert tomllib.loads(text) == {"models": {"m": body}}


def test_subscription_events_feed_the_subscriptions(tmp_path: Path) -> None:
    """Subscription starts and payments (stages.subscriptions) are used, not 'feed nothing';
    a payment event under another name is suggested for the payment list."""
    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    j.track("Subscription Started", user_id="s1", properties={"plan": "pro", "amount": 30}, at=1)
    j.track("Invoice Paid", user_id="s1", properties={"amount": 30}, at=31)
    j.track("Invoice Payment Succeeded", user_id="s1", properties={"amount": 30}, at=61)
    land(ws, j)
    plan = _check(ws)
    assert [(n.name, n.events) for n in plan.unused] == [("Invoice Payment Succeeded", 1)]
    started = next(c for c in plan.concepts if c.name == "stages.subscriptions.started")
    assert started.events == 1 and "subscribers" in started.used_by
    # An alias of Payment Succeeded: a subscription payment, and passive like it.
    assert sorted(t.table for t in plan.toml) == ["stages.events", "stages.subscriptions"]
    path = ws.root / "clientela.toml"
    path.write_text(_paste(path.read_text(encoding="utf-8"), plan), encoding="utf-8")
    ws = open_workspace(ws.root)
    assert "Invoice Payment Succeeded" in ws.settings.stages.subscriptions.payment
    assert ws.settings.stages.subscriptions.grace_days == 7  # the rest of the table kept
    assert _check(ws).unused == []


def test_metric_and_stage_maps_match_the_settings_and_the_catalogue() -> None:
    """The check's maps cover every event list and field, and name only real metrics."""
    assert set(METRICS_BY_EVENTS) == set(MetricEvents.model_fields)
    assert set(FIELD_EVENTS) == set(MetricFields.model_fields)
    assert {k for keys in FIELD_EVENTS.values() for k in keys} <= set(MetricEvents.model_fields)
    assert set(METRICS_BY_STAGE_EVENTS) <= set(StageEvents.model_fields) | {"started", "payment"}
    assert set(FEATURE_EVENTS) <= set(STAGE_FEATURES)
    lists = set(StageEvents.model_fields) | {"started", "payment"}  # + stages.subscriptions
    assert {k for keys in FEATURE_EVENTS.values() for k in keys} <= lists
    named = {
        m
        for names in (*METRICS_BY_EVENTS.values(), *METRICS_BY_STAGE_EVENTS.values())
        for m in names
    }
    assert named <= set(metrics.REGISTRY)


@pytest.mark.spark
def test_check_is_the_same_on_duckdb_and_spark(tmp_path: Path, spark_session: Any) -> None:
    """The check's counts, feeds, property keys and TOML are identical on both engines."""
    ws = make_workspace(tmp_path / "ws")
    j = _unmapped_journeys()
    j.track("Form Submitted", user_id="u1", properties={"form_id": " Demo-Request"}, at=30)
    j.page(anonymous_id="a1", properties={"path": "/pricing/team"}, at=31)
    land(ws, j)
    reports = []
    for kind in ("duckdb", "spark"):
        engine = connect(ws, kind)
        try:
            reports.append(check(engine, ws).to_json())
        finally:
            engine.close()
    assert reports[0] == reports[1]
    concepts = {c["name"]: c["events"] for c in reports[0]["concepts"]}
    assert concepts["b2b: demo request"] == 1 and concepts["b2b: pricing page"] == 1


def test_mapping_one_model_keeps_the_default_others(tmp_path: Path) -> None:
    """Without [models] in the file the untouched default model is printed too, unchanged."""
    ws = make_workspace(tmp_path / "ws", '[report]\ntimezone = "UTC"\n')
    j = Journeys()
    j.track("Demo Requested", user_id="u1", at=0)
    land(ws, j)
    plan = _check(ws)
    assert [(t.table, t.replaces, t.maps) for t in plan.toml] == [
        ("models.b2b", False, ["Demo Requested"]),
        ("models.b2c", False, []),
    ]
    before = ws.settings.models
    path = ws.root / "clientela.toml"
    path.write_text(_paste(path.read_text(encoding="utf-8"), plan), encoding="utf-8")
    after = open_workspace(ws.root).settings.models
    assert after["b2c"] == before["b2c"]
    assert [s.name for s in after["b2b"].signals] == [
        *(s.name for s in before["b2b"].signals),
        "demo request (Demo Requested)",
    ]
    assert after["b2b"].fit == before["b2b"].fit
