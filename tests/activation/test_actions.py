"""The published actions as users read them: the summary, ``clientela actions``,
``clientela policy dnc``, and the API routes (``/api/actions*``, ``/api/policy/*``).

One run for the module: the playbook is replaced by four hand-written proposals so that the
policy has something to decide (ann planned; bob, eve, hal suppressed for three reasons).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from clientela import pipeline
from clientela.activation import actions as published
from clientela.activation import playbook
from clientela.activation.tables import PROPOSED_SCHEMA
from clientela.api import create_app
from clientela.cli import app
from clientela.engine import connect
from clientela.keys import create_key
from clientela.workspace import Workspace, open_workspace
from conftest import make_workspace
from helpers import land
from journeys import Journeys

runner = CliRunner()
ADMIN: dict[str, str] = {}
"""The admin key's header (set by the ``client`` fixture; the client itself holds a read key)."""
MOMENT = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 12:00 UTC: no quiet hours anywhere here
SETTINGS = """
[audience]
competitor_domains = ["rival.example"]
"""


def _proposals(*_: Any, **__: Any) -> Any:
    """What the playbook would propose: one marketing email each to ann, bob, eve and hal."""
    rows = [
        {
            "action_id": f"{c}-promo",
            "contact_id": c,
            "action": "promo" if c != "hal" else "win_back",
            "channel": "email",
            "purpose": "marketing",
            "priority": 2 if c != "hal" else 1,
            "reason": "test proposal",
            "products": None,
            "as_of": MOMENT,
        }
        for c in ("ann", "bob", "eve", "hal")
    ]
    return ibis.memtable(pa.Table.from_pylist(rows, schema=PROPOSED_SCHEMA))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """ann a buyer; bob unsubscribed 20 Jun; eve a competitor; hal on the workspace's
    do-not-contact list (added from the CLI before the run)."""
    root = tmp_path_factory.mktemp("actions") / "ws"
    workspace = make_workspace(root, SETTINGS)
    j = Journeys()
    for user, mail in (("ann", "ann@mail.example"), ("bob", "bob@mail.example")):
        j.identify(user_id=user, traits={"email": mail}, at=datetime(2026, 6, 1, tzinfo=UTC))
    j.identify(
        user_id="eve", traits={"email": "eve@rival.example"}, at=datetime(2026, 6, 1, tzinfo=UTC)
    )
    j.identify(
        user_id="hal", traits={"email": "hal@mail.example"}, at=datetime(2026, 6, 1, tzinfo=UTC)
    )
    j.track("Unsubscribed", user_id="bob", at=datetime(2026, 6, 20, 9, tzinfo=UTC))
    land(workspace, j)
    added = runner.invoke(app, ["policy", "dnc", "add", "hal", "--note", "asked", "-w", str(root)])
    assert added.exit_code == 0, added.output
    engine = connect(workspace, "duckdb")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(playbook, "propose", _proposals)
            pipeline.run(engine, workspace, as_of=MOMENT)
    finally:
        engine.close()
    return open_workspace(root)


def cli(ws: Workspace, *args: str) -> str:
    result = runner.invoke(app, [*args, "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    return result.output


# --- the shared reader --------------------------------------------------------------------


def test_summary_counts_planned_by_action_and_suppressed_by_reason(ws: Workspace) -> None:
    """1 planned promo; 3 suppressed, one per reason, in the policy's order."""
    engine = connect(ws, "duckdb", reader=True)
    try:
        got = published.summary(engine)
    finally:
        engine.close()
    assert got.planned == {"promo": 1}
    assert list(got.suppressed.items()) == [
        ("do-not-contact", 1),
        ("no consent", 1),
        ("non-buyer class", 1),
    ]
    assert got.total == 4


# --- the CLI ------------------------------------------------------------------------------


def test_actions_list_json_has_the_summary_and_the_rows(ws: Workspace) -> None:
    """--format json: the summary and every action with its status and reason."""
    doc = json.loads(cli(ws, "actions", "list", "--format", "json"))
    assert doc["summary"] == {
        "planned": {"promo": 1},
        "suppressed": {"do-not-contact": 1, "no consent": 1, "non-buyer class": 1},
    }
    why = {r["contact_id"]: (r["status"], r["suppressed_reason"]) for r in doc["actions"]}
    assert why == {
        "ann": ("planned", None),
        "bob": ("suppressed", "no consent: email unsubscribed on 2026-06-20 (event Unsubscribed)"),
        "eve": ("suppressed", "non-buyer class: competitor never receives marketing"),
        "hal": ("suppressed", "do-not-contact: hal"),
    }
    # Priority 1 (hal's win_back) comes first.
    assert doc["actions"][0]["contact_id"] == "hal"


def test_actions_list_filters_and_limit(ws: Workspace) -> None:
    """--suppressed --limit 1 shows one row and says how many more; --action filters."""
    out = cli(ws, "actions", "list", "--suppressed", "--limit", "1")
    assert "do-not-contact" in out and "… 2 more" in out
    doc = json.loads(cli(ws, "actions", "list", "--action", "win_back", "--format", "json"))
    assert [r["contact_id"] for r in doc["actions"]] == ["hal"] and doc["total"] == 1


def test_actions_show_gives_the_action_and_the_consent_source(ws: Workspace) -> None:
    """bob's action is suppressed and his email consent comes from the Unsubscribed event."""
    doc = json.loads(cli(ws, "actions", "show", "bob@mail.example", "--format", "json"))
    assert doc["contact_id"] == "bob"
    assert doc["actions"][0]["status"] == "suppressed"
    assert [(c["channel"], c["granted"], c["source"]) for c in doc["consent"]] == [
        ("email", False, "event Unsubscribed")
    ]
    assert "event Unsubscribed" in cli(ws, "actions", "show", "bob")


def test_contacts_show_has_the_next_action_and_why_it_waits(ws: Workspace) -> None:
    """contacts show says which action the latest run picked and the policy's verdict."""
    doc = json.loads(cli(ws, "actions", "show", "bob", "--format", "json"))
    shown = cli(ws, "contacts", "show", "bob")
    action = doc["actions"][0]
    assert f"next action: {action['action']} by {action['channel']}" in shown
    assert f"suppressed: {action['suppressed_reason']}" in " ".join(shown.split())


def test_policy_dnc_add_list_remove(tmp_path: Path) -> None:
    """An email is stored lower-cased once; list shows both lists; remove of an absent entry
    fails clearly."""
    ws = make_workspace(tmp_path / "ws", '[policy]\ndo_not_contact = ["x-1"]\n')
    assert "added" in cli(ws, "policy", "dnc", "add", "Zed@Mail.example")
    assert "already" in cli(ws, "policy", "dnc", "add", "zed@mail.example")
    doc = json.loads(cli(ws, "policy", "dnc", "list", "--format", "json"))
    assert [e["entry"] for e in doc["workspace"]] == ["zed@mail.example"]
    assert doc["settings"] == ["x-1"]
    assert "removed" in cli(ws, "policy", "dnc", "remove", "ZED@mail.example")
    gone = runner.invoke(app, ["policy", "dnc", "remove", "zed@mail.example", "-w", str(ws.root)])
    assert "not on the workspace's do-not-contact list" in str(gone.exception)


# --- the API --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(ws: Workspace) -> Iterator[TestClient]:
    _, read = create_key(ws, "read", "actions-read")
    _, admin = create_key(ws, "admin", "actions-admin")
    with TestClient(create_app(ws)) as c:
        c.headers.update({"Authorization": f"Bearer {read}"})
        ADMIN.update({"Authorization": f"Bearer {admin}"})
        yield c


def test_api_actions_paged_and_filtered(client: TestClient) -> None:
    """status=suppressed: 3 in all, 2 per page, the next page linked."""
    page = client.get("/api/actions", params={"status": "suppressed", "limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_offset"] == 2
    assert page["items"][0]["suppressed_reason"] == "do-not-contact: hal"
    bad = client.get("/api/actions", params={"status": "sent"})
    assert bad.status_code == 422


def test_api_summary_and_a_contacts_actions(client: TestClient) -> None:
    """The summary is the CLI's; a contact's route gives the action and the consent."""
    summary = client.get("/api/actions/summary").json()
    assert summary["planned"] == {"promo": 1}
    assert summary["suppressed"] == {"do-not-contact": 1, "no consent": 1, "non-buyer class": 1}
    bob = client.get("/api/contacts/bob/actions").json()
    assert bob["actions"][0]["suppressed_reason"].startswith("no consent: email")
    assert bob["consent"][0]["source"] == "event Unsubscribed"


def test_api_do_not_contact_needs_an_admin_key(client: TestClient) -> None:
    """A read key gets 403; an admin key adds, lists and removes (idempotently)."""
    assert client.get("/api/policy/do-not-contact").status_code == 403
    admin = ADMIN
    added = client.post("/api/policy/do-not-contact", json={"entry": "kim"}, headers=admin)
    assert added.json() == {"entry": "kim", "changed": True}
    listed = client.get("/api/policy/do-not-contact", headers=admin).json()
    assert [e["entry"] for e in listed["workspace"]] == ["hal", "kim"]
    assert client.delete("/api/policy/do-not-contact/kim", headers=admin).json()["changed"]
    again = client.delete("/api/policy/do-not-contact/kim", headers=admin).json()
    assert again == {"entry": "kim", "changed": False}


def test_a_version_published_before_activation_reads_as_empty(
    ws: Workspace, tmp_path: Path
) -> None:
    """Without actions.parquet and consent.parquet in the version: 200 and nothing, not 500."""
    copy = tmp_path / "old"
    shutil.copytree(ws.root, copy)
    old = open_workspace(copy)
    for version in (v for v in (copy / "results").iterdir() if v.is_dir()):
        for name in ("actions", "consent"):
            (version / f"{name}.parquet").unlink(missing_ok=True)
    _, read = create_key(old, "read", "old-read")
    with TestClient(create_app(old), headers={"Authorization": f"Bearer {read}"}) as c:
        page = c.get("/api/actions")
        assert page.status_code == 200 and page.json()["total"] == 0
        assert c.get("/api/actions/summary").json()["planned"] == {}
        assert c.get("/api/contacts/bob/actions").json()["consent"] == []
    assert "none (the playbook proposed nothing" in cli(old, "actions", "list")
