"""Segments in the API (clientela.api.segments): the list, one segment with paged members,
its history, POST with an admin key, and a version published before the segment tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clientela.api import create_app
from clientela.keys import create_key
from clientela.workspace import Workspace
from conftest import make_workspace
from segment_world import SETTINGS, build

pytestmark = pytest.mark.slow  # two runs of the job


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = make_workspace(Path(tmp_path_factory.mktemp("segapi")) / "ws", SETTINGS)
    build(ws)
    return ws


@pytest.fixture(scope="module")
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws)) as c:
        c.headers.update({"Authorization": f"Bearer {create_key(ws, 'read')[1]}"})
        yield c


def test_list_one_and_history(client: TestClient) -> None:
    """The list, the segment's members (c since the second run) and its history, latest
    first, filtered to entries since the first run."""
    listed = client.get("/api/segments").json()["segments"]
    assert [(s["segment"], s["members"]) for s in listed] == [("buyers", 1)]
    one = client.get("/api/segments/buyers", params={"limit": 1}).json()
    assert one["total"] == 1 and [m["contact_id"] for m in one["members"]] == ["c"]
    assert one["members"][0]["email"] == "c@home.example" and one["next"] is None
    changes = client.get("/api/segments/buyers/history").json()["changes"]
    assert [(c["contact_id"], c["change"]) for c in changes] == [
        ("a", "left"),
        ("c", "entered"),
        ("a", "entered"),
    ]
    joined = client.get(
        "/api/segments/buyers/history",
        params={"change": "entered", "since": "2026-05-02T00:00:00Z"},
    ).json()
    assert [c["contact_id"] for c in joined["changes"]] == ["c"]
    assert client.get("/api/segments/nope").status_code == 404


def test_post_needs_admin_and_validates(ws: Workspace, client: TestClient) -> None:
    """A read key may not save; an admin key saves (201) and the segment is listed as not
    evaluated yet; a bad definition or a clash with clientela.toml is a 422 naming it."""
    body = {"name": "big", "description": "5+ orders", "all": [{"field": "orders", "gte": 5}]}
    assert client.post("/api/segments", json=body).status_code == 403
    admin = {"Authorization": f"Bearer {create_key(ws, 'admin')[1]}"}
    made = client.post("/api/segments", json=body, headers=admin)
    assert made.status_code == 201, made.text
    listed = {s["segment"]: s for s in client.get("/api/segments").json()["segments"]}
    assert listed["big"]["source"] == "saved" and listed["big"]["members"] is None
    bad = client.post(
        "/api/segments",
        json={"name": "odd", "all": [{"did": "page", "at_least": 3, "at_most": 1}]},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_segment"
    assert "segment 'odd'" in bad.json()["message"] and "at_least (3)" in bad.json()["message"]
    clash = client.post("/api/segments", json={**body, "name": "buyers"}, headers=admin)
    assert clash.status_code == 422 and "clientela.toml" in clash.json()["message"]


def test_version_without_segment_tables_reads_empty(ws: Workspace, client: TestClient) -> None:
    """A version published before the segment tables existed answers 200, not 500."""
    from clientela.engine import connect

    engine = connect(ws, "duckdb")
    version = engine.current_version()
    engine.close()
    assert version is not None
    for name in ("segments", "segment_members", "segment_history"):
        (ws.results_dir / version / f"{name}.parquet").unlink()
    listed = client.get("/api/segments")
    assert listed.status_code == 200
    assert {s["segment"]: s["members"] for s in listed.json()["segments"]}["buyers"] is None
    one = client.get("/api/segments/buyers")
    assert one.status_code == 200 and one.json()["members"] == []
    assert client.get("/api/segments/buyers/history").json()["changes"] == []
