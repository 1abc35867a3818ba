"""Hostile events over HTTP: an accepted bad event goes to quarantine alone, the other
clients' events of the same log file land, and landing never stalls (issue 10, finding 1)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientela.api import create_app
from clientela.api.ingest import IngestOptions
from clientela.keys import create_key
from conftest import make_workspace
from helpers import landed_events, quarantined
from ingest.test_hostile import FIELDS, json_values

EXAMPLES = itertools.count()
HOSTILE = {
    "userId": "x",
    "event": "e",
    "timestamp": "2026-01-01T00:00:00Z",
    "sentAt": "infinity",
    "messageId": "hostile",
}


class Server:
    """The app in-process with a write key; ``land()`` lands what was accepted."""

    def __init__(self, root: Path) -> None:
        self.ws = make_workspace(root)
        _, self.key = create_key(self.ws, "write")
        self.app = create_app(self.ws)
        self.app.state.ingest_options = IngestOptions(rotate_seconds=3600)
        self.client = TestClient(self.app)

    def post(self, call: str, body: Any) -> Any:
        # json.dumps writes Infinity for an infinite float: invalid JSON the server must refuse.
        return self.client.post(
            f"/v1/{call}",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            auth=(self.key, ""),
        )

    def land(self) -> None:
        assert self.app.state.ingestion.land_now(60), "landing stalled"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    served = Server(tmp_path / "ws")
    with served.client:
        yield served


def test_infinite_sent_at_does_not_block_other_clients(server: Server) -> None:
    """The trigger of finding 1, between other clients' events in one log file: it is
    quarantined as bad_timestamp and every other acknowledged event lands."""
    assert server.post("track", {"userId": "a", "event": "before", "messageId": "a1"}).json() == {
        "success": True
    }
    assert server.post("track", HOSTILE).status_code == 200
    batch = [
        {"type": "track", "userId": "b", "event": "in batch", "messageId": "b1"},
        {**HOSTILE, "type": "track", "messageId": "hostile-2"},
    ]
    assert server.post("batch", {"batch": batch}).status_code == 200
    assert (
        server.post("track", {"userId": "c", "event": "after", "messageId": "c1"}).status_code
        == 200
    )
    server.land()
    assert sorted(r["message_id"] for r in landed_events(server.ws)) == ["a1", "b1", "c1"]
    held = quarantined(server.ws)
    assert [r["reason"] for r in held] == ["bad_timestamp", "bad_timestamp"]
    assert {r["field"] for r in held} == {"sentAt"}


@settings(
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.sampled_from(FIELDS), json_values), min_size=1, max_size=6))
def test_arbitrary_values_over_http_never_stall_landing(
    server: Server, mutations: list[tuple[str, Any]]
) -> None:
    """Batches of good events, each beside one with an arbitrary JSON value in one field:
    a request is answered 200 (then each of its events is landed or quarantined) or 400
    (nothing kept); never 500; landing always completes; every good event lands once."""
    before_landed = len(landed_events(server.ws))
    before_held = len(quarantined(server.ws))
    sent = 0
    good: list[str] = []
    for n, (field, value) in enumerate(mutations):
        tag = f"{next(EXAMPLES)}-{n}"  # unique across examples (ids of objects are reused)
        ok = {"type": "track", "userId": f"g{n}", "event": "ok", "messageId": f"good-{tag}"}
        # The bad one is unique too: a mutated messageId ("0", say) reused by a later example
        # must conflict (quarantined), not be a retry of identical content (dropped as such).
        bad: dict[str, Any] = {"type": "track", "userId": f"u{tag}", "event": "e"}
        bad["messageId"] = f"bad-{tag}"
        bad[field] = value
        response = server.post("batch", {"batch": [ok, bad]})
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:
            assert response.json()["code"]
            response = server.post("track", ok)
            assert response.status_code == 200
            sent += 1
        else:
            sent += 2
        good.append(ok["messageId"])
    server.land()
    landed = landed_events(server.ws)
    held = quarantined(server.ws)
    ids = [r["message_id"] for r in landed]
    assert all(ids.count(g) == 1 for g in good)
    # Each accepted event is landed or quarantined (a bad event holding a batch may be an
    # envelope of several, so at least as many as were sent).
    assert len(landed) - before_landed + len(held) - before_held >= sent
    assert all(r["reason"] and r["detail"] for r in held)


BIG = 123456789012345678901234567890  # 97 bits: a float would keep 17 significant digits


def test_integers_beyond_64_bits_are_kept_exactly(server: Server) -> None:
    """Finding 6: integers past 64 bits (ids, amounts) land digit for digit, as a single
    call and in a batch, instead of silently becoming floats."""
    body = {
        "userId": BIG,
        "event": "Order Completed",
        "messageId": "big-1",
        "properties": {"order_id": BIG, "small": -9223372036854775809, "ok": 7},
    }
    assert server.post("track", body).status_code == 200
    item = {**body, "type": "track", "messageId": "big-2"}
    assert server.post("batch", {"batch": [item]}).status_code == 200
    server.land()
    rows = landed_events(server.ws)
    assert [r["message_id"] for r in rows] == ["big-1", "big-2"]
    for row in rows:
        assert row["user_id"] == str(BIG)
        properties = json.loads(row["properties"])
        assert properties == {"order_id": BIG, "small": -9223372036854775809, "ok": 7}


def test_non_finite_numbers_are_refused(server: Server) -> None:
    """A body with a number too large for a double (1e400) or a bare NaN/Infinity is
    invalid JSON: 400, nothing kept, also on the exact-integer path."""
    for text in (
        b'{"userId":"a","event":"e","properties":{"x":1e400}}',
        b'{"userId":"a","event":"e","properties":{"x":NaN,"id":123456789012345678901234567890}}',
        b'{"userId":"a","event":"e","properties":{"x":1e400,"id":123456789012345678901234567890}}',
    ):
        answer = server.client.post(
            "/v1/track",
            content=text,
            headers={"Content-Type": "application/json"},
            auth=(server.key, ""),
        )
        assert answer.status_code == 400, text
        assert answer.json()["code"] == "invalid_json"
