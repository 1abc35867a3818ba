"""A 200 means on disk: SIGKILL loses no acknowledged event, a restart lands what was left,
torn writes and repeated landings are harmless."""

from __future__ import annotations

import base64
import http.client
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from live_server import CLIENTELA, LiveServer

from clientela.api import create_app
from clientela.api.ingest import Ingestion, IngestOptions
from clientela.api.log import leftover_logs, log_dir
from clientela.errors import WorkspaceError
from clientela.keys import create_key
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import landed_events, quarantined


class Sender(threading.Thread):
    """Posts batches of 50 events on one keep-alive connection until it fails; remembers the
    messageIds of every batch answered 200."""

    def __init__(self, port: int, key: str, tag: str) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        self.tag = tag
        self.acked: list[str] = []
        self.sent: list[str] = []

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        n = 0
        while True:
            ids = [f"{self.tag}-{n}-{i}" for i in range(50)]
            n += 1
            body = orjson.dumps(
                {
                    "batch": [
                        {"type": "track", "event": "E", "userId": m, "messageId": m} for m in ids
                    ]
                }
            )
            self.sent.extend(ids)
            try:
                conn.request("POST", "/v1/batch", body, {"Authorization": self.auth})
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                return
            if response.status != 200:
                return
            self.acked.extend(ids)


def test_sigkill_during_a_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """Four clients stream batches; the server is SIGKILLed mid-stream (while compactions
    run too); after a restart every acknowledged event is landed, and none twice."""
    ws = make_workspace(tmp_path / "ws")
    _, key = create_key(ws, "write")
    server = LiveServer(ws.root, compact_seconds=0.2)
    senders = [Sender(server.port, key, f"s{i}") for i in range(4)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(len(s.acked) for s in senders) >= 4000 and ws.segments(ws.events_dir):
            break
        time.sleep(0.05)
    server.kill()
    for sender in senders:
        sender.join(15)
    acked = {m for s in senders for m in s.acked}
    assert len(acked) >= 4000
    assert leftover_logs(log_dir(ws)), "the kill left nothing to land: not a useful test"

    LiveServer(ws.root).stop()  # the restart lands the leftovers; the stop waits for it
    rows = landed_events(ws)
    landed = [r["message_id"] for r in rows]
    assert len(landed) == len(set(landed)), "an event landed twice"
    assert acked <= set(landed), f"{len(acked - set(landed))} acknowledged events lost"
    assert set(landed) <= {m for s in senders for m in s.sent}
    assert leftover_logs(log_dir(ws)) == []
    assert not quarantined(ws)


def _log_line(i: int) -> bytes:
    msg = {"type": "track", "userId": f"u{i}", "event": "E", "messageId": f"m{i}"}
    return orjson.dumps({**msg, "receivedAt": "2025-01-01T00:00:00.000Z"}) + b"\n"


def _start(ws: Workspace) -> tuple[TestClient, Ingestion]:
    app = create_app(ws)
    app.state.ingest_options = IngestOptions(rotate_seconds=3600)
    client = TestClient(app)
    client.__enter__()
    return client, app.state.ingestion


def test_a_torn_last_line_is_dropped_and_counted(tmp_path: Path) -> None:
    """A log file left with a half-written last line (never acknowledged): its whole lines
    land at the next start; the torn tail is dropped and counted, not quarantined."""
    ws = make_workspace(tmp_path / "ws")
    folder = log_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    whole = b"".join(_log_line(i) for i in range(3))
    (folder / "http-20250101T000000000000-dead0001.jsonl").write_bytes(whole + _log_line(3)[:25])
    client, ingestion = _start(ws)
    try:
        assert ingestion.land_now(60)
        assert ingestion.compactor.stats.torn_lines == 1
    finally:
        client.__exit__(None, None, None)
    assert [r["message_id"] for r in landed_events(ws)] == ["m0", "m1", "m2"]
    assert not quarantined(ws) and leftover_logs(folder) == []


def test_landing_a_log_file_again_adds_nothing(tmp_path: Path) -> None:
    """A crash between landing a log file and deleting it lands it again at the next start:
    dedupe on messageId makes that a no-op."""
    ws = make_workspace(tmp_path / "ws")
    folder = log_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    data = b"".join(_log_line(i) for i in range(20))
    name = "http-20250101T000000000000-dead0002.jsonl"
    for _ in range(2):
        (folder / name).write_bytes(data)
        client, ingestion = _start(ws)
        try:
            assert ingestion.land_now(60)
            stats = ingestion.compactor.stats
        finally:
            client.__exit__(None, None, None)
    assert (stats.accepted, stats.duplicates) == (0, 20)
    assert len(landed_events(ws)) == 20


def test_one_server_per_workspace(tmp_path: Path) -> None:
    """One log per workspace: a second ingestion is refused with a clear error; a second app
    answers /v1 with 503 (its reads still work); the command line refuses to start."""
    ws = make_workspace(tmp_path / "ws")
    _, key = create_key(ws, "write")
    first = Ingestion(ws, IngestOptions())
    first.start()
    try:
        with pytest.raises(WorkspaceError, match="already serving"):
            Ingestion(ws, IngestOptions()).start()
        with TestClient(create_app(ws)) as second:
            response = second.post("/v1/track", json={"userId": "u"}, auth=(key, ""))
            assert response.status_code == 503
            assert response.json()["code"] == "ingestion_unavailable"
            assert "already serving" in response.json()["message"]
        done = subprocess.run(
            [CLIENTELA, "serve", "-w", str(ws.root), "--port", "1"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1 and "already serving" in done.stderr
    finally:
        first.stop()
    second = Ingestion(ws, IngestOptions())
    second.start()
    second.stop()


def test_graceful_stop_flushes_and_lands_what_was_accepted(tmp_path: Path) -> None:
    """Stopping the app (SIGTERM, Ctrl-C) lands everything accepted and leaves no log."""
    ws = make_workspace(tmp_path / "ws")
    _, key = create_key(ws, "write")
    client, _ingestion = _start(ws)
    try:
        for i in range(5):
            body: Any = {"userId": f"u{i}", "event": "E", "messageId": f"m{i}"}
            assert client.post("/v1/track", json=body, auth=(key, "")).status_code == 200
    finally:
        client.__exit__(None, None, None)
    assert len(landed_events(ws)) == 5
    assert leftover_logs(log_dir(ws)) == []
