"""Destinations: settings, signatures, backoff, what a version holds for a destination, file
outputs in the three formats, and webhook retries, dead letters and replay against a real
local receiver (the crash test is in test_delivery_crash.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from receiver import receiving

from clientela.activation.destinations import deliver_published
from clientela.activation.destinations.items import items_for, read_published, segment_change_id
from clientela.activation.destinations.signing import Backoff, signature, verify
from clientela.activation.settings import DestinationSettings
from clientela.activation.store import DeliveryStore
from clientela.engine import connect
from clientela.errors import ClientelaError, ConfigError
from clientela.workspace import Workspace
from conftest import make_workspace
from published_activation import AS_OF, PLANNED, SUPPRESSED, action, publish

SECRET_ENV = "CLIENTELA_TEST_HOOK_SECRET"


def _webhook(url: str, **extra: Any) -> str:
    options = {"max_attempts": 3, "backoff_base_seconds": 0.001, "backoff_max_seconds": 0.004}
    options.update(timeout_seconds=0.5, **extra)
    lines = [f'url = "{url}"', f'secret_env = "{SECRET_ENV}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    return '[destinations.hook]\nkind = "webhook"\nreceives = ["actions"]\n' + "\n".join(lines)


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"kind": "ftp"}, "unknown kind 'ftp'"),
        ({"kind": "webhook", "url": "ftp://x", "secret_env": "S"}, "not an http"),
        ({"kind": "webhook", "url": "https://", "secret_env": "S"}, "with a host"),
        ({"kind": "webhook", "url": "https://x"}, "needs secret_env"),
        ({"kind": "webhook", "secret_env": "S"}, "needs url"),
        ({"kind": "webhook", "url": "https://x", "secret_env": "s3cr3t!"}, "variable name"),
        ({"kind": "file", "url": "https://x"}, "url do not apply to a file"),
        ({"kind": "file", "format": "xlsx"}, "unknown format 'xlsx'"),
        ({"kind": "file", "receives": ["emails"]}, "one or more of"),
        ({"kind": "file", "purposes": ["spam"]}, "unknown purposes"),
        ({"kind": "webhook", "url": "https://x", "secret_env": "S", "format": "csv"}, "format"),
        (
            {"kind": "webhook", "url": "https://x", "secret_env": "S", "backoff_max_seconds": 0},
            "below backoff_base_seconds",
        ),
    ],
)
def test_settings_refuse_what_cannot_work(given: dict[str, Any], message: str) -> None:
    """Each wrong destination setting is refused with a message saying what was expected."""
    with pytest.raises(ValidationError, match=message):
        DestinationSettings.model_validate(given)


def test_a_bad_destination_in_the_toml_names_it(tmp_path: Path) -> None:
    """The error points at destinations.NAME.field in clientela.toml."""
    toml = '[destinations.crm]\nkind = "webhook"\nurl = "ftp://x"\nsecret_env = "S"\n'
    with pytest.raises(ConfigError, match=r"destinations\.crm\.url"):
        make_workspace(tmp_path / "ws", toml)


# -- signatures and backoff ------------------------------------------------------------------


def test_signature_matches_a_hand_computed_vector() -> None:
    """HMAC-SHA256 keyed with the secret over "t." + body, hex. Computed independently:
    printf '1700000000.{"id":"a1"}' | openssl dgst -sha256 -hmac whsec_test
    → ecac3db019d6961feb250a8b04713734da314547cb15baf31dc562e57aa8c202"""
    assert signature("whsec_test", 1_700_000_000, b'{"id":"a1"}') == (
        "t=1700000000,v1=ecac3db019d6961feb250a8b04713734da314547cb15baf31dc562e57aa8c202"
    )


def test_verify_accepts_the_signed_body_only() -> None:
    """A receiver's check: the right body, secret and a fresh time pass; anything else fails."""
    header = signature("whsec_test", 1_700_000_000, b'{"id":"a1"}')
    assert verify("whsec_test", header, b'{"id":"a1"}', now=1_700_000_100)
    assert not verify("whsec_test", header, b'{"id":"a2"}', now=1_700_000_100)  # tampered
    assert not verify("other", header, b'{"id":"a1"}', now=1_700_000_100)  # wrong secret
    assert not verify("whsec_test", header, b'{"id":"a1"}', now=1_700_000_301)  # 301 s old
    assert not verify("whsec_test", "v1=abc", b'{"id":"a1"}', now=1_700_000_000)  # no time


def test_backoff_is_exponential_with_full_jitter() -> None:
    """base 1 s, cap 8 s: ceilings 1, 2, 4, 8, 8 (1×2⁰ … 1×2³, then capped). With seed 7 the
    uniform draws are 0.32383, 0.15085, 0.65093, 0.07244, 0.53588, so the waits are
    0.32383×1, 0.15085×2 = 0.30170, 0.65093×4 = 2.60374, 0.07244×8 = 0.57949,
    0.53588×8 = 4.28706."""
    backoff = Backoff(1.0, 8.0, random.Random(7))
    assert [backoff.ceiling(n) for n in range(1, 6)] == [1, 2, 4, 8, 8]
    waits = [backoff.delay(n) for n in range(1, 6)]
    assert waits == pytest.approx([0.32383, 0.30170, 2.60374, 0.57949, 4.28706], abs=1e-5)


# -- what a version holds ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def published_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = make_workspace(tmp_path_factory.mktemp("published") / "ws")
    publish(ws)
    return ws


def test_a_version_holds_planned_actions_and_the_latest_changes(published_ws: Workspace) -> None:
    """Planned actions only (never a suppressed one); membership changes only at the run's
    as-of (3 of the 4 history rows: the earlier run's entry is not resent)."""
    engine = connect(published_ws, "duckdb", reader=True)
    found = read_published(engine)
    engine.close()
    assert [a["action_id"] for a in found.actions] == PLANNED
    assert not set(SUPPRESSED) & {a["action_id"] for a in found.actions}
    assert {(c["segment"], c["contact_id"], c["change"]) for c in found.segment_changes} == {
        ("vip", "c2", "entered"),
        ("vip", "c1", "left"),
        ("quiet", "c3", "entered"),
    }
    assert {c["at"] for c in found.segment_changes} == {AS_OF.isoformat()}


def test_filters_narrow_what_a_destination_receives(published_ws: Workspace) -> None:
    """Action names and purposes narrow actions; segment names narrow changes."""
    engine = connect(published_ws, "duckdb", reader=True)
    found = read_published(engine)
    engine.close()
    marketing = DestinationSettings(kind="file", purposes=["marketing"], segments=["vip"])
    got = items_for("m", marketing, found)
    assert [i.item_id for i in got if i.kind == "action"] == ["act-3", "act-5"]
    assert sorted(i.payload["contact_id"] for i in got if i.kind == "segment_change") == [
        "c1",
        "c2",
    ]
    calls = DestinationSettings(kind="file", actions=["sales_call"], receives=["actions"])
    assert [i.item_id for i in items_for("s", calls, found)] == ["act-4"]


def test_a_segment_change_keeps_its_key() -> None:
    """The key hashes segment, contact, change and time: equal for the same change, different
    when any of them differs."""
    row = {"segment": "vip", "contact_id": "c2", "change": "entered", "at": AS_OF.isoformat()}
    assert segment_change_id(row) == segment_change_id(dict(row))
    assert segment_change_id(row) != segment_change_id({**row, "change": "left"})
    assert segment_change_id(row).startswith("sc_") and len(segment_change_id(row)) == 35


def test_a_suppressed_action_is_refused_even_if_it_reached_delivery() -> None:
    """The guard in items_for: a suppressed row handed to it is an error, never an item."""
    from clientela.activation.destinations.items import Published

    leaked = Published("v1", AS_OF, actions=[action("x", "c9", "win_back", "marketing", "x")])
    leaked.actions[0]["status"] = "suppressed"
    with pytest.raises(ClientelaError, match="not planned"):
        items_for("f", DestinationSettings(kind="file"), leaked)


# -- files -----------------------------------------------------------------------------------


def _read(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
    return table.to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_file_destination_writes_whole_files(tmp_path: Path, fmt: str) -> None:
    """One file per kind of item: the 6 planned actions and the 3 latest changes, each row
    with its item_id and version; a second delivery of the same version writes nothing."""
    toml = f'[destinations.out]\nkind = "file"\nformat = "{fmt}"\nfolder = "exports"\n'
    ws = make_workspace(tmp_path / "ws", toml)
    version = publish(ws)
    report = deliver_published(ws)
    (done,) = report.destinations
    assert (done.enqueued, done.delivered, done.dead, done.pending) == (9, 9, 0, 0)
    written = sorted((ws.root / "exports").iterdir())
    assert [p.name.split("-")[0] for p in written] == ["actions", "segment_changes"]
    assert all(p.suffix == f".{fmt}" for p in written)
    actions, changes = (_read(p) for p in written)
    assert [r["item_id"] for r in actions] == PLANNED
    assert [r["action_id"] for r in actions] == PLANNED
    assert {r["version"] for r in actions + changes} == {version}
    assert {r["status"] for r in actions} == {"planned"}
    assert sorted(r["contact_id"] for r in changes) == ["c1", "c2", "c3"]
    products = next(r["products"] for r in actions if r["action_id"] == "act-3")
    assert json.loads(products) == [{"product_id": "p1"}]
    again = deliver_published(ws).destinations[0]
    assert (again.enqueued, again.delivered) == (0, 0)
    assert sorted((ws.root / "exports").iterdir()) == written


def test_a_new_version_sends_only_new_items(tmp_path: Path) -> None:
    """Re-running the same day proposes the same action ids: only the new one is delivered."""
    ws = make_workspace(
        tmp_path / "ws", '[destinations.out]\nkind = "file"\nreceives = ["actions"]\n'
    )
    publish(ws)
    assert deliver_published(ws).destinations[0].delivered == 6
    publish(
        ws,
        actions=[
            action("act-1", "c1", "thank_you", "transactional"),
            action("act-9", "c9", "onboarding", "service"),
        ],
    )
    second = deliver_published(ws).destinations[0]
    assert (second.enqueued, second.delivered) == (1, 1)
    newest = max((ws.root / "deliveries" / "out").iterdir())
    assert [r["item_id"] for r in _read(newest)] == ["act-9"]


def test_dry_run_counts_and_changes_nothing(tmp_path: Path) -> None:
    """--dry-run says what would be enqueued and neither sends nor creates any state."""
    ws = make_workspace(tmp_path / "ws", '[destinations.out]\nkind = "file"\n')
    publish(ws)
    report = deliver_published(ws, dry_run=True)
    assert [(d.name, d.enqueued, d.delivered) for d in report.destinations] == [("out", 9, 0)]
    assert not (ws.state_dir / "deliveries.sqlite").exists()
    assert not (ws.root / "deliveries").exists()


def test_a_version_from_before_activation_delivers_nothing(tmp_path: Path) -> None:
    """A published version without the actions table gives a note, not an error."""
    import ibis

    ws = make_workspace(tmp_path / "ws", '[destinations.out]\nkind = "file"\n')
    engine = connect(ws)
    engine.publish({"contacts": ibis.memtable({"contact_id": ["c1"]})})
    engine.close()
    report = deliver_published(ws)
    assert report.destinations[0].enqueued == 0
    assert any("no table 'actions'" in n for n in report.notes)


def test_destination_errors_name_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No destinations, an unknown --destination and a missing secret are clear errors."""
    ws = make_workspace(tmp_path / "ws")
    with pytest.raises(ClientelaError, match=r"no destinations are configured"):
        deliver_published(ws)
    ws = make_workspace(tmp_path / "ws2", _webhook("http://127.0.0.1:9/hook"))
    publish(ws)
    with pytest.raises(ConfigError, match="one of: hook"):
        deliver_published(ws, destination="nope")
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ClientelaError, match=f"destination 'hook'.*{SECRET_ENV}"):
        deliver_published(ws)


# -- webhooks ----------------------------------------------------------------------------------


def test_webhook_retries_then_dead_letters_then_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver answering 500 gets 3 attempts per item (2 retried, then dead); once it
    works, --replay-dead delivers every dead item."""
    monkeypatch.setenv(SECRET_ENV, "whsec_test")
    state = {"mode": "fail"}
    with receiving(lambda key, seen: state["mode"]) as receiver:
        ws = make_workspace(tmp_path / "ws", _webhook(receiver.url))
        publish(ws)
        waits: list[float] = []
        first = deliver_published(ws, sleep=waits.append, rng=random.Random(1))
        (done,) = first.destinations
        # 6 items × 3 attempts: 2 failures each are retried, the third makes it dead.
        assert (done.enqueued, done.delivered, done.retried, done.dead) == (6, 0, 12, 6)
        assert len(receiver.arrivals) == 18
        assert all(w <= 0.004 for w in waits)  # never longer than backoff_max_seconds
        with DeliveryStore.open(ws) as store:
            dead, total = store.items("hook", "dead")
        assert total == 6 and {d.attempts for d in dead} == {3}
        assert dead[0].last_error == "attempt 3: HTTP 500"
        state["mode"] = "ok"
        replay = deliver_published(ws, replay_dead=True).destinations[0]
        assert (replay.replayed, replay.enqueued, replay.delivered, replay.dead) == (6, 0, 6, 0)
        assert sorted(set(receiver.keys())) == sorted(PLANNED)


def test_a_pass_tries_every_item_before_retrying_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no backoff at all, a failing item is due again at once, yet each pass tries
    every item once: arrivals are act-1..act-6, then act-1..act-6 again."""
    monkeypatch.setenv(SECRET_ENV, "whsec_test")
    with receiving(lambda key, seen: "fail") as receiver:
        toml = _webhook(receiver.url, backoff_base_seconds=0, backoff_max_seconds=0)
        ws = make_workspace(tmp_path / "ws", toml.replace("max_attempts = 3", "max_attempts = 2"))
        publish(ws)
        done = deliver_published(ws, sleep=lambda s: None).destinations[0]
        assert (done.retried, done.dead) == (6, 6)
        assert receiver.keys() == PLANNED + PLANNED


def test_webhook_refusal_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 400 refuses the item itself: dead at once (one attempt), with the reason."""
    monkeypatch.setenv(SECRET_ENV, "whsec_test")
    with receiving(lambda key, seen: "refuse") as receiver:
        ws = make_workspace(tmp_path / "ws", _webhook(receiver.url))
        publish(ws)
        done = deliver_published(ws, sleep=lambda s: None).destinations[0]
        assert (done.delivered, done.retried, done.dead) == (0, 0, 6)
        assert len(receiver.arrivals) == 6
        assert "HTTP 400 (refused by the receiver: not retried)" in done.errors[0]


def test_webhook_requests_are_signed_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request: one item as JSON (id, type, destination, version, data), the item id as
    Idempotency-Key, and a signature the receiver's check accepts."""
    import time

    monkeypatch.setenv(SECRET_ENV, "whsec_test")
    with receiving(lambda key, seen: "ok") as receiver:
        ws = make_workspace(tmp_path / "ws", _webhook(receiver.url))
        version = publish(ws)
        deliver_published(ws)
    first = receiver.arrivals[0]
    document = json.loads(first.body)
    assert document["id"] == first.key == "act-1"
    assert (document["type"], document["destination"], document["version"]) == (
        "action",
        "hook",
        version,
    )
    assert document["data"]["status"] == "planned"
    assert all(verify("whsec_test", a.signature, a.body, time.time()) for a in receiver.arrivals)


# -- docs/destinations.md ----------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "destinations.md"


def _blocks(language: str) -> list[str]:
    import re

    return re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)


def test_docs_settings_example_is_valid(tmp_path: Path) -> None:
    """The settings example of the docs loads, with what it says it sets."""
    (toml,) = _blocks("toml")
    ws = make_workspace(tmp_path / "ws", toml)
    got = ws.settings.destinations
    assert sorted(got) == ["crm_segments", "email_tool", "exports"]
    assert (got["exports"].kind, got["exports"].format) == ("file", "csv")
    assert got["email_tool"].purposes == ["marketing"]
    assert not got["crm_segments"].counts_as_sent


def test_docs_receiver_snippet_verifies_what_we_send() -> None:
    """The receiver's check in the docs (stdlib only) accepts our signature, including the
    documented example vector, and refuses a tampered body or an old request."""
    (snippet,) = _blocks("python")
    space: dict[str, Any] = {}
    exec(snippet, space)
    check = space["verify_clientela_signature"]
    body = b'{"data":{},"id":"act-1"}'
    header = signature("s3cret", 1_782_864_000, body)
    assert check("s3cret", header, body, now=1_782_864_010)
    assert not check("s3cret", header, body + b" ", now=1_782_864_010)
    assert not check("s3cret", header, body, now=1_782_864_000 + 301)
    documented = "t=1700000000,v1=ecac3db019d6961feb250a8b04713734da314547cb15baf31dc562e57aa8c202"
    assert documented in DOCS.read_text(encoding="utf-8")
    assert check("whsec_test", documented, b'{"id":"a1"}', now=1_700_000_000)


def test_docs_body_example_has_the_keys_we_send() -> None:
    """The JSON body shown in the docs has the keys webhook.body writes."""
    from datetime import UTC, datetime

    from clientela.activation.destinations.webhook import body
    from clientela.activation.store import StoredItem

    (example,) = _blocks("json")
    now = datetime.now(UTC)
    item = StoredItem("d", "a1", "action", "v1", {}, "pending", 0, now, None, now, None)
    assert set(json.loads(example)) == set(json.loads(body(item)))
    assert set(json.loads(example)["data"]) == set(action("a", "c", "x", "marketing"))
