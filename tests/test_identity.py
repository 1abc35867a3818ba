"""Identity resolution: chains of ids into one contact, and merges it refuses."""

from __future__ import annotations

import json
from pathlib import Path

from clientela.engine import Engine, connect
from clientela.identity import resolve
from clientela.ingest.files import ingest_files
from clientela.workspace import Workspace
from conftest import make_workspace
from journeys import Journeys


def _resolve(ws: Workspace) -> tuple[dict[tuple[str, str], str], list[dict[str, object]]]:
    engine: Engine = connect(ws)
    try:
        graph = resolve(engine, ws.settings)
        ids = {
            (r["kind"], r["value"]): r["contact_id"]
            for r in engine.to_arrow(graph.identities).to_pylist()
        }
        conflicts = engine.to_arrow(graph.conflicts.order_by(["kind", "value"])).to_pylist()
    finally:
        engine.close()
    return ids, conflicts


def chain_journeys() -> Journeys:
    """anonymous visit → identify → alias to a new userId → second device with the email."""
    j = Journeys()
    j.page(anonymous_id="a1", at=0)
    j.identify(anonymous_id="a1", user_id="u1", traits={"email": "Ann@X.com"}, at=1)
    j.alias("u1", "u1-new", at=2)
    j.page(anonymous_id="a2", at=3)
    j.identify(anonymous_id="a2", traits={"email": " ann@x.com"}, at=4)  # form fill, no userId
    j.alias("a3", "u1-new", at=5)  # an id only ever seen in the alias call
    return j


def test_anonymous_identified_aliased_email_chain(tmp_path: Path) -> None:
    """Every id in the chain resolves to one contact, named by the newest userId."""
    ws = make_workspace(tmp_path / "ws")
    ingest_files(ws, [chain_journeys().write(tmp_path / "e.jsonl")])
    ids, conflicts = _resolve(ws)
    assert ids == {
        ("anonymous_id", "a1"): "u1-new",
        ("anonymous_id", "a2"): "u1-new",
        ("anonymous_id", "a3"): "u1-new",
        ("user_id", "u1"): "u1-new",
        ("user_id", "u1-new"): "u1-new",
        ("email", "ann@x.com"): "u1-new",
    }
    assert conflicts == []


def test_two_people_are_not_merged_through_a_shared_device_or_email(tmp_path: Path) -> None:
    """A shared anonymousId stays with its first person; a shared email merges nobody."""
    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    j.identify(anonymous_id="kiosk", user_id="ann", traits={"email": "ann@x.com"}, at=0)
    j.identify(anonymous_id="kiosk", user_id="bob", traits={"email": "bob@x.com"}, at=1)
    j.identify(user_id="cat", traits={"email": "bob@x.com"}, at=2)
    ingest_files(ws, [j.write(tmp_path / "e.jsonl")])
    ids, conflicts = _resolve(ws)
    assert ids[("anonymous_id", "kiosk")] == "ann"
    assert ids[("user_id", "bob")] == "bob" and ids[("user_id", "cat")] == "cat"
    assert ids[("email", "bob@x.com")] == "bob"  # the first to have it
    assert [
        (c["kind"], c["value"], c["kept_contact"], c["refused_contact"]) for c in conflicts
    ] == [
        ("anonymous_id", "kiosk", "ann", "bob"),
        ("email", "bob@x.com", "bob", "cat"),
    ]
    assert all(c["reason"] for c in conflicts)


def test_email_merge_when_configured_and_forced_merges(tmp_path: Path) -> None:
    """merge_identified_on_email joins people with one email; force_merge joins named ids."""
    ws = make_workspace(
        tmp_path / "ws",
        '[identity]\nmerge_identified_on_email = true\nforce_merge = [["dan", "eve"]]\n',
    )
    j = Journeys()
    j.identify(user_id="bob", traits={"email": "bob@x.com"}, at=0)
    j.identify(user_id="cat", traits={"email": "bob@x.com"}, at=1)
    j.track("A", user_id="dan", at=2)
    j.track("B", user_id="eve", at=3)
    ingest_files(ws, [j.write(tmp_path / "e.jsonl")])
    ids, conflicts = _resolve(ws)
    assert ids[("user_id", "bob")] == ids[("user_id", "cat")]
    assert ids[("user_id", "dan")] == ids[("user_id", "eve")]
    assert conflicts == []


def test_anonymous_only_people(tmp_path: Path) -> None:
    """Anonymous ids with one email are one contact; without email each is its own."""
    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    j.identify(anonymous_id="x1", traits={"email": "zed@y.com"}, at=0)
    j.identify(anonymous_id="x2", traits={"email": "ZED@y.com"}, at=1)
    j.page(anonymous_id="x3", at=2)
    ingest_files(ws, [j.write(tmp_path / "e.jsonl")])
    ids, _ = _resolve(ws)
    assert ids[("anonymous_id", "x1")] == ids[("anonymous_id", "x2")] == "email:zed@y.com"
    assert ids[("anonymous_id", "x3")] == "anon:x3"


def test_junk_ids_never_join_people(tmp_path: Path) -> None:
    """Placeholder userIds configured after landing still never stitch two visitors."""
    ws = make_workspace(tmp_path / "ws", '[identity]\njunk_ids = ["guest-user"]\n')
    j = Journeys()
    j.identify(anonymous_id="p1", user_id="guest-user", at=0)
    j.identify(anonymous_id="p2", user_id="guest-user", at=1)
    ingest_files(ws, [j.write(tmp_path / "e.jsonl")])
    ids, _ = _resolve(ws)
    assert ids[("anonymous_id", "p1")] == "anon:p1" and ids[("anonymous_id", "p2")] == "anon:p2"
    assert ("user_id", "guest-user") not in ids


def test_demo_world_resolves_to_exactly_its_people(tmp_path: Path) -> None:
    """On the generated world every true person is one contact, and no contact is two people."""
    import csv

    from clientela.datasets.demo import DemoSpec, generate
    from clientela.ingest.crm import import_file

    world = tmp_path / "world"
    generate(world, DemoSpec(contacts=300, seed=11))
    ws = make_workspace(tmp_path / "ws")
    ingest_files(ws, [world / "events"])
    import_file(ws, "contacts", world / "crm" / "contacts.csv")
    ids, _ = _resolve(ws)
    with (world / "truth.csv").open() as fh:
        truth = list(csv.DictReader(fh))
    people = {
        ids.get(("user_id", row["contact_key"])) or ids.get(("anonymous_id", row["contact_key"]))
        for row in truth
    }
    assert None not in people
    assert len(people) == len(truth) == 300
    assert len(set(ids.values())) == 300  # no contacts beyond the true people


def _crm_and_app_user(tmp_path: Path, toml: str = "") -> Workspace:
    """A CRM contact (id C-17) and an app user (u_alice) who identified with the same email,
    typed differently (the CRM had it first), plus two app users who share another email."""
    from clientela.ingest.crm import import_file
    from helpers import land

    ws = make_workspace(tmp_path / "ws", toml)
    j = Journeys()
    j.page(anonymous_id="dev-1", at=0)
    j.identify(
        anonymous_id="dev-1", user_id="u_alice", traits={"email": " Alice@ACME-corp.com"}, at=1
    )
    j.track("Webinar Attended", user_id="u_alice", at=2)
    j.identify(user_id="bob", traits={"email": "shared@b.org"}, at=3)
    j.identify(user_id="cat", traits={"email": "shared@b.org"}, at=4)
    land(ws, j)
    crm = tmp_path / "crm.csv"
    crm.write_text(
        "Contact ID,Email Address,Job Title,Created Date\n"
        "C-17,alice@acme-corp.com,CTO,2024-03-01\n"
        "C-18,zoe@z.org,Ops,2024-03-02\n"
    )
    import_file(ws, "contacts", crm)
    return ws


def test_crm_contact_and_app_user_with_one_email_are_one_contact(tmp_path: Path) -> None:
    """By default a CRM contact and the app user with its email are one contact, with evidence."""
    from helpers import run_job

    ws = _crm_and_app_user(tmp_path)
    tables = run_job(ws)
    alice = [c for c in tables["contacts"] if c["email"] == "alice@acme-corp.com"]
    assert len(alice) == 1
    assert "C-17" not in {c["contact_id"] for c in tables["contacts"]}
    assert alice[0]["contact_id"] == "u_alice" and alice[0]["in_crm"] and alice[0]["events"] == 3
    ids = {(r["kind"], r["value"]): r["contact_id"] for r in tables["identities"]}
    assert ids[("user_id", "C-17")] == ids[("user_id", "u_alice")] == "u_alice"
    traits = {(t["contact_id"], t["trait"]): t["value"] for t in tables["contact_traits"]}
    assert traits[("u_alice", "job_title")] == "CTO"
    merges = [(m["contact_id"], m["user_id"], m["reason"]) for m in tables["identity_merges"]]
    assert ("u_alice", "C-17", "email") in merges
    evidence = next(m for m in tables["identity_merges"] if m["user_id"] == "C-17")
    assert "alice@acme-corp.com" in evidence["evidence"]
    # Two app users sharing an email are still refused, and nothing else merged.
    assert ids[("user_id", "bob")] == "bob" and ids[("user_id", "cat")] == "cat"
    assert ids[("user_id", "C-18")] == "C-18"
    assert [(c["kind"], c["value"]) for c in tables["identity_conflicts"]] == [
        ("email", "shared@b.org")
    ]


def test_merged_contact_shows_its_email_and_merge_in_cli_and_api(tmp_path: Path) -> None:
    """`contacts list`, `contacts show` and the API show the merged contact with its email."""
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from clientela.api import create_app
    from clientela.cli import app
    from clientela.keys import create_key
    from helpers import run_job

    ws = _crm_and_app_user(tmp_path)
    run_job(ws)
    runner = CliRunner()
    listed = runner.invoke(app, ["contacts", "list", "--format", "json", "-w", str(ws.root)])
    assert listed.exit_code == 0, listed.output
    emails = {r["contact_id"]: r["email"] for r in json.loads(listed.output)}
    assert emails["u_alice"] == "alice@acme-corp.com" and "C-17" not in emails
    shown = runner.invoke(
        app, ["contacts", "show", "C-17", "-w", str(ws.root)], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    assert "merged C-17 with u_alice (email)" in shown.output
    _, key = create_key(ws, "read", "t")
    with TestClient(create_app(ws), headers={"Authorization": f"Bearer {key}"}) as client:
        body = client.get("/api/contacts/alice@acme-corp.com").json()
    assert body["contact_id"] == "u_alice" and body["email"] == "alice@acme-corp.com"
    assert [(m["user_id"], m["reason"]) for m in body["merges"]] == [("C-17", "email")]


def test_merge_crm_on_email_false_keeps_the_old_behaviour(tmp_path: Path) -> None:
    """With identity.merge_crm_on_email = false the CRM contact and app user stay two."""
    from helpers import run_job

    ws = _crm_and_app_user(tmp_path, "[identity]\nmerge_crm_on_email = false\n")
    tables = run_job(ws)
    ids = {(r["kind"], r["value"]): r["contact_id"] for r in tables["identities"]}
    assert ids[("user_id", "C-17")] == "C-17" and ids[("user_id", "u_alice")] == "u_alice"
    refused = {(c["value"], c["refused_contact"]) for c in tables["identity_conflicts"]}
    assert ("alice@acme-corp.com", "u_alice") in refused
    assert not [m for m in tables["identity_merges"] if m["reason"] == "email"]


def test_two_crm_contacts_with_one_email_stay_two(tmp_path: Path) -> None:
    """Only the first CRM contact with an email joins its app user; the other is refused."""
    from clientela.ingest.crm import import_file

    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    j.identify(user_id="u_alice", traits={"email": "alice@acme-corp.com"}, at=0)
    ingest_files(ws, [j.write(tmp_path / "e.jsonl")])
    crm = tmp_path / "crm.csv"
    crm.write_text(
        "Contact ID,Email Address,Created Date\n"
        "C-2,alice@acme-corp.com,2024-06-01\n"
        "C-1,ALICE@acme-corp.com,2024-01-01\n"
    )
    import_file(ws, "contacts", crm)
    ids, conflicts = _resolve(ws)
    assert ids[("user_id", "C-1")] == ids[("user_id", "u_alice")] == "u_alice"
    assert ids[("user_id", "C-2")] == "C-2"
    assert [(c["value"], c["kept_contact"], c["refused_contact"]) for c in conflicts] == [
        ("alice@acme-corp.com", "u_alice", "C-2")
    ]
