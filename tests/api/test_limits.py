"""The read API's cost limits: a query beyond a limit is a 400 naming it, a read that runs
past its time budget is cancelled in the engine (504 query_timeout) and frees its slot,
and stopping the server (SIGTERM) cancels running reads instead of waiting for them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import World, build
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from live_server import free_port

from clientela.api import create_app
from clientela.api.readers import ReaderPool
from conftest import make_workspace
from helpers import run_job

# A query that runs for minutes unless it is cancelled: 10^10 rows of a cross join.
SLOW_SQL = "SELECT sum(a.range * b.range) AS s FROM range(100000) a CROSS JOIN range(100000) b"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build(Path(tmp_path_factory.mktemp("limits")) / "ws")


def slow_route(app: FastAPI) -> None:
    """A read of the app's pool that would run for minutes (tests only)."""

    @app.get("/test/slow")
    def slow(request: Request) -> dict[str, Any]:
        with request.app.state.readers.engine() as eng:
            rows = eng.to_arrow(eng.backend.sql(SLOW_SQL)).to_pylist()
        return {"rows": rows}

    @app.get("/test/quick")
    def quick(request: Request) -> dict[str, Any]:
        with request.app.state.readers.engine() as eng:
            rows = eng.to_arrow(eng.backend.sql("SELECT 42 AS x")).to_pylist()
        return {"rows": rows}


@pytest.fixture
def budget_client(world: World) -> Iterator[TestClient]:
    """An app whose pool has one slot and a 0.5 s budget."""
    app = create_app(world.ws)
    app.state.readers = ReaderPool(world.ws, size=1, query_seconds=0.5)
    slow_route(app)
    with TestClient(app) as client:
        client.headers.update(world.read)
        yield client
    app.state.readers.close()


def test_a_funnel_over_the_step_limit_is_a_400_naming_the_limit(world: World) -> None:
    with TestClient(create_app(world.ws)) as client:
        steps = ",".join(f"E{i}" for i in range(21))
        response = client.get(
            "/api/metrics/funnel", params={"options": f"steps={steps}"}, headers=world.read
        )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_query"
    assert "'steps': 21 steps is more than the limit of 20" in body["message"]


def test_the_period_limit_counts_calendar_periods(world: World) -> None:
    """1,000 months from 1930-01 end in 2013-04: up to 2013-04-30 is allowed; a day later
    touches the 1,001st month and is a 400 naming the limit (not an estimate in days)."""
    with TestClient(create_app(world.ws)) as client:
        ok = client.get(
            "/api/metrics/audience_growth",
            params={"from": "1930-01-01", "to": "2013-04-30", "period": "month"},
            headers=world.read,
        )
        over = client.get(
            "/api/metrics/audience_growth",
            params={"from": "1930-01-01", "to": "2013-05-01", "period": "month"},
            headers=world.read,
        )
    assert ok.status_code == 200, ok.text
    assert over.status_code == 400, over.text
    assert "more than 1,000 months" in over.json()["message"]


def test_a_read_past_its_budget_is_cancelled_and_frees_its_slot(
    budget_client: TestClient,
) -> None:
    """The cross join would run for minutes: it is interrupted in DuckDB at the budget,
    answered 504 query_timeout, and the pool's only slot serves the next read at once."""
    began = time.monotonic()
    response = budget_client.get("/test/slow")
    elapsed = time.monotonic() - began
    assert response.status_code == 504, response.text
    body = response.json()
    assert body["code"] == "query_timeout"
    assert "0.5 s" in body["message"] and "query_seconds" in body["message"]
    assert 0.4 < elapsed < 5, elapsed
    began = time.monotonic()
    again = budget_client.get("/test/quick")
    assert again.status_code == 200, again.text
    assert again.json() == {"rows": [{"x": 42}]}
    assert time.monotonic() - began < 2


def test_a_metric_past_its_budget_is_cancelled_too(world: World) -> None:
    """Through the real metrics route: a budget too small for any metric answers 504."""
    app = create_app(world.ws)
    app.state.readers = ReaderPool(world.ws, size=1, query_seconds=0.001)
    with TestClient(app) as client:
        response = client.get("/api/metrics/funnel", headers=world.read)
        assert response.status_code == 504, response.text
        assert response.json()["code"] == "query_timeout"
        app.state.readers.query_seconds = 60.0
        assert client.get("/api/metrics/funnel", headers=world.read).status_code == 200
    app.state.readers.close()


SERVER = f"""
import sys
from fastapi import Request
from clientela.api import create_app
from clientela.api.readers import ReaderPool
from clientela.api.serving import run_server
from clientela.workspace import open_workspace

ws = open_workspace(sys.argv[1])
app = create_app(ws)
app.state.readers = ReaderPool(ws)

@app.get("/test/slow")
def slow(request: Request) -> dict:
    with request.app.state.readers.engine() as eng:
        return {{"rows": eng.to_arrow(eng.backend.sql({SLOW_SQL!r})).to_pylist()}}

run_server(app, host="127.0.0.1", port=int(sys.argv[2]))
"""


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(log.read_text())


def test_sigterm_cancels_a_running_read_and_the_server_stops_within_seconds(
    tmp_path: Path,
) -> None:
    """Before: a long read held its slot and SIGTERM waited for it (150-step funnel: > 10
    minutes). Now the read is interrupted (503 shutting_down) and the server exits at once,
    although the query budget (300 s here) is far away."""
    ws = make_workspace(tmp_path / "ws", "[server]\nquery_seconds = 300\n")
    run_job(ws)
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(ws.root), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        _wait_listening(port, process, log)
        answer: dict[str, Any] = {}

        def read() -> None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/test/slow", timeout=120):
                    answer["status"] = 200
            except urllib.error.HTTPError as exc:
                answer["status"] = exc.code
                try:
                    answer["body"] = json.loads(exc.read())
                except Exception as inner:
                    answer["error"] = repr(inner)
            except Exception as exc:
                answer["error"] = repr(exc)

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(1.5)  # the cross join is running
        assert process.poll() is None
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        stopped = time.monotonic() - began
        reader.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code in (0, -signal.SIGTERM), log.read_text()
    assert stopped < 5, (stopped, log.read_text())
    assert answer.get("status") == 503, (answer, log.read_text())
    assert answer["body"]["code"] == "shutting_down"
