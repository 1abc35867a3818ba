"""Least privilege: which kind of key every endpoint of the app takes, endpoint by endpoint.

The matrix is built from the app's routes: an endpoint added without a rule in ``RULES``
fails :func:`test_every_endpoint_has_a_rule`, and every rule is checked against the running
app for every kind of key by :func:`test_every_endpoint_takes_exactly_its_kinds_of_key`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_world import World, build
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from clientela.activation import segments
from clientela.api import create_app
from clientela.ingest.files import ingest_files
from clientela.keys import KINDS, create_key, revoke_key
from conftest import make_workspace
from helpers import quarantined

PUBLIC = frozenset({"anyone"})  # no key needed (and a key changes nothing)
WRITE = frozenset({"write"})
READ = frozenset({"read", "admin"})
ADMIN = frozenset({"admin"})
V1_CALLS = ("identify", "track", "page", "screen", "group", "alias", "batch", "import")
ALL_METHODS = ("DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT")

# (method, path as declared) -> the kinds of key it takes. The spec, written out by hand.
RULES: dict[tuple[str, str], frozenset[str]] = {
    **{("POST", f"/v1/{call}"): WRITE for call in V1_CALLS},
    **{(m, "/v1/{call:path}"): PUBLIC for m in ALL_METHODS},  # 404 or 405, nothing done
    ("GET", "/api/contacts"): READ,
    ("GET", "/api/contacts/{contact:path}"): READ,
    ("GET", "/api/contacts/{contact:path}/timeline"): READ,
    ("GET", "/api/contacts/{contact:path}/explain"): READ,
    ("GET", "/api/contacts/{contact:path}/predictions"): READ,
    ("GET", "/api/contacts/{contact:path}/recommendations"): READ,
    ("GET", "/api/predictions"): READ,
    ("GET", "/api/predictions/models"): READ,
    ("GET", "/api/actions"): READ,
    ("GET", "/api/actions/summary"): READ,
    ("GET", "/api/contacts/{contact:path}/actions"): READ,
    ("GET", "/api/policy/do-not-contact"): ADMIN,
    ("POST", "/api/policy/do-not-contact"): ADMIN,
    ("DELETE", "/api/policy/do-not-contact/{entry:path}"): ADMIN,
    ("GET", "/api/contacts/{contact:path}/loyalty"): READ,
    ("GET", "/api/loyalty"): READ,
    ("GET", "/api/accounts"): READ,
    ("GET", "/api/accounts/{account_id:path}"): READ,
    ("GET", "/api/metrics"): READ,
    ("GET", "/api/metrics/{name}"): READ,
    ("GET", "/api/published"): READ,
    ("GET", "/api/segments"): READ,
    ("GET", "/api/segments/{name}"): READ,
    ("GET", "/api/segments/{name}/history"): READ,
    ("POST", "/api/segments"): ADMIN,
    ("GET", "/api/runs"): READ,
    ("GET", "/api/runs/{run_id}"): READ,
    ("POST", "/api/runs"): ADMIN,
    ("GET", "/api/deliveries"): READ,
    ("POST", "/api/deliver"): ADMIN,  # sends personal data out of the workspace
    ("GET", "/api/admin/keys"): ADMIN,
    ("POST", "/api/admin/keys"): ADMIN,
    ("DELETE", "/api/admin/keys/{key}"): ADMIN,
    ("GET", "/api/admin/quarantine"): ADMIN,
    ("GET", "/api/admin/quarantine/{quarantine_id}"): ADMIN,
    ("POST", "/api/admin/quarantine/retry"): ADMIN,
    ("POST", "/api/privacy/forget"): ADMIN,
    ("POST", "/api/privacy/export"): ADMIN,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/assets/{name}"): PUBLIC,
    ("GET", "/docs/openapi-3.0.json"): PUBLIC,
}


def endpoints(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app routes (HEAD is GET without a body: left out)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        assert path is not None, f"a route without a path: {route!r}"
        methods = route.methods
        assert methods, f"{path}: a route that is not HTTP (WebSocket?) has no key rule"
        found |= {(m, path) for m in methods if m != "HEAD"}
    return found


def test_every_endpoint_has_a_rule(tmp_path: Path) -> None:
    """Every endpoint of the app is in RULES and every rule names an endpoint: a new route
    cannot ship without deciding which keys it takes."""
    found = endpoints(create_app(make_workspace(tmp_path / "ws")))
    assert sorted(found - RULES.keys()) == [], "endpoints without a key rule in RULES"
    assert sorted(RULES.keys() - found) == [], "rules for endpoints that do not exist"


# --- the matrix against a running app -------------------------------------------------------


@dataclass
class Keys:
    active: dict[str, str]  # kind -> an active key
    revoked: dict[str, str]  # kind -> a revoked key


@dataclass
class Stage:
    world: World
    client: TestClient
    keys: Keys
    run_id: str
    quarantine_id: str
    victim: str  # the id of a key DELETE /api/admin/keys/{key} may revoke


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    root = Path(tmp_path_factory.mktemp("privileges"))
    world = build(root / "ws")
    ws = world.ws
    bad = ws.root / "input" / "bad.jsonl"
    bad.write_text('{"type": "track", "userId": "x", "messageId": "no-event"}\n')
    ingest_files(ws, [bad])
    [record] = quarantined(ws)
    active = {kind: create_key(ws, kind, f"matrix-{kind}")[1] for kind in KINDS}
    revoked: dict[str, str] = {}
    for kind in KINDS:
        info, key = create_key(ws, kind)
        revoke_key(ws, info.id)
        revoked[kind] = key
    victim = create_key(ws, "read", "victim")[0].id
    matrix = {"all": [{"field": "orders", "gte": 0}]}  # GET /api/segments/{name} reads it
    segments.save(ws, "matrix", segments.parse("matrix", matrix))
    with TestClient(create_app(ws), raise_server_exceptions=False) as client:
        run = client.post("/api/runs", headers=_bearer(active["admin"]), json={})
        assert run.status_code == 202, run.text
        runs = client.app.state.runs  # type: ignore[attr-defined]
        assert runs.wait(run.json()["id"], timeout=300).status == "succeeded"
        try:
            yield Stage(
                world, client, Keys(active, revoked), run.json()["id"], record["quarantine_id"],
                victim,
            )  # fmt: skip
        finally:
            for started in runs.recent():  # POST /api/runs of the matrix started one more
                runs.wait(started.id, timeout=300)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _request(stage: Stage, method: str, path: str) -> tuple[str, dict[str, Any]]:
    """A concrete URL and request options for an endpoint: a valid call of it."""
    single = {"userId": "matrix", "event": "Checked", "name": "n", "groupId": "g"}
    single["previousId"] = "p"
    concrete = {
        "/v1/{call:path}": "/v1/nope",
        "/api/contacts/{contact:path}": "/api/contacts/a",
        "/api/contacts/{contact:path}/timeline": "/api/contacts/a/timeline",
        "/api/contacts/{contact:path}/explain": "/api/contacts/a/explain",
        "/api/contacts/{contact:path}/predictions": "/api/contacts/a/predictions",
        "/api/contacts/{contact:path}/actions": "/api/contacts/a/actions",
        "/api/policy/do-not-contact/{entry:path}": "/api/policy/do-not-contact/matrix@x.example",
        "/api/contacts/{contact:path}/recommendations": "/api/contacts/a/recommendations",
        "/api/contacts/{contact:path}/loyalty": "/api/contacts/a/loyalty",
        "/api/accounts/{account_id:path}": "/api/accounts/acme",
        "/api/metrics/{name}": "/api/metrics/audience_growth",
        "/api/segments/{name}": "/api/segments/matrix",
        "/api/segments/{name}/history": "/api/segments/matrix/history",
        "/api/runs/{run_id}": f"/api/runs/{stage.run_id}",
        "/api/admin/keys/{key}": f"/api/admin/keys/{stage.victim}",
        "/api/admin/quarantine/{quarantine_id}": f"/api/admin/quarantine/{stage.quarantine_id}",
        "/docs/assets/{name}": "/docs/assets/swagger-ui.css",
    }
    url = concrete.get(path, path)
    options: dict[str, Any] = {}
    if path in ("/v1/batch", "/v1/import"):
        options["json"] = {"batch": [{"type": "track", **single}]}
    elif path.startswith("/v1/") and method == "POST":
        options["json"] = single
    elif (method, path) == ("POST", "/api/runs"):
        options["json"] = {}
    elif (method, path) == ("POST", "/api/deliver"):
        options["json"] = {"dry_run": True}
    elif (method, path) == ("POST", "/api/admin/keys"):
        options["json"] = {"kind": "read"}
    elif (method, path) == ("POST", "/api/admin/quarantine/retry"):
        options["json"] = {"id": stage.quarantine_id}
    elif (method, path) == ("POST", "/api/policy/do-not-contact"):
        options["json"] = {"entry": "matrix@x.example"}
    elif (method, path) == ("POST", "/api/segments"):
        options["json"] = {"name": "matrix", "all": [{"field": "orders", "gte": 0}]}
    elif path.startswith("/api/privacy/"):
        options["json"] = {"id": "nobody@nowhere.example"}  # nobody: nothing to forget
    return url, options


def _cases() -> list[tuple[str, str]]:
    return sorted(RULES)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), _cases(), ids=[f"{m} {p}" for m, p in _cases()])
def test_every_endpoint_takes_exactly_its_kinds_of_key(
    stage: Stage, method: str, path: str
) -> None:
    """No key → 401; an unknown or a revoked key → 401; a key of a kind the rule leaves out
    → 403; a key of a kind it names → 2xx. A public endpoint answers the same to all."""
    allowed = RULES[(method, path)]
    url, options = _request(stage, method, path)
    call = stage.client.request

    def status(headers: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
        answer = call(method, url, headers=headers, **options)
        body = answer.json() if "json" in answer.headers.get("content-type", "") else {}
        assert answer.status_code < 500, (method, url, answer.text[:300])
        return answer.status_code, body

    if allowed == PUBLIC:
        without, _ = status(None)
        assert without not in (401, 403)
        for kind in KINDS:
            assert status(_bearer(stage.keys.active[kind]))[0] == without
        return
    for headers in (
        None,
        _bearer("cr_000000000000_" + "x" * 43),
        _bearer(stage.keys.revoked[sorted(allowed)[0]]),
    ):
        code, body = status(headers)
        assert (code, body.get("code")) == (401, "unauthorized"), (headers, body)
    for kind in sorted(set(KINDS) - allowed):
        code, body = status(_bearer(stage.keys.active[kind]))
        assert (code, body.get("code")) == (403, "forbidden"), (kind, body)
    for kind in sorted(allowed):
        code, body = status(_bearer(stage.keys.active[kind]))
        assert 200 <= code < 300, (kind, code, body)


def test_the_body_write_key_follows_the_same_rule(stage: Stage) -> None:
    """On /v1 the body's writeKey is held to the same rule as a header key: only a write key."""
    event = {"userId": "matrix", "event": "In Body"}
    for kind in KINDS:
        answer = stage.client.post("/v1/track", json={**event, "writeKey": stage.keys.active[kind]})
        assert answer.status_code == (200 if kind == "write" else 403), (kind, answer.text)
    revoked = {**event, "writeKey": stage.keys.revoked["write"]}
    assert stage.client.post("/v1/track", json=revoked).status_code == 401


def test_a_read_key_cannot_start_a_run(tmp_path: Path) -> None:
    """Finding 3: POST /api/runs with a read key is 403 and starts nothing (it published an
    empty version for every reader)."""
    ws = make_workspace(tmp_path / "ws")
    _, read_key = create_key(ws, "read")
    with TestClient(create_app(ws), headers=_bearer(read_key)) as client:
        answer = client.post("/api/runs", json={"as_of": "1901-01-01T00:00:00Z"})
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "forbidden"
        assert client.get("/api/runs").json()["runs"] == []
