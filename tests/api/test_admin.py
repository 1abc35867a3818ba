"""The admin API (/api/admin/*): keys (list, create, revoke) and the quarantine (list, show,
retry), with an admin key."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clientela.api import create_app
from clientela.ingest.files import ingest_files
from clientela.keys import create_key, keys_path
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import landed_events, quarantined


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[tuple[TestClient, Workspace, str]]:
    """An app on a fresh workspace (events over 400 bytes are quarantined), an admin key."""
    ws = make_workspace(tmp_path / "ws", "[ingest]\nmax_event_bytes = 400\n")
    _, key = create_key(ws, "admin", "root")
    with TestClient(create_app(ws), headers=bearer(key)) as client:
        yield client, ws, key


def _error(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code and answer.json()["message"]


def test_keys_are_listed_without_secrets_created_once_and_revoked(
    admin: tuple[TestClient, Workspace, str],
) -> None:
    """Create answers the key once (201, not cached) and it works at once; the list shows no
    secret nor hash; revoking by id or name stops the key at its next request."""
    client, ws, admin_key = admin
    made = client.post("/api/admin/keys", json={"kind": "read", "name": "dashboard"})
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    created = made.json()
    key = created["key"]
    assert key.startswith(f"cr_{created['id']}_") and created["kind"] == "read"
    assert created["name"] == "dashboard" and created["active"] and created["revoked_at"] is None
    assert client.get("/api/metrics", headers=bearer(key)).status_code == 200

    listed = client.get("/api/admin/keys")
    assert listed.status_code == 200
    assert {(k["name"], k["kind"]) for k in listed.json()["keys"]} == {
        ("root", "admin"),
        ("dashboard", "read"),
    }
    digests = [hashlib.sha256(key.encode()).hexdigest(), key.rsplit("_", 1)[-1]]
    assert not any(secret in listed.text for secret in [key, admin_key, *digests])
    assert all("key" not in row and "sha256" not in row for row in listed.json()["keys"])

    _error(
        client.post("/api/admin/keys", json={"kind": "read", "name": "dashboard"}), 409, "conflict"
    )
    _error(client.post("/api/admin/keys", json={"kind": "root"}), 422, "invalid_request")
    _error(
        client.post("/api/admin/keys", json={"kind": "read", "name": "a b"}), 422, "invalid_request"
    )
    for kind, prefix in (("write", "cw_"), ("admin", "ca_")):
        answer = client.post("/api/admin/keys", json={"kind": kind})
        assert answer.json()["key"].startswith(prefix)
        assert answer.json()["name"] == f"{kind}-{answer.json()['id']}"

    gone = client.delete(f"/api/admin/keys/{created['id']}")
    assert gone.status_code == 200 and not gone.json()["active"] and gone.json()["revoked_at"]
    _error(client.get("/api/metrics", headers=bearer(key)), 401, "unauthorized")
    assert client.delete("/api/admin/keys/dashboard").json()["id"] == created["id"]  # harmless
    _error(client.delete("/api/admin/keys/nope"), 404, "not_found")
    active = client.get("/api/admin/keys?revoked=false").json()["keys"]
    assert "dashboard" not in {k["name"] for k in active}
    assert keys_path(ws).exists()

    # An admin can revoke its own key; it then stops at once like any other.
    assert client.delete("/api/admin/keys/root").status_code == 200
    _error(client.get("/api/admin/keys"), 401, "unauthorized")


def _land_file(ws: Workspace, name: str, lines: list[str]) -> None:
    path = ws.root / "input" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", errors="surrogateescape"))
    ingest_files(ws, [path])


def test_quarantine_is_listed_filtered_paged_and_shown(
    admin: tuple[TestClient, Workspace, str],
) -> None:
    """The list counts open records by kind and reason, filters by reason, source and kind,
    pages with limit and offset and holds no raw bytes; one record shows its bytes exactly."""
    client, ws, _ = admin
    big = '{"type":"track","userId":"u1","event":"Big","messageId":"big","properties":{"x":"'
    big += "y" * 500 + '"}}'
    _land_file(
        ws,
        "mixed.jsonl",
        [
            '{"type":"track","userId":"u1","event":"Good","messageId":"ok"}',
            '{"type":"track","userId":"u1","messageId":"e1","properties":{"email":"ann@x.example"}}',
            '{"type":"track","userId":"u1","messageId":"e2"}',
            "{not json",
            big,
        ],
    )
    assert len(quarantined(ws)) == 4
    listed = client.get("/api/admin/quarantine")
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] == 4 and page["next_offset"] is None
    counts = {(c["kind"], c["reason"]): c["count"] for c in page["counts"]}
    assert counts == {
        ("events", "missing_event"): 2,
        ("events", "invalid_json"): 1,
        ("events", "too_large"): 1,
    }
    assert all(c["meaning"] for c in page["counts"])
    assert [i["line"] for i in page["items"]] == [2, 3, 4, 5]
    assert "ann@x.example" not in listed.text and all("raw" not in i for i in page["items"])

    first = client.get("/api/admin/quarantine?reason=missing_event&limit=1").json()
    assert first["total"] == 2 and first["next_offset"] == 1 and first["items"][0]["line"] == 2
    second = client.get("/api/admin/quarantine?reason=missing_event&limit=1&offset=1").json()
    assert second["items"][0]["line"] == 3 and second["next_offset"] is None
    assert client.get("/api/admin/quarantine?source=nope").json()["total"] == 0
    assert client.get("/api/admin/quarantine?kind=contacts").json()["total"] == 0
    _error(client.get("/api/admin/quarantine?kind=shoes"), 422, "invalid_request")
    _error(client.get("/api/admin/quarantine?limit=0"), 422, "invalid_request")
    assert client.get("/api/admin/quarantine?offset=99").json()["items"] == []

    record = first["items"][0]
    shown = client.get(f"/api/admin/quarantine/{record['quarantine_id'][:12]}")
    assert shown.status_code == 200, shown.text
    detail = shown.json()
    assert detail["quarantine_id"] == record["quarantine_id"]
    assert detail["reason"] == "missing_event" and "ann@x.example" in detail["raw"]
    raw = base64.b64decode(detail["raw_base64"])
    assert raw.decode() == detail["raw"] and detail["raw_bytes"] == len(raw)
    _error(client.get("/api/admin/quarantine/ffffffffffff"), 404, "not_found")


def test_quarantine_retry_lands_what_a_config_change_allows(
    admin: tuple[TestClient, Workspace, str],
) -> None:
    """After [ingest] max_event_bytes is raised in clientela.toml, a retry through the API
    lands the record that was too large (the running server's settings are not needed); the
    others stay open with their reason."""
    client, ws, _ = admin
    big = '{"type":"track","userId":"u1","event":"Big","messageId":"big","properties":{"x":"'
    big += "y" * 500 + '"}}'
    _land_file(ws, "big.jsonl", [big, '{"type":"track","userId":"u1","messageId":"e1"}'])
    assert client.post("/api/admin/quarantine/retry", json={"reason": "too_large"}).json()[
        "landed"
    ] == 0  # fmt: skip
    config = ws.root / "clientela.toml"
    config.write_text("[ingest]\nmax_event_bytes = 4000\n", encoding="utf-8")
    answer = client.post("/api/admin/quarantine/retry", json={})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "retried": 2,
        "landed": 1,
        "duplicates": 0,
        "still_rejected": 1,
        "reasons": {"missing_event": 1},
        "not_retried": {},
    }
    assert [e["message_id"] for e in landed_events(ws)] == ["big"]
    assert [r["reason"] for r in client.get("/api/admin/quarantine").json()["items"]] == [
        "missing_event"
    ]
    config.write_text("[ingest]\nmax_event_bytes = 'lots'\n", encoding="utf-8")
    _error(client.post("/api/admin/quarantine/retry"), 409, "invalid_config")


def test_admin_endpoints_refuse_read_and_write_keys(
    admin: tuple[TestClient, Workspace, str],
) -> None:
    """Quarantined bytes are personal data and keys are power: read and write keys get 403."""
    client, ws, _ = admin
    for kind in ("read", "write"):
        _, key = create_key(ws, kind)
        for method, url in (
            ("GET", "/api/admin/keys"),
            ("POST", "/api/admin/keys"),
            ("GET", "/api/admin/quarantine"),
            ("POST", "/api/admin/quarantine/retry"),
        ):
            answer = client.request(method, url, headers=bearer(key), json={"kind": "admin"})
            _error(answer, 403, "forbidden")
            assert "needs a admin key" not in answer.json()["message"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzed_admin_api_has_no_server_errors(tmp_path: Path, mode: str) -> None:
    """Requests generated from the admin API's OpenAPI document, with an admin key, over a
    workspace with quarantined records: never a 5xx; valid ones get the documented shape."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    ws = make_workspace(tmp_path / "ws")
    _land_file(ws, "bad.jsonl", ['{"type":"track","userId":"u1"}', "{nope", "\udcff"])
    _, key = create_key(ws, "admin", "root")
    app = create_app(ws)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex=r"^/api/admin/"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6
    generation = getattr(schemathesis.GenerationMode, mode.upper())
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=generation))
        @settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            if case.path_parameters and case.path_parameters.get("key") == "root":
                return  # revoking the fuzzer's own key would end the test early
            if mode == "positive":
                case.call_and_validate(headers=bearer(key))
            else:
                case.call_and_validate(headers=bearer(key), checks=[not_a_server_error])

        try:
            check()
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {exc}") from exc
