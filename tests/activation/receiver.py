"""A real webhook receiver on 127.0.0.1 for the delivery tests: an ``http.server`` in a
thread that records every request and answers as a plan says (ok, fail with 500, answer too
late, refuse with 400, or run a callback first: the crash test kills the sender there)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Arrival:
    """One request as received."""

    key: str
    body: bytes
    signature: str
    answered: int
    """The status the receiver answered (0: it answered too late to count)."""


Plan = Callable[[str, int], Any]
"""(idempotency key, how many times this key arrived, this one included) → "ok", "fail",
"slow", "refuse", or a callable to run before answering 200."""


@dataclass
class Receiver:
    url: str
    plan: Plan
    slow_seconds: float = 1.0
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keys(self) -> list[str]:
        with self.lock:
            return [a.key for a in self.arrivals]


@contextmanager
def receiving(plan: Plan, slow_seconds: float = 1.0) -> Iterator[Receiver]:
    """Run a receiver for the block; ``receiver.url`` is where to POST."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = state["r"]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            key = self.headers.get("Idempotency-Key", "")
            with receiver.lock:
                seen = 1 + sum(1 for a in receiver.arrivals if a.key == key)
            decision = receiver.plan(key, seen)
            status = {"ok": 200, "fail": 500, "refuse": 400, "slow": 0}.get(decision, 200)
            with receiver.lock:
                arrival = Arrival(key, body, self.headers.get("X-Clientela-Signature", ""), status)
                receiver.arrivals.append(arrival)
            if callable(decision):
                decision()
            if decision == "slow":
                time.sleep(receiver.slow_seconds)  # the sender has given up by then
                status = 200
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender hung up (timed out, or was killed)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", plan, slow_seconds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["r"]
    finally:
        server.shutdown()
        server.server_close()
