"""Chaos: clients stream events with 1 % hostile ones into a live server that is SIGKILLed
twice and restarted; every acknowledged good event lands once, every hostile one is
quarantined, and reads answer 200 throughout (issue 10)."""

from __future__ import annotations

import base64
import http.client
import threading
import time
from pathlib import Path

import orjson
import pytest
from live_server import LiveServer

from clientela.keys import create_key
from conftest import make_workspace
from helpers import land, landed_events, quarantined, run_job
from journeys import Journeys

# One of each kind of hostile event that a write key can send and that gets a 200.
HOSTILE = [
    {"sentAt": "infinity", "timestamp": "2026-01-01T00:00:00Z"},
    {"timestamp": "10000-01-01T00:00:00Z"},
    {"timestamp": "2026-01-01T00:00:00+99:99"},
    {"userId": "nul\u0000id"},
    {"event": ""},
    {"originalTimestamp": "1970-01-02T00:00:00Z", "sentAt": "2099-12-31T00:00:00Z"},
]


class Sender(threading.Thread):
    """Posts batches of 100 (one hostile) until stopped; keeps going across restarts and
    remembers which messageIds were acknowledged."""

    def __init__(self, port: list[int], key: str, tag: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        self.tag = tag
        self.stop_event = stop
        self.acked_good: list[str] = []
        self.acked_hostile: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stop_event.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port[0], timeout=10)
            good = [f"{self.tag}-{n}-{i}" for i in range(99)]
            bad = f"{self.tag}-{n}-hostile"
            batch = [{"type": "track", "event": "E", "userId": m, "messageId": m} for m in good]
            batch.append(
                {
                    "type": "track",
                    "event": "E",
                    "userId": "h",
                    "messageId": bad,
                    **HOSTILE[n % len(HOSTILE)],
                }
            )
            n += 1
            try:
                conn.request(
                    "POST",
                    "/v1/batch",
                    orjson.dumps({"batch": batch}),
                    {"Authorization": self.auth},
                )
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)  # the server is down: try the next batch later
                continue
            finally:
                conn.close()
            if response.status == 200:
                self.acked_good.extend(good)
                self.acked_hostile.append(bad)
            else:
                time.sleep(0.1)


class Reader(threading.Thread):
    """Reads contacts and a metric while the server is up; records every status answered."""

    def __init__(self, port: list[int], key: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.headers = {"Authorization": f"Bearer {key}"}
        self.stop_event = stop
        self.statuses: list[tuple[str, int]] = []

    def run(self) -> None:
        urls = ["/api/contacts?limit=5", "/api/metrics/audience_growth", "/api/contacts/a"]
        n = 0
        while not self.stop_event.is_set():
            url = urls[n % len(urls)]
            n += 1
            conn = http.client.HTTPConnection("127.0.0.1", self.port[0], timeout=30)
            try:
                conn.request("GET", url, headers=self.headers)
                response = conn.getresponse()
                response.read()
                self.statuses.append((url, response.status))
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
            finally:
                conn.close()
            time.sleep(0.05)


@pytest.mark.slow
def test_hostile_stream_with_two_sigkills(tmp_path: Path) -> None:
    """Two clients, a reader, 1 % hostile events, two SIGKILLs and restarts."""
    ws = make_workspace(tmp_path / "ws")
    land(ws, Journeys().identify(user_id="a", traits={"email": "a@x.example"}))
    run_job(ws)  # something published, so reads have an answer from the start
    _, write = create_key(ws, "write")
    _, read = create_key(ws, "read")
    server = LiveServer(ws.root, compact_seconds=0.3)
    port = [server.port]
    stop = threading.Event()
    senders = [Sender(port, write, f"s{i}", stop) for i in range(2)]
    reader = Reader(port, read, stop)
    for thread in [*senders, reader]:
        thread.start()

    def acked() -> int:
        return sum(len(s.acked_good) for s in senders)

    for round_ in range(2):
        target = acked() + 3000
        deadline = time.monotonic() + 60
        while acked() < target and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        assert acked() >= target, f"round {round_}: only {acked()} acknowledged"
        server = LiveServer(ws.root, compact_seconds=0.3)
        port[0] = server.port
    time.sleep(1.0)
    stop.set()
    for thread in [*senders, reader]:
        thread.join(30)
    server.stop()  # a graceful stop lands everything

    landed = [r["message_id"] for r in landed_events(ws)]
    assert len(landed) == len(set(landed)), "an event landed twice"
    good = {m for s in senders for m in s.acked_good}
    assert good <= set(landed), f"{len(good - set(landed))} acknowledged good events lost"
    hostile = {m for s in senders for m in s.acked_hostile}
    held = {r["raw"] and orjson.loads(bytes(r["raw"]))["messageId"] for r in quarantined(ws)}
    assert hostile <= held, f"{len(hostile - held)} acknowledged hostile events not quarantined"
    assert not hostile & set(landed)
    assert reader.statuses, "the reader got no answer at all"
    assert {status for _, status in reader.statuses} == {200}, [
        s for s in reader.statuses if s[1] != 200
    ]
