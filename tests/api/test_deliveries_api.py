"""Delivery in the API (clientela.api.deliveries): the state per destination and items, a
delivery started with an admin key, and clear 4xx answers where nothing can be delivered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clientela.api import create_app
from clientela.keys import create_key
from clientela.workspace import Workspace
from conftest import make_workspace
from published_activation import PLANNED, SUPPRESSED, publish

TOML = '[destinations.out]\nkind = "file"\nformat = "jsonl"\n'
HOOK = (
    '[destinations.hook]\nkind = "webhook"\nurl = "http://127.0.0.1:9/"\n'
    'secret_env = "NO_SUCH_SECRET_VAR"\n'
)


def _key(ws: Workspace, kind: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(ws, kind)[1]}"}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws", TOML + HOOK)


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws)) as c:
        yield c


def test_reads_before_any_delivery_are_empty(ws: Workspace, client: TestClient) -> None:
    """No store yet: every configured destination with zero counts, no items, no 5xx."""
    page = client.get("/api/deliveries", headers=_key(ws, "read"))
    assert page.status_code == 200, page.text
    body = page.json()
    assert [(d["name"], d["kind"], d["pending"]) for d in body["destinations"]] == [
        ("hook", "webhook", 0),
        ("out", "file", 0),
    ]
    assert body["items"] == [] and body["total"] == 0
    assert not (ws.state_dir / "deliveries.sqlite").exists()


def test_deliver_sends_planned_items_and_the_read_shows_them(
    ws: Workspace, client: TestClient
) -> None:
    """POST /api/deliver (admin) delivers the 6 planned actions and 3 changes to the file
    destination; GET /api/deliveries then counts 9 delivered and pages the items."""
    admin = _key(ws, "admin")
    assert client.post("/api/deliver", headers=admin, json={}).status_code == 404  # unpublished
    version = publish(ws)
    done = client.post("/api/deliver", headers=admin, json={"destination": "out"})
    assert done.status_code == 200, done.text
    (out,) = done.json()["destinations"]
    assert (out["name"], out["enqueued"], out["delivered"]) == ("out", 9, 9)
    assert done.json()["version"] == version
    page = client.get(
        "/api/deliveries", headers=_key(ws, "read"), params={"destination": "out", "limit": 4}
    )
    body = page.json()
    assert {d["name"]: d["delivered"] for d in body["destinations"]} == {"hook": 0, "out": 9}
    assert body["total"] == 9 and len(body["items"]) == 4
    ids = [i["item_id"] for i in body["items"]]
    assert ids == PLANNED[:4] and not set(ids) & set(SUPPRESSED)
    assert body["items"][0]["data"]["status"] == "planned"


def test_deliver_refusals_are_clear(ws: Workspace, client: TestClient) -> None:
    """A read key may not deliver (403); an unknown destination is 400; a webhook whose
    secret variable is unset is 409 naming the destination."""
    publish(ws)
    assert client.post("/api/deliver", headers=_key(ws, "read"), json={}).status_code == 403
    admin = _key(ws, "admin")
    unknown = client.post("/api/deliver", headers=admin, json={"destination": "nope"})
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_destination"
    secretless = client.post("/api/deliver", headers=admin, json={"destination": "hook"})
    assert secretless.status_code == 409
    assert "destination 'hook'" in secretless.json()["message"]
    assert "NO_SUCH_SECRET_VAR" in secretless.json()["message"]


def test_no_destinations_is_an_empty_answer(tmp_path: Path) -> None:
    """A workspace without destinations: 200 with a note saying how to add one."""
    ws = make_workspace(tmp_path / "bare")
    with TestClient(create_app(ws)) as client:
        done = client.post("/api/deliver", headers=_key(ws, "admin"), json={})
    assert done.status_code == 200
    assert done.json()["destinations"] == [] and "[destinations.NAME]" in done.json()["notes"][0]
