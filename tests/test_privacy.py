"""Privacy: forgetting a person leaves no byte of them anywhere in the workspace, the other
people are untouched, an export holds everything about them and nothing of anyone else,
retention drops old raw text only, and the audit log records every operation without PII."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clientela import privacy
from clientela.engine import scratch_duckdb
from clientela.errors import ConfigError, WorkspaceError
from clientela.ingest.crm import import_file
from clientela.ingest.files import ingest_files
from clientela.privacy.store import (
    TOMBSTONES_FILE,
    add_tombstones,
    identity_hash,
    landing_lock,
    workspace_salt,
)
from clientela.workspace import Workspace, open_workspace
from conftest import make_workspace
from helpers import landed_events, run_job

ADA_EMAIL = "ada.lovelace@example.org"
ADA_IDS = ("u-ada-1815", "legacy-ada-99", "anon-ada-7f3k")
ADA_NAME = "Ada Lovelace"
# Every trace of Ada, compared lower-case against lower-cased bytes and cells.
NEEDLES = (ADA_EMAIL, *ADA_IDS, ADA_NAME.lower(), "lovelace")
BOB = "u-bob-2024"


def _events() -> list[dict[str, Any]]:
    return [
        {"type": "page", "anonymousId": "anon-ada-7f3k", "name": "Pricing",
         "timestamp": "2026-01-02T10:00:00Z", "messageId": "m1"},
        {"type": "identify", "userId": "u-ada-1815", "anonymousId": "anon-ada-7f3k",
         "traits": {"email": "Ada.Lovelace@Example.org", "name": ADA_NAME, "title": "Analyst"},
         "timestamp": "2026-01-02T10:05:00Z", "messageId": "m2"},
        {"type": "track", "userId": "u-ada-1815", "event": "Signed Up",
         "timestamp": "2026-01-03T10:00:00Z", "messageId": "m3"},
        {"type": "track", "userId": "u-ada-1815", "event": "Order Completed",
         "properties": {"revenue": 120}, "timestamp": "2026-01-05T10:00:00Z", "messageId": "m4"},
        {"type": "alias", "userId": "u-ada-1815", "previousId": "legacy-ada-99",
         "timestamp": "2026-01-06T10:00:00Z", "messageId": "m5"},
        {"type": "track", "userId": "legacy-ada-99", "event": "Webinar Attended",
         "timestamp": "2025-12-20T10:00:00Z", "messageId": "m6"},
        # Quarantined (no id), but it names her.
        {"type": "track", "event": "Bad", "traits": {"email": "ADA.Lovelace@example.org"},
         "timestamp": "2026-01-07T10:00:00Z"},
        {"type": "identify", "userId": BOB,
         "traits": {"email": "bob.builder@example.net", "name": "Bob Builder"},
         "timestamp": "2026-01-02T11:00:00Z", "messageId": "b1"},
        {"type": "page", "userId": BOB, "name": "Home",
         "timestamp": "2026-01-02T11:01:00Z", "messageId": "b2"},
        {"type": "track", "userId": BOB, "event": "Signed Up",
         "timestamp": "2026-01-03T11:00:00Z", "messageId": "b3"},
        {"type": "track", "userId": BOB, "event": "Order Completed",
         "timestamp": "2026-01-04T11:00:00Z", "messageId": "b4"},
        # Quarantined, and Bob's.
        {"type": "track", "userId": BOB, "timestamp": "2026-01-08T10:00:00Z"},
    ]  # fmt: skip


_HTTP_LOG = [
    {"type": "track", "userId": "u-ada-1815", "event": "Late", "messageId": "h1"},
    {
        "batch": [
            {"type": "page", "anonymousId": "anon-ada-7f3k", "name": "Docs", "messageId": "h2"},
            {"type": "track", "userId": BOB, "event": "Late", "messageId": "h3"},
        ],
        "sentAt": "2026-01-09T10:00:00Z",
    },
    {"type": "track", "userId": BOB, "event": "Later", "messageId": "h4"},
]
# Her email with the @ escaped: only a parser sees it.
_ESCAPED = (
    b'{"type":"identify","anonymousId":"zz-9",'
    b'"traits":{"email":"ada.lovelace\\u0040example.org"},"messageId":"h5"}'
)


def _write_http_log(ws: Workspace) -> Path:
    folder = ws.state_dir / "http-log"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "http-20260109T100000000000-0badc0de.jsonl"
    lines = [json.dumps(m).encode() for m in _HTTP_LOG] + [_ESCAPED]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace landed and run twice (two published versions), with a left-over HTTP log
    file; tests work on copies."""
    root = tmp_path_factory.mktemp("privacy")
    data = root / "input"
    data.mkdir()
    (data / "events.jsonl").write_text("\n".join(json.dumps(e) for e in _events()) + "\n")
    (data / "contacts.csv").write_text(
        "id,email,Full Name,Company\n"
        f"u-ada-1815,{ADA_EMAIL},{ADA_NAME},Engines Ltd\n"
        f"{BOB},bob.builder@example.net,Bob Builder,Builders Inc\n"
    )
    # Raw lines kept: the hardest case for forget (they hold the person verbatim).
    ws = make_workspace(root / "ws", "[ingest]\nkeep_raw = true\n")
    report = ingest_files(ws, [data / "events.jsonl"])
    assert report.quarantined == 2
    import_file(ws, "contacts", data / "contacts.csv")
    run_job(ws)
    run_job(ws)
    _write_http_log(ws)
    return root


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(template, tmp_path / "world")
    return open_workspace(tmp_path / "world" / "ws")


def _input(ws: Workspace) -> Path:
    return ws.root.parent / "input"


# -- looking for every byte --------------------------------------------------------------------


def _cells(path: Path) -> Iterator[str]:
    """Every cell of every column of a Parquet file, as text (decompressed and decoded)."""
    table = pq.read_table(path)
    for column in table.columns:
        for value in column.to_pylist():
            if value is None:
                continue
            if isinstance(value, bytes):
                yield value.decode("utf-8", "replace")
            else:
                yield str(value)


def _duckdb_cells(path: Path) -> Iterator[str]:
    con = scratch_duckdb()
    try:
        con.execute(f"ATTACH '{path}' AS db (READ_ONLY)")
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'db'"
        ).fetchall()
        for schema, table in tables:
            for row in con.execute(f'SELECT * FROM db."{schema}"."{table}"').fetchall():
                yield from (str(v) for v in row if v is not None)
    finally:
        con.close()


def leaks(root: Path, needles: tuple[str, ...] = NEEDLES) -> list[str]:
    """``file: needle`` for every trace of a needle in any file under ``root``: raw bytes of
    every file, gzip decompressed, every Parquet cell, every DuckDB table."""
    found: list[str] = []
    wanted = [n.lower() for n in needles]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        texts = [data.decode("utf-8", "replace").lower()]
        if data[:2] == b"\x1f\x8b":
            texts.append(gzip.decompress(data).decode("utf-8", "replace").lower())
        if data[:4] == b"PAR1":
            texts.extend(cell.lower() for cell in _cells(path))
        if path.suffix == ".duckdb":
            texts.extend(cell.lower() for cell in _duckdb_cells(path))
        for needle in wanted:
            if any(needle in text for text in texts):
                found.append(f"{path.relative_to(root)}: {needle}")
    return found


def _published(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    version = (ws.results_dir / "CURRENT").read_text().strip()
    return {
        p.stem: pq.read_table(p).to_pylist() for p in sorted((ws.results_dir / version).glob("*"))
    }


def _of(rows: list[dict[str, Any]], contact: str) -> list[str]:
    keys = ("contact_id", "kept_contact", "refused_contact")
    return sorted(
        json.dumps(r, default=str, sort_keys=True)
        for r in rows
        if any(r.get(k) == contact for k in keys)
    )


# -- forget ------------------------------------------------------------------------------------


def test_the_world_holds_ada_everywhere_before(world: Workspace) -> None:
    """The check below is worth something only if it finds her before."""
    places = {line.split("/")[0] for line in leaks(world.root)}
    assert {"landed", "quarantine", "results", "state"} <= places


@pytest.mark.parametrize("asked", ["Ada.Lovelace@Example.org ", "anon-ada-7f3k"])
def test_forget_leaves_no_byte_of_the_person(world: Workspace, asked: str) -> None:
    """Forgetting by email or by any one id removes the whole contact from every file."""
    before = _published(world)
    bob_events = [e for e in landed_events(world) if e["user_id"] == BOB]
    versions_before = {d.name for d in world.results_dir.iterdir() if d.is_dir()}

    report = privacy.forget(world, asked, actor="cli:tester")

    assert leaks(world.root) == []
    assert report.identities == 4  # two userIds, one anonymousId, one email
    assert report.contacts == 1
    assert report.removed["events"] == 6
    assert report.removed["crm_contacts"] == 1
    assert report.removed["quarantine"] == 1
    assert report.removed["http_log"] == 3  # h1, h2 from the batch, the escaped identify
    assert report.version is not None
    assert report.versions_rewritten == 2  # both older versions held her
    versions = {d.name for d in world.results_dir.iterdir() if d.is_dir()}
    assert versions == versions_before | {report.version}
    # Bob is untouched: his rows of every published table, his events, his log lines.
    after = _published(world)
    for table, rows in before.items():
        assert _of(after[table], BOB) == _of(rows, BOB), table
    assert [e for e in landed_events(world) if e["user_id"] == BOB] == bob_events
    log = (world.state_dir / "http-log").glob("http-*.jsonl")
    text = b"".join(p.read_bytes() for p in log)
    assert b'"h3"' in text and b'"h4"' in text
    assert len(after["contacts"]) == 1
    assert {r["user_id"] for r in landed_events(world)} == {BOB}
    # The quarantine keeps Bob's record.
    from clientela.ingest.quarantine import open_records

    assert [r["line"] for r in open_records(world).to_pylist()] == [12]


def test_forget_of_someone_never_seen_only_adds_a_tombstone(world: Workspace) -> None:
    before = {p: p.read_bytes() for p in world.root.rglob("*.parquet")}
    report = privacy.forget(world, "nobody@example.com", actor="cli:tester")
    assert report.identities == 1 and report.contacts == 0
    assert report.removed == {}
    assert report.tombstones_added == 1
    assert report.version is None  # nothing to take out: no new version
    assert {p: p.read_bytes() for p in world.root.rglob("*.parquet")} == before


def test_forget_deletes_torn_tables_of_a_failed_publish(world: Workspace) -> None:
    """A publish killed half-way leaves a version folder never published, maybe with a torn
    file that cannot be read: it may hold her, so it goes."""
    torn = world.results_dir / "v20990101T000000000000" / "contacts.parquet"
    torn.parent.mkdir()
    torn.write_bytes(b"PAR1" + f"{ADA_EMAIL},{ADA_NAME}".encode())
    report = privacy.forget(world, ADA_EMAIL, actor="cli:tester")
    assert not torn.exists()
    assert report.versions_rewritten == 3
    assert leaks(world.root) == []


def test_a_forgotten_person_run_again_stays_gone(world: Workspace) -> None:
    """A run after forget computes from the scrubbed segments: she is not back."""
    privacy.forget(world, ADA_EMAIL, actor="cli:tester")
    tables = run_job(world)
    assert {r["contact_id"] for r in tables["contacts"]} == {BOB}
    assert leaks(world.root) == []


def test_reingesting_after_forget_brings_nothing_back(world: Workspace) -> None:
    """Old files ingested again: every record of hers is dropped and counted, none lands or
    goes to quarantine (where her data would be kept)."""
    privacy.forget(world, ADA_EMAIL, actor="cli:tester")
    report = ingest_files(world, [_input(world) / "events.jsonl"])
    assert getattr(report, "forgotten", None) == 7  # six accepted, one that was quarantined
    assert report.accepted == 0
    assert leaks(world.root) == []


def test_reimporting_crm_contacts_after_forget_brings_nothing_back(world: Workspace) -> None:
    privacy.forget(world, ADA_EMAIL, actor="cli:tester")
    report = import_file(world, "contacts", _input(world) / "contacts.csv")
    assert report.accepted == 1  # Bob
    assert leaks(world.root) == []


def test_forget_refuses_while_a_server_runs(world: Workspace) -> None:
    """From the command line, a running server's log cannot be scrubbed: refused, nothing
    done (the API does it inside the server)."""
    lock = world.state_dir / "http-log" / ".lock"
    with open(lock, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        with pytest.raises(WorkspaceError, match="server is running"):
            privacy.forget(world, ADA_EMAIL, actor="cli:tester")
    assert leaks(world.root)  # untouched


def test_forget_waits_for_landings_then_refuses(world: Workspace) -> None:
    with (
        landing_lock(world),
        pytest.raises(WorkspaceError, match="being landed"),
    ):
        privacy.forget(world, ADA_EMAIL, actor="cli:tester", lock_timeout=0.2)


def test_forget_refuses_an_empty_id(world: Workspace) -> None:
    with pytest.raises(ConfigError):
        privacy.forget(world, "  ", actor="cli:tester")


# -- tombstones --------------------------------------------------------------------------------


def test_tombstones_hold_salted_hashes_only(world: Workspace) -> None:
    privacy.forget(world, ADA_EMAIL, actor="cli:tester")
    data = json.loads((world.state_dir / TOMBSTONES_FILE).read_text())
    salt = workspace_salt(world)
    hashes = {t["hash"] for t in data["tombstones"]}
    assert hashes == {identity_hash(salt, v) for v in (ADA_EMAIL, *ADA_IDS)}
    assert leaks(world.state_dir) == []
    assert privacy.tombstone_filter_sql(world) is not None
    assert (world.state_dir / "privacy-salt").stat().st_mode & 0o077 == 0


def test_no_tombstones_cost_nothing(workspace: Workspace) -> None:
    assert privacy.load_tombstones(workspace) is None
    assert privacy.tombstone_filter_sql(workspace) is None


def test_tombstones_drop_rows_of_normalised_events(workspace: Workspace) -> None:
    """What the lander will call on its table of normalised records (accepted and rejected)."""
    add_tombstones(workspace, [ADA_EMAIL, "u-ada-1815"], {ADA_EMAIL: "email"})
    tombstones = privacy.load_tombstones(workspace)
    assert tombstones is not None
    rejected = b'{"type":"track","traits":{"email":" ADA.Lovelace@example.org"}}'
    rows = pa.table(  # noqa: F841 (read by DuckDB by its name)
        {
            "user_id": ["u-ada-1815", BOB, None, "Ada.Lovelace@Example.org", None],
            "anonymous_id": [None, "a-1", None, None, "a-2"],
            "previous_id": [None, None, None, None, None],
            "email": [None, "bob.builder@example.net", None, None, None],
            "raw_bytes": [None, None, rejected, None, b"\xff not utf-8"],
        }
    )
    con = scratch_duckdb()
    try:
        con.execute("CREATE TABLE norm AS SELECT * FROM rows")
        condition = tombstones.condition_sql()
        flagged = con.execute(f"SELECT count(*) FROM norm WHERE {condition}").fetchone()
        assert flagged == (2,)  # the hashed condition sees the normalised columns only
        assert tombstones.drop_from(con, "norm", raw_bytes="raw_bytes") == 3
        left = con.execute("SELECT user_id, anonymous_id FROM norm ORDER BY 2").fetchall()
        assert left == [(BOB, "a-1"), (None, "a-2")]
        assert tombstones.drop_from(con, "norm", raw_bytes="raw_bytes") == 0
    finally:
        con.close()


# -- export ------------------------------------------------------------------------------------


def test_export_holds_everything_of_the_person_and_nothing_else(
    world: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "ada.json"
    summary = privacy.write_export(world, "legacy-ada-99", out, actor="cli:tester")
    document = json.loads(out.read_text())
    assert document["summary"] == summary
    counts = summary["counts"]
    assert counts["landed.events"] == 6
    assert counts["landed.crm_contacts"] == 1
    assert counts["quarantine"] == 1
    assert counts["http_log"] == 3
    assert document["subject"]["identities"]["email"] == [ADA_EMAIL]
    published = document["published"]
    traits = {(t["trait"], t["value"]) for t in published["contact_traits"]}
    assert ("full_name", ADA_NAME) in traits
    assert {s["contact_id"] for s in published["scores"]} == {"u-ada-1815"}
    assert published["score_ledger"] and published["stage_history"]
    assert published["lifecycle"][0]["contact_id"] == "u-ada-1815"
    events = {e["message_id"]: e for e in document["landed"]["events"]}
    assert set(events) == {"m1", "m2", "m3", "m4", "m5", "m6"}
    assert events["m2"]["traits"]["name"] == ADA_NAME  # parsed JSON, and the raw text
    assert json.loads(events["m2"]["raw"])["traits"]["email"] == "Ada.Lovelace@Example.org"
    assert "ADA.Lovelace@example.org" in document["quarantine"][0]["raw"]
    text = out.read_text().lower()
    # Nothing of Bob's: his name or email anywhere, or one of his events (by its fields: a
    # substring test for his messageId "b3" also hit random hex in log file names).
    assert "bob" not in text
    assert all(e.get("user_id") != BOB and e["message_id"] != "b3" for e in events.values())


def test_export_after_forget_is_empty(world: Workspace) -> None:
    privacy.forget(world, ADA_EMAIL, actor="cli:tester")
    document = privacy.export(world, ADA_EMAIL, actor="cli:tester")
    assert document["summary"]["counts"] == {}


# -- retention ---------------------------------------------------------------------------------


def _retention_world(root: Path, toml: str, now: datetime) -> Workspace:
    ws: Workspace = make_workspace(root / "ws", toml)
    ten_days_ago = (now - timedelta(days=10)).isoformat()
    received = ["2025-01-01T00:00:00Z", ten_days_ago, None, None]  # None: received now
    lines = []
    for n, at in enumerate(received):
        event: dict[str, Any] = {
            "type": "track",
            "userId": f"u{n}",
            "event": "Seen",
            "timestamp": "2024-12-31T00:00:00Z",
            "messageId": f"r{n}",
        }
        if at:
            event["receivedAt"] = at
        lines.append(json.dumps(event))
    path = root / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    ingest_files(ws, [path])
    return ws


def test_retention_drops_old_raw_text_only(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    ws = _retention_world(
        tmp_path, "[ingest]\nkeep_raw = true\n[privacy]\nkeep_raw_days = 30\n", now
    )
    before = {e["message_id"]: e for e in landed_events(ws)}
    report = privacy.apply_retention(ws, now, actor="cli:tester")
    assert report.cutoff == now - timedelta(days=30)
    assert report.rows == 1 and report.files_rewritten == 1
    after = {e["message_id"]: e for e in landed_events(ws)}
    assert set(after) == set(before)
    assert after["r0"]["raw"] is None
    assert [after[m]["raw"] for m in ("r1", "r2", "r3")] == [
        before[m]["raw"] for m in ("r1", "r2", "r3")
    ]
    for message_id, row in after.items():
        assert {k: v for k, v in row.items() if k != "raw"} == {
            k: v for k, v in before[message_id].items() if k != "raw"
        }
    # Again: nothing left to drop, nothing rewritten.
    again = privacy.apply_retention(ws, now, actor="cli:tester")
    assert again.rows == 0 and again.files_rewritten == 0
    # 25 days on, the event received 10 days ago is past 30 days; those landed now are not.
    later = privacy.apply_retention(ws, now + timedelta(days=25), actor="cli:tester")
    assert later.rows == 1
    assert [e["message_id"] for e in landed_events(ws) if e["raw"] is None] == ["r0", "r1"]


def test_retention_is_off_by_default(tmp_path: Path) -> None:
    ws = _retention_world(tmp_path, "", datetime.now(UTC))
    segments = {p: p.read_bytes() for p in ws.segments(ws.events_dir)}
    report = privacy.apply_retention(ws, datetime(2030, 1, 1, tzinfo=UTC))
    assert report.keep_raw_days is None and report.cutoff is None and report.rows == 0
    assert {p: p.read_bytes() for p in ws.segments(ws.events_dir)} == segments


def test_keep_raw_days_is_validated(tmp_path: Path) -> None:
    for bad in ("-1", "1.5", '"30"', "true"):
        with pytest.raises(ConfigError, match="keep_raw_days"):
            make_workspace(tmp_path / f"ws{bad}", f"[privacy]\nkeep_raw_days = {bad}\n")


# -- audit -------------------------------------------------------------------------------------


def test_every_operation_is_audited_without_pii(world: Workspace, tmp_path: Path) -> None:
    privacy.write_export(world, ADA_EMAIL, tmp_path / "x.json", actor="cli:alice")
    forgotten = privacy.forget(world, ADA_EMAIL, actor="key:0123456789ab")
    privacy.apply_retention(world, actor="cli:alice")
    records = privacy.read_audit(world)
    assert [r["operation"] for r in records] == ["export", "forget"]  # retention is off
    export_record, forget_record = records
    assert export_record["actor"] == "cli:alice"
    assert forget_record["actor"] == "key:0123456789ab"
    assert forget_record["subject"] == export_record["subject"] == forgotten.subject
    assert len(forgotten.subject) == 64
    assert forget_record["removed"]["events"] == 6
    for record in records:
        datetime.fromisoformat(record["at"])
    assert leaks(world.state_dir) == []
    assert os.stat(world.state_dir / "audit.jsonl").st_mode & 0o077 == 0


# -- the API -----------------------------------------------------------------------------------


def test_api_forget_and_export_take_admin_keys_only(world: Workspace) -> None:
    """Inside a running server: the log (a left-over file and a fresh event) is landed
    first, then she is forgotten from everything; reads of her answer 404 afterwards."""
    from fastapi.testclient import TestClient

    from clientela.api import create_app
    from clientela.keys import create_key

    keys = {kind: create_key(world, kind, f"privacy-{kind}") for kind in ("admin", "read", "write")}
    admin_id = keys["admin"][0].id
    app = create_app(world)

    def bearer(kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[kind][1]}"}

    body = {"id": ADA_EMAIL}
    with TestClient(app, raise_server_exceptions=False) as client:
        fresh = {"userId": "u-ada-1815", "event": "Fresh", "messageId": "f1"}
        assert client.post("/v1/track", json=fresh, headers=bearer("write")).status_code == 200
        for path in ("/api/privacy/forget", "/api/privacy/export"):
            assert client.post(path, json=body).status_code == 401
            for kind in ("read", "write"):
                answer = client.post(path, json=body, headers=bearer(kind))
                assert answer.status_code == 403, (path, kind, answer.text)
            assert client.post(path, json={"id": ""}, headers=bearer("admin")).status_code == 422
        # What the export counts must not depend on whether the compactor has run yet.
        assert app.state.ingestion.land_now(60)
        exported = client.post("/api/privacy/export", json=body, headers=bearer("admin"))
        assert exported.status_code == 200
        assert exported.json()["summary"]["counts"]["landed.events"] == 10
        forgotten = client.post("/api/privacy/forget", json=body, headers=bearer("admin"))
        assert forgotten.status_code == 200, forgotten.text
        result = forgotten.json()
        # Six from files; h1, h2, h5 from the left-over log and f1 from the live one, all
        # landed before the export above.
        assert result["removed"]["events"] == 10
        assert ADA_EMAIL not in forgotten.text
        shown = client.get("/api/contacts/u-ada-1815", headers=bearer("read"))
        assert shown.status_code == 404
        bob = client.get(f"/api/contacts/{BOB}", headers=bearer("read"))
        assert bob.status_code == 200
    assert leaks(world.root) == []
    actors = [(r["operation"], r["actor"]) for r in privacy.read_audit(world)]
    assert actors == [("export", f"key:{admin_id}"), ("forget", f"key:{admin_id}")]
