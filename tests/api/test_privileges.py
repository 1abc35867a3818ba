"""Least privilege: which kind of key every endpoint of the app takes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from clientela.api import create_app
from clientela.keys import create_key
from conftest import make_workspace


def test_a_read_key_cannot_start_a_run(tmp_path: Path) -> None:
    """Finding 3: POST /api/runs with a read key is 403 and starts nothing (it published an
    empty version for every reader)."""
    ws = make_workspace(tmp_path / "ws")
    _, read_key = create_key(ws, "read")
    with TestClient(create_app(ws), headers={"Authorization": f"Bearer {read_key}"}) as client:
        answer = client.post("/api/runs", json={"as_of": "1901-01-01T00:00:00Z"})
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "forbidden"
        assert client.get("/api/runs").json()["runs"] == []
