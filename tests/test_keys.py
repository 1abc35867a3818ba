"""API keys: created once, stored hashed, revoked at once; write keys ingest, read keys read,
admin keys read and administer."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from fastapi import Body, FastAPI, Request
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from clientela.api import create_app
from clientela.api.auth import authenticate
from clientela.api.errors import install_handlers
from clientela.cli import app as cli_app
from clientela.errors import NotFoundError
from clientela.keys import (
    ApiKeyError,
    KeyStore,
    create_key,
    keys_path,
    list_keys,
    parse_key,
    revoke_key,
)
from clientela.workspace import Workspace


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def basic(username: str, password: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_keys_are_created_listed_and_revoked(workspace: Workspace) -> None:
    """Each kind has its visible prefix; names are unique among active keys; revoking by
    name or id marks the key (kept in the list) and frees the name."""
    write, write_key = create_key(workspace, "write", "segment")
    read, read_key = create_key(workspace, "read")
    admin, admin_key = create_key(workspace, "admin", "ops")
    assert write_key.startswith(f"cw_{write.id}_") and read_key.startswith(f"cr_{read.id}_")
    assert admin_key.startswith(f"ca_{admin.id}_") and admin.prefix == f"ca_{admin.id}"
    assert parse_key(write_key) == ("write", write.id) and parse_key("nonsense") is None
    assert parse_key(read_key) == ("read", read.id) and parse_key(admin_key) == ("admin", admin.id)
    assert len(write_key) > 50 and write_key != create_key(workspace, "write")[1]
    assert read.name == f"read-{read.id}"
    with pytest.raises(ApiKeyError, match="already named 'segment'"):
        create_key(workspace, "write", "segment")
    with pytest.raises(ApiKeyError, match=r"kind 'root'.*'write', 'read', 'admin'"):
        create_key(workspace, "root")
    with pytest.raises(ApiKeyError, match="name"):
        create_key(workspace, "read", "has space")
    assert [k.name for k in list_keys(workspace)][:2] == ["segment", read.name]

    revoked = revoke_key(workspace, "segment")
    assert revoked.id == write.id and revoked.revoked_at is not None and not revoked.active
    assert revoke_key(workspace, write.id).revoked_at == revoked.revoked_at  # harmless twice
    assert revoke_key(workspace, read.id).id == read.id
    assert {k.id for k in list_keys(workspace, include_revoked=False)} == {
        k.id for k in list_keys(workspace) if k.active
    }
    assert create_key(workspace, "write", "segment")[0].active  # the name is free again
    with pytest.raises(NotFoundError):
        revoke_key(workspace, "nope")


def test_keys_are_stored_hashed(workspace: Workspace) -> None:
    """The key file holds SHA-256 digests and the visible prefix, never a secret."""
    info, key = create_key(workspace, "write", "segment")
    text = keys_path(workspace).read_text(encoding="utf-8")
    secret = key.rsplit("_", 1)[-1]
    assert key not in text and secret not in text
    [row] = json.loads(text)["keys"]
    assert row["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert row["prefix"] == f"cw_{info.id}" and row["kind"] == "write"
    assert keys_path(workspace).stat().st_mode & 0o077 == 0  # readable by the owner only
    assert not list(workspace.tmp_dir.glob("*.partial"))  # written atomically


def test_key_store_checks_exactly_and_sees_changes_at_once(workspace: Workspace) -> None:
    """A key matches only whole and of its own kind; revocations and new keys count from the
    next check (the store re-reads the file when it changes)."""
    store = KeyStore(workspace)
    assert store.check("cw_000000000000_" + "x" * 43) is None  # no file yet
    info, key = create_key(workspace, "write")
    assert store.check(key) == info
    assert store.check(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.check("cr" + key[2:]) is None  # same id and secret, other kind
    assert store.check("ca" + key[2:]) is None
    assert store.check(f"  {key} ") == info  # copied with blanks
    revoke_key(workspace, info.id)
    assert store.check(key) is None
    other, other_key = create_key(workspace, "read")
    assert store.check(other_key) == other


def test_cli_prints_the_key_once_and_lists_without_secrets(workspace: Workspace) -> None:
    """`keys create` prints the key (alone on stdout); `keys list` and the file never show it;
    `keys revoke` takes the name."""
    runner = CliRunner()
    where = ["-w", str(workspace.root)]
    made = runner.invoke(cli_app, ["keys", "create", "--kind", "write", "--name", "web", *where])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("cw_") and KeyStore(workspace).check(key) is not None
    listed = runner.invoke(cli_app, ["keys", "list", "--format", "json", *where])
    assert listed.exit_code == 0 and key not in listed.output
    [row] = json.loads(listed.stdout)
    assert row["name"] == "web" and row["kind"] == "write" and row["active"]
    table = runner.invoke(cli_app, ["keys", "list", *where])
    assert "web" in table.output and key not in table.output
    gone = runner.invoke(cli_app, ["keys", "revoke", "web", *where])
    assert gone.exit_code == 0 and "revoked" in gone.output
    assert KeyStore(workspace).check(key) is None
    bad = runner.invoke(cli_app, ["keys", "create", "--kind", "root", *where])
    assert bad.exit_code != 0
    admin = runner.invoke(cli_app, ["keys", "create", "--kind", "admin", *where])
    assert admin.exit_code == 0, admin.output
    assert admin.stdout.strip().splitlines()[-1].startswith("ca_")


@pytest.fixture
def server(workspace: Workspace) -> Any:
    with TestClient(create_app(workspace)) as client:
        yield client


def test_read_api_needs_a_read_key(server: TestClient, workspace: Workspace) -> None:
    """No key or a bad key → 401 (with a Basic challenge); a write key → 403; a read key
    works as a bearer token or as the Basic username, and so does an admin key."""
    _, read_key = create_key(workspace, "read")
    _, write_key = create_key(workspace, "write")
    _, admin_key = create_key(workspace, "admin")
    missing = server.get("/api/metrics")
    assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
    assert missing.headers["www-authenticate"].startswith("Basic")
    assert server.get("/api/metrics", headers=bearer("cr_nope")).status_code == 401
    assert server.get("/api/metrics", headers={"Authorization": "Basic %%%"}).status_code == 401
    wrong = server.get("/api/metrics", headers=bearer(write_key))
    assert wrong.status_code == 403 and wrong.json()["code"] == "forbidden"
    assert server.get("/api/metrics", headers=bearer(read_key)).status_code == 200
    assert server.get("/api/metrics", headers=basic(read_key)).status_code == 200
    assert server.get("/api/metrics", headers=bearer(admin_key)).status_code == 200
    assert "read or admin key" in wrong.json()["message"]


def test_ingestion_needs_a_write_key(server: TestClient, workspace: Workspace) -> None:
    """A read or admin key on /v1/* is 403, no key 401; the write key (Basic, as Segment
    sends it) works."""
    _, read_key = create_key(workspace, "read")
    _, write_key = create_key(workspace, "write")
    _, admin_key = create_key(workspace, "admin")
    event = {"userId": "u1", "event": "Signed Up", "messageId": "m1"}
    assert server.post("/v1/track", json=event).status_code == 401
    refused = server.post("/v1/track", json=event, headers=basic(read_key))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    in_body = server.post("/v1/track", json={**event, "writeKey": read_key})
    assert in_body.status_code == 403
    assert server.post("/v1/track", json=event, headers=basic(admin_key)).status_code == 403
    assert server.post("/v1/track", json={**event, "writeKey": admin_key}).status_code == 403
    assert server.post("/v1/track", json=event, headers=basic(write_key)).status_code == 200


def test_a_revoked_key_stops_working_at_once(server: TestClient, workspace: Workspace) -> None:
    """The running server refuses a key from the request after it is revoked, and accepts a
    key created after it started."""
    info, key = create_key(workspace, "read")
    assert server.get("/api/metrics", headers=bearer(key)).status_code == 200
    result = CliRunner().invoke(cli_app, ["keys", "revoke", info.id, "-w", str(workspace.root)])
    assert result.exit_code == 0, result.output
    after = server.get("/api/metrics", headers=bearer(key))
    assert after.status_code == 401 and "revoked" in after.json()["message"]
    _, fresh = create_key(workspace, "read")
    assert server.get("/api/metrics", headers=bearer(fresh)).status_code == 200


def test_authenticate_takes_the_segment_body_key(workspace: Workspace) -> None:
    """`authenticate(request, kind, body_key)`: the body's writeKey counts when no header
    carries a key; kinds are enforced the same way."""
    app = FastAPI()
    app.state.workspace = workspace
    install_handlers(app)

    @app.post("/ingest")
    def ingest(request: Request, body: dict[str, Any] = Body()) -> dict[str, str]:
        return {"key": authenticate(request, "write", body.get("writeKey")).name}

    write, write_key = create_key(workspace, "write", "seg")
    _, read_key = create_key(workspace, "read")
    with TestClient(app) as client:
        assert client.post("/ingest", json={"writeKey": write_key}).json() == {"key": "seg"}
        assert client.post("/ingest", json={"writeKey": read_key}).status_code == 403
        assert client.post("/ingest", json={}).status_code == 401
        assert client.post("/ingest", json={"writeKey": "cw_x"}).status_code == 401
        header = client.post("/ingest", json={}, headers=basic(write_key))
        assert header.json() == {"key": "seg"}
        # An empty Basic username holds no key: the body's key is used.
        assert client.post("/ingest", json={"writeKey": write_key}, headers=basic("")).json() == {
            "key": write.name
        }


def test_key_file_lives_in_state(workspace: Workspace) -> None:
    """Keys belong to the workspace: state/keys.json."""
    create_key(workspace, "read")
    assert keys_path(workspace) == workspace.root / "state" / "keys.json"
    assert keys_path(workspace).exists()
