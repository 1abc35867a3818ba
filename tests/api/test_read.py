"""The read API answers what the job published: contacts, accounts, metrics and runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from api_world import AS_OF, World, at, build
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from clientela import metrics, pipeline
from clientela.api import create_app
from clientela.engine import connect
from clientela.keys import create_key
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build(Path(tmp_path_factory.mktemp("read")) / "ws")


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.ws)) as c:
        c.headers.update(world.read)
        yield c


def ok(client: TestClient, url: str, **params: Any) -> Any:
    response = client.get(url, params=params) if params else client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def ids(client: TestClient, **params: Any) -> set[str]:
    page = ok(client, "/api/contacts", limit=1000, **params)
    assert page["total"] == len(page["items"])
    return {item["contact_id"] for item in page["items"]}


def when(value: datetime | None) -> str | None:
    """A published time as the API writes it."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def test_contacts_list_pages_through_everyone_best_grade_first(
    client: TestClient, world: World
) -> None:
    """limit/offset pages with total and next cover every contact once, in the CLI's order."""
    life = world.tables["lifecycle"]

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        grade = row["grade"]
        rank = "ABCD".index(grade[0]) * 4 + int(grade[1]) - 1 if grade else 99
        engagement = row["engagement"]
        return (rank, engagement is None, -(engagement or 0.0), row["contact_id"])

    expected = [r["contact_id"] for r in sorted(life, key=order)]
    seen: list[str] = []
    url: str | None = "/api/contacts?limit=3"
    pages = 0
    while url is not None:
        page = ok(client, url)
        assert page["total"] == len(expected) and page["limit"] == 3
        assert page["offset"] == 3 * pages and len(page["items"]) <= 3
        assert page["version"] == client.get("/api/published").json()["version"]
        seen += [item["contact_id"] for item in page["items"]]
        url, pages = page["next"], pages + 1
        assert (url is None) == (page["next_offset"] is None)
    assert seen == expected and pages == 4  # 10 contacts, 3 a page
    first = ok(client, "/api/contacts", limit=1)["items"][0]
    row = next(r for r in life if r["contact_id"] == first["contact_id"])
    for key in ("grade", "fit", "engagement", "stage", "label", "audience_class", "account_id"):
        assert first[key] == row[key]


def test_contacts_list_filters_like_the_cli(client: TestClient, world: World) -> None:
    """grade (letters or grades), stage, class, account, fit/engagement bounds, identified
    and a text search over ids and emails each keep exactly the matching contacts."""
    life = world.tables["lifecycle"]
    people = {r["contact_id"]: r for r in world.tables["contacts"]}

    def where(test: Any) -> set[str]:
        return {r["contact_id"] for r in life if test(r)}

    assert ids(client, grade="C") == where(lambda r: r["fit_letter"] == "C") == {"a", "c"}
    assert ids(client, grade=["c3", "D"]) == where(
        lambda r: r["grade"] == "C3" or r["fit_letter"] == "D"
    )
    assert ids(client, stage="customer,churned") == where(
        lambda r: r["stage"] in ("customer", "churned")
    )
    assert ids(client, **{"class": "student"}) == {"s"}
    assert ids(client, account="acme") == {"a", "c"}
    assert ids(client, identified="false") == {"anon:g-anon", "anon:visitor"}
    assert ids(client, identified="true") == where(lambda r: people[r["contact_id"]]["identified"])
    assert ids(client, min_fit=10, max_engagement=20) == where(
        lambda r: r["fit"] is not None and r["fit"] >= 10 and r["engagement"] <= 20
    )
    assert ids(client, min_engagement=5, stage="prospect") == {"f"}
    assert ids(client, q="UNI.EDU") == {"s"}  # email, any case
    assert ids(client, q="visit") == {"anon:visitor"}  # an anonymousId
    assert ids(client, q="mail.example", grade="C") == {"a", "c"}
    # A stage that does not exist is refused (400), not an empty page.
    assert client.get("/api/contacts", params={"stage": "nobody"}).status_code == 400
    page = ok(client, "/api/contacts", stage="fan", limit=2)
    assert page["total"] == 3 and page["next_offset"] == 2
    assert page["next"] == "/api/contacts?stage=fan&limit=2&offset=2"
    assert ok(client, page["next"])["next"] is None


def test_contact_detail_is_what_the_job_published(client: TestClient, world: World) -> None:
    """The 3D score, its explanation (ledger rows adding up to the totals), audience class,
    stage history, memberships and timeline of a contact equal the published rows."""
    t = world.tables
    view = next(r for r in t["lifecycle"] if r["contact_id"] == "a")
    score = next(r for r in t["scores"] if r["contact_id"] == "a" and r["model"] == view["model"])
    detail = ok(client, "/api/contacts/a@mail.example")  # found by email
    assert detail["contact_id"] == "a" and ok(client, "/api/contacts/a") == detail
    assert detail["email"] == "a@mail.example" and detail["account_id"] == "acme"
    assert detail["as_of"] == when(AS_OF)
    assert detail["score"] == {k: score[k] for k in detail["score"]}
    assert [s["model"] for s in detail["scores"]] == [
        r["model"] for r in t["scores"] if r["contact_id"] == "a"
    ]
    life = detail["lifecycle"]
    assert life["stage"] == view["stage"] == "fan" and life["label"] == view["label"]
    assert life["stage_since"] == when(view["stage_since"]) and life["orders"] == view["orders"]
    assert life["next_initiative"] == view["next_initiative"]
    assert detail["audience"]["audience_class"] == "buyer"

    explanation = detail["explanation"]
    ledger = [
        r for r in t["score_ledger"] if r["contact_id"] == "a" and r["model"] == score["model"]
    ]
    assert explanation["scored"] and explanation["model"] == score["model"]
    assert len(explanation["fit_rows"]) == sum(r["dimension"] == "fit" for r in ledger)
    assert len(explanation["engagement_rows"]) == sum(
        r["dimension"] == "engagement" for r in ledger
    )
    assert explanation["fit_total"] == pytest.approx(score["fit"]) == explanation["fit"]
    assert explanation["fit_rows"][0]["detail"] == "account.employees = 200"
    assert explanation["engagement_total"] == pytest.approx(score["engagement_points"])
    assert sum(s["points"] for s in explanation["signals"]) == pytest.approx(
        explanation["engagement_total"]
    )
    assert sum(s["events"] for s in explanation["signals"]) == len(explanation["engagement_rows"])
    assert explanation["engagement"] == score["engagement"]
    assert explanation["curve"].endswith(f"= {score['engagement']:.1f}")
    assert ok(client, "/api/contacts/a/explain") == explanation

    history = sorted(
        (r for r in t["stage_history"] if r["contact_id"] == "a"), key=lambda r: r["entered_at"]
    )
    assert [(h["stage"], h["entered_at"], h["exited_at"]) for h in detail["history"]] == [
        (r["stage"], when(r["entered_at"]), when(r["exited_at"])) for r in history
    ]
    assert detail["history"][-1]["exited_at"] is None
    assert [m["account_id"] for m in detail["memberships"]] == ["acme"]
    assert {(i["kind"], i["value"]) for i in detail["identities"]} == {
        ("user_id", "a"),
        ("email", "a@mail.example"),
    }

    events = sorted(
        (r for r in t["activity"] if r["contact_id"] == "a"),
        key=lambda r: (r["timestamp"], r["message_id"]),
        reverse=True,
    )
    timeline = detail["timeline"]
    assert timeline["total"] == len(events) == detail["events"]
    assert [e["message_id"] for e in timeline["items"]] == [r["message_id"] for r in events]
    newest = timeline["items"][0]
    assert newest["timestamp"] == when(events[0]["timestamp"]) and newest["type"] == "page"
    assert newest["path"] == "/account" and "referred_email" in newest["fields"]


def test_contact_found_by_anonymous_id_and_timeline_pages(client: TestClient, world: World) -> None:
    """An anonymousId finds its contact; the timeline pages newest first through `next`."""
    assert ok(client, "/api/contacts/visitor")["contact_id"] == "anon:visitor"
    detail = ok(client, "/api/contacts/visitor", events=3)
    timeline = detail["timeline"]
    assert timeline["total"] == 7 and len(timeline["items"]) == 3
    assert timeline["next"] == "/api/contacts/anon%3Avisitor/timeline?limit=3&offset=3"
    paths = [e["path"] for e in timeline["items"]]
    url = timeline["next"]
    while url:
        page = ok(client, url)
        paths += [e["path"] for e in page["items"]]
        url = page["next"]
    assert paths == [f"/p{day}" for day in range(7, 0, -1)]
    page = ok(client, "/api/contacts/anon:visitor/timeline", limit=2, offset=6)
    assert [e["path"] for e in page["items"]] == ["/p1"] and page["next"] is None


def test_excluded_class_shows_its_evidence_and_why_it_is_not_scored(
    client: TestClient, world: World
) -> None:
    """A student: audience class with its evidence rows; the explanation says why no score."""
    detail = ok(client, "/api/contacts/SAM@UNI.EDU")
    assert detail["contact_id"] == "s"
    audience = detail["audience"]
    assert audience["audience_class"] == "student" and audience["policy"] == "exclude"
    [evidence] = [r for r in world.tables["audience_evidence"] if r["contact_id"] == "s"]
    assert audience["evidence_rows"] == [
        {
            "audience_class": "student",
            "rule": evidence["rule"],
            "detail": evidence["detail"],
            "seen_at": when(evidence["seen_at"]),
        }
    ]
    assert detail["score"] is None or not detail["score"]["scored"]
    assert not detail["explanation"]["scored"]
    assert "student" in detail["explanation"]["reason"]


def test_accounts_list_and_detail(client: TestClient, world: World) -> None:
    """Accounts with their scores per model, most members first; one with traits and members."""
    page = ok(client, "/api/accounts")
    assert [a["account_id"] for a in page["items"]] == ["acme", "beta"]
    assert page["total"] == 2 and page["next"] is None
    acme = page["items"][0]
    assert acme["name"] == "Acme" and acme["members"] == 2
    published = [r for r in world.tables["account_scores"] if r["account_id"] == "acme"]
    assert acme["scores"] == [{k: r[k] for k in acme["scores"][0]} for r in published]
    assert ok(client, "/api/accounts", q="BETA")["total"] == 1
    detail = ok(client, "/api/accounts/acme")
    assert detail["scores"] == acme["scores"] and detail["domain"] == "acme.example"
    assert {t["trait"]: t["value"] for t in detail["traits"]}["employees"] == "200"
    assert [(m["contact_id"], m["email"], m["grade"]) for m in detail["contacts"]] == [
        ("a", "a@mail.example", "C3"),
        ("c", "c@mail.example", "C4"),
    ]
    missing = client.get("/api/accounts/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_metric_catalogue_is_the_registry(client: TestClient) -> None:
    """Every registered metric with its formula, columns and units, keys, options and the
    values an option takes (funnel mode: ordered, strict, unordered)."""
    catalogue = ok(client, "/api/metrics")
    assert {m["name"] for m in catalogue["metrics"]} == set(metrics.REGISTRY)
    for item in catalogue["metrics"]:
        metric = metrics.REGISTRY[item["name"]]
        assert item["formula"] == metric.formula and item["family"] == metric.family
        assert {c["name"]: c["unit"] for c in item["columns"]} == metric.units
        assert item["keys"] == list(metric.keys) and item["options"] == metric.options
        assert item["choices"] == {k: list(v) for k, v in metric.choices.items()}
    funnel = next(m for m in catalogue["metrics"] if m["name"] == "funnel")
    assert funnel["choices"]["mode"] == ["ordered", "strict", "unordered"]
    assert "stage" in catalogue["dimensions"] and "month" in catalogue["periods"]


def test_metric_values_equal_the_cli_with_reasons_for_na(client: TestClient, world: World) -> None:
    """The same query gives the same rows as `clientela metrics --format json`; a value that
    cannot be computed is null with its reason."""
    from clientela.cli import app

    args = ["--from", "2025-02-01", "--to", "2025-04-30", "--period", "month", "--by", "class"]
    run = CliRunner().invoke(
        app, ["metrics", "audience_growth", *args, "--format", "json", "-w", str(world.ws.root)]
    )
    assert run.exit_code == 0, run.output
    cli = json.loads(run.output)
    api = ok(
        client,
        "/api/metrics/audience_growth",
        **{"from": "2025-02-01", "to": "2025-04-30", "period": "month", "by": "class"},
    )
    for key in ("metric", "title", "formula", "period", "timezone", "units", "rows"):
        assert api[key] == cli[key], key
    assert api["as_of"] == cli["as_of"].replace("+00:00", "Z")
    missing = [r for r in api["rows"] if r["change"] is None]
    assert missing and all(r["n/a"]["change"] for r in missing)
    assert {r["n/a"]["change"] for r in missing} >= {"previous period was 0"}
    # Breakdown filters and options reach the metric too.
    only = ok(
        client,
        "/api/metrics/audience_growth",
        **{"from": "2025-02-01", "to": "2025-04-30", "by": "class", "where": "class=student"},
    )
    assert [(r["period"], r["class"], r["new_strangers"]) for r in only["rows"]] == [
        ("2025-02", "student", 0),
        ("2025-03", "student", 1),  # s arrived on 5 March
        ("2025-04", "student", 0),
    ]


def test_who_lists_the_contacts_behind_a_cell(client: TestClient, world: World) -> None:
    """`who` answers the library's drill-down rows for that cell."""
    query = metrics.Query(start=date(2025, 2, 1), end=date(2025, 4, 30), period="month")
    engine = connect(world.ws, "duckdb", reader=True)
    try:
        expected = metrics.who(
            engine, world.ws.settings, "audience_growth", {"period": "2025-02"}, query
        )
    finally:
        engine.close()
    api = ok(
        client,
        "/api/metrics/audience_growth",
        **{"from": "2025-02-01", "to": "2025-04-30", "period": "month", "who": "period=2025-02"},
    )
    assert api["cell"] == {"period": "2025-02"} and api["columns"] == expected.column_names
    assert [r["contact_id"] for r in api["rows"]] == expected.column("contact_id").to_pylist()
    assert api["total"] == expected.num_rows > 0


def test_errors_are_json_with_code_and_message(client: TestClient, tmp_path: Path) -> None:
    """Unknown things are 404, invalid queries 400/422, an empty workspace not_published."""
    cases = [
        ("/api/contacts/nobody@nowhere", 404, "not_found"),
        ("/api/metrics/nope", 404, "not_found"),
        ("/api/contacts?stage=prospekt", 400, "invalid_query"),
        ("/api/contacts?grade=Z9", 400, "invalid_query"),
        ("/api/metrics/audience_growth?options=nope=1", 400, "invalid_query"),
        ("/api/metrics/audience_growth?by=shoe_size", 400, "invalid_query"),
        ("/api/metrics/audience_growth?where=stage", 400, "invalid_query"),
        ("/api/metrics/audience_growth?from=2025-05-01&to=2025-04-01", 400, "invalid_query"),
        (
            "/api/metrics/audience_growth?from=1990-01-01&to=2025-01-01&period=day",
            400,
            "invalid_query",
        ),
        ("/api/metrics/audience_growth?period=fortnight", 422, "invalid_request"),
        ("/api/contacts?limit=0", 422, "invalid_request"),
        ("/api/contacts/a/explain?model=nope", 404, "not_found"),
        ("/api/runs/run-nope", 404, "not_found"),
    ]
    for url, status, code in cases:
        response = client.get(url)
        assert response.status_code == status, (url, response.text)
        body = response.json()
        assert body["code"] == code and body["message"], url
    empty = make_workspace(tmp_path / "empty")
    _, key = create_key(empty, "read")
    with TestClient(create_app(empty)) as fresh:
        response = fresh.get("/api/contacts", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 404 and response.json()["code"] == "not_published"
        assert (
            fresh.get("/api/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        )


def test_concurrent_reads_each_get_a_whole_answer(client: TestClient) -> None:
    """Reads from many threads at once share the engine pool safely."""
    urls = [
        "/api/contacts",
        "/api/contacts/a",
        "/api/accounts/acme",
        "/api/metrics/audience_growth",
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: client.get(urls[i % len(urls)]), range(24)))
    assert [a.status_code for a in answers] == [200] * 24
    assert len({a.json()["version"] for a in answers}) == 1


def test_a_run_publishes_a_new_version_while_reads_keep_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /api/runs starts the job in the background; while it is half-way through
    publishing, reads answer the previous version and a second run is refused (409); when it
    is done, reads answer the new version."""
    ws = make_workspace(tmp_path / "ws")
    first = Journeys()
    first.identify(user_id="old", traits={"email": "old@x.example"}, at=at("2025-03-01 09:00"))
    land(ws, first)
    run_job(ws, AS_OF)
    more = Journeys()
    more.identify(
        user_id="new", traits={"email": "new@x.example"}, at=at("2025-04-01 09:00"), message_id="m2"
    )
    land(ws, more, name="more.jsonl")
    _, key = create_key(ws, "admin")  # runs need an admin key, which may also read
    halfway, go_on = threading.Event(), threading.Event()
    real_run = pipeline.run

    def paused_run(engine: Any, workspace: Any, on_table: Any = None, as_of: Any = None) -> Any:
        def table_done(name: str) -> None:
            on_table(name)
            if name == "lifecycle":  # some tables written, the pointer not swapped yet
                halfway.set()
                assert go_on.wait(60)

        return real_run(engine, workspace, on_table=table_done, as_of=as_of)

    monkeypatch.setattr(pipeline, "run", paused_run)
    with TestClient(create_app(ws), headers={"Authorization": f"Bearer {key}"}) as c:
        before = c.get("/api/published").json()["version"]
        started = c.post("/api/runs", json={"as_of": AS_OF.isoformat()})
        assert started.status_code == 202, started.text
        run = started.json()
        assert run["status"] == "running" and run["previous_version"] == before
        try:
            assert halfway.wait(120)
            page = c.get("/api/contacts").json()
            assert page["version"] == before and {i["contact_id"] for i in page["items"]} == {"old"}
            assert c.get("/api/contacts/new").status_code == 404
            again = c.post("/api/runs")
            assert again.status_code == 409 and again.json()["code"] == "run_in_progress"
            assert c.get(f"/api/runs/{run['id']}").json()["status"] == "running"
        finally:
            go_on.set()
        done = c.app.state.runs.wait(run["id"], timeout=120)  # type: ignore[attr-defined]
        assert done.status == "succeeded", done.error
        status = c.get(f"/api/runs/{run['id']}").json()
        assert status["version"] != before and status["tables_done"] == len(pipeline.TABLES)
        assert status["rows"]["contacts"] == 2
        assert c.get("/api/published").json()["version"] == status["version"]
        assert c.get("/api/contacts/new").json()["version"] == status["version"]
        assert ok(c, "/api/contacts")["total"] == 2
        assert [r["id"] for r in c.get("/api/runs").json()["runs"]] == [run["id"]]
