"""Reads never fail on anything that landed: a world of hostile but landable values (odd ids,
markup, huge numbers, wrong property types, times at the window's edges), then every read
endpoint and every CLI view over it (issue 10, finding 2 and "reads never 500")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import LiveServer
from typer.testing import CliRunner

from clientela import metrics
from clientela.api import create_app
from clientela.cli import app as cli_app
from clientela.keys import create_key
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys

# Ids a person or company can have once landed: path separators, URL syntax, markup, quotes,
# SQL, spaces, right-to-left override, emoji, a very long one, a big number.
IDS = [
    "a/b",
    "../../etc/passwd",
    "%2F%00",
    "id?x=1#frag",
    "[/bold]x",
    "[red]alert[/red]",
    ":smile:",
    "O'Brien\"; DROP TABLE contacts; --",
    " spaced id ",
    "\u202eevil",
    "Ñandú-東京-🎉",
    "x" * 1000,
    "123456789012345678901234567890",
    "=cmd|' /C calc'!A0",
]
WEIRD = [
    123456789012345678901234567890,
    -1e308,
    1e308,
    "NaN",
    "many",
    None,
    True,
    [],
    {"nested": {"deep": [1, {"x": None}]}},
    "<script>alert(1)</script>",
    "[bold]b",
    "",
]
EDGE_EARLY = "1970-01-01T00:00:00Z"
EDGE_LATE = "2099-12-31T23:59:59Z"


def hostile_journeys() -> Journeys:
    j = Journeys()
    for n, uid in enumerate(IDS):
        weird = WEIRD[n % len(WEIRD)]
        j.identify(
            user_id=uid,
            anonymous_id=f"anon-{uid}",
            traits={
                "email": f"{uid[:50].strip() or 'x'}@[x].example",
                "name": uid[:80],
                "employees": weird,
                "title": weird,
                "age": weird,
                "created_at": weird,
            },
        )
        j.group(f"acc-{uid}", user_id=uid, traits={"name": weird, "employees": weird})
        j.track("Order Completed", user_id=uid, properties={"revenue": weird, "products": weird})
        j.track(
            "Order Completed",
            user_id=uid,
            properties={"total": weird, "products": [{"price": weird, "quantity": weird}, weird]},
        )
        j.track("Rating Submitted", user_id=uid, properties={"rating": weird})
        j.track("Ticket Opened", user_id=uid, properties={"ticket_id": weird, "channel": weird})
        j.track("Post Created", user_id=uid, properties={"post_id": uid, "parent_id": weird})
        j.track("Referral Sent", user_id=uid, properties={"referred_email": weird})
        j.page(user_id=uid, properties={"path": f"/{uid}", "url": weird}, name=weird)
        j.track(f"Event {uid}", user_id=uid, context={"userAgent": weird, "traits": {"x": weird}})
    # Times at both edges of the window, and an alias loop.
    j.track("Signed Up", user_id="edge", timestamp=EDGE_EARLY)
    j.track("Order Completed", user_id="edge", timestamp=EDGE_LATE, properties={"revenue": 1})
    j.alias("loop-a", "loop-b").alias("loop-b", "loop-a")
    return j


@dataclass
class Hostile:
    ws: Workspace
    client: httpx.Client
    tables: dict[str, list[dict[str, Any]]]
    contacts: list[str]
    accounts: list[str]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    ws = make_workspace(Path(tmp_path_factory.mktemp("hostile")) / "ws")
    land(ws, hostile_journeys())
    tables = run_job(ws)
    _, read = create_key(ws, "read")
    contacts = sorted({r["contact_id"] for r in tables["lifecycle"]})
    accounts = sorted({r["account_id"] for r in tables["account_scores"]})
    assert len(contacts) >= len(IDS) and accounts
    # A real server: the test client decodes paths twice (so %2500 would arrive as NUL).
    server = LiveServer(ws.root)
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {read}"}, timeout=120
        ) as client:
            yield Hostile(ws, client, tables, contacts, accounts)
    finally:
        server.stop()


def no_500(client: httpx.Client, url: str, params: dict[str, Any] | None = None) -> Any:
    response = client.get(url, params=params)
    assert response.status_code < 500, f"{url} {params}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/json"), url
    return response


def read_routes(ws: Workspace) -> list[str]:
    """Every GET path of the read API."""
    app = create_app(ws)
    return sorted(
        route.path
        for route in iter_route_contexts(app.routes)
        if route.path
        and route.path.startswith("/api/")
        and "GET" in (route.methods or ())
        and not route.path.startswith("/api/admin")
    )


def fill(path: str, h: Hostile, ident: str) -> str:
    values = {
        "contact": ident,
        "account_id": ident,
        "name": ident,
        "run_id": ident,
        "key": ident,
    }
    for name, value in values.items():
        for placeholder in ("{" + name + "}", "{" + name + ":path}"):
            path = path.replace(placeholder, quote(value, safe=""))
    assert "{" not in path, f"a path parameter this test does not know: {path}"
    return path


def test_every_read_endpoint_answers_for_every_landed_id(hostile: Hostile) -> None:
    """Every GET endpoint, with each landed contact and account id (and the raw hostile ids,
    which are looked up too): never a 500, always JSON, and the landed ones are found."""
    routes = read_routes(hostile.ws)
    assert "/api/contacts/{contact:path}" in routes
    for ident in [*hostile.contacts, *hostile.accounts, *IDS]:
        for route in routes:
            no_500(hostile.client, fill(route, hostile, ident))
    # Every landed id is found by path, "/" in it included (quoted as %2F, or as it is where
    # the client would not resolve "." and ".." segments of it away).
    for cid in hostile.contacts:
        urls = [f"/api/contacts/{quote(cid, safe='')}"]
        if not {".", ".."} & set(cid.split("/")):
            urls.append(f"/api/contacts/{quote(cid)}")
        for url in urls:
            found = no_500(hostile.client, url)
            assert found.status_code == 200, (cid, found.text)
            assert found.json()["contact_id"] == cid
        timeline = no_500(hostile.client, f"/api/contacts/{quote(cid, safe='')}/timeline")
        assert timeline.status_code == 200, (cid, timeline.text)
    for aid in hostile.accounts:
        found = no_500(hostile.client, f"/api/accounts/{quote(aid, safe='')}")
        assert found.status_code == 200, (aid, found.text)
        assert found.json()["account_id"] == aid


def test_every_metric_reads_over_hostile_data(hostile: Hostile) -> None:
    """Every registered metric, plain and broken down by a hostile trait, answers without
    a 500 (a refusal is a 4xx with a reason)."""
    for name in metrics.REGISTRY:
        no_500(hostile.client, f"/api/metrics/{name}", {"from": "1970-01-01"})
        no_500(hostile.client, f"/api/metrics/{name}", {"by": "trait:employees"})
        no_500(hostile.client, f"/api/metrics/{name}", {"by": "account", "period": "year"})


text = st.text(max_size=40) | st.sampled_from(IDS) | st.sampled_from([str(w) for w in WEIRD])


@settings(
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "q",
                "stage",
                "grade",
                "class",
                "account",
                "min_fit",
                "max_fit",
                "min_engagement",
                "identified",
                "limit",
                "offset",
                "sort",
                "model",
                "events",
            ]
        ),
        text | st.integers().map(str),
        max_size=5,
    ),
    st.sampled_from(["/api/contacts", "/api/accounts"]),
)
def test_list_filters_never_500(hostile: Hostile, params: dict[str, str], url: str) -> None:
    """Any text in any filter of the lists is answered 200 or a 4xx with a JSON reason."""
    response = no_500(hostile.client, url, params)
    if response.status_code >= 400:
        assert response.json()["code"]


@settings(
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.sampled_from(sorted(metrics.REGISTRY)),
    st.dictionaries(
        st.sampled_from(["from", "to", "period", "by", "where", "option", "who"]),
        text,
        max_size=4,
    ),
)
def test_metric_parameters_never_500(hostile: Hostile, name: str, params: dict[str, str]) -> None:
    """Any text in any metric parameter is answered 200 or a 4xx with a JSON reason."""
    response = no_500(hostile.client, f"/api/metrics/{name}", params)
    if response.status_code >= 400:
        assert response.json()["code"]


def test_every_cli_view_over_hostile_data(hostile: Hostile, tmp_path: Path) -> None:
    """contacts show / explain for every landed contact, contacts list in every format,
    every metric and the report: exit 0, and a landed id is printed verbatim."""
    runner = CliRunner()
    ws = str(hostile.ws.root)

    def ok(*args: str) -> str:
        result = runner.invoke(cli_app, [*args, "-w", ws])
        assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
        return result.output

    for cid in hostile.contacts:
        ok("contacts", "show", cid)
        ok("explain", cid, "--events")
    shown = ok("contacts", "show", "[/bold]x")
    assert "[/bold]x" in shown
    for fmt in ("table", "csv", "json"):
        ok("contacts", "list", "--format", fmt)
    ok("contacts", "list", "--format", "parquet", "--out", str(tmp_path / "c.parquet"))
    for name in metrics.REGISTRY:
        ok("metrics", name, "--from", "1970-01-01", "--period", "year")
        ok("metrics", name, "--format", "json")
    ok("report", "--out", str(tmp_path / "report.html"))
    assert json.loads(ok("keys", "list", "--format", "json"))
