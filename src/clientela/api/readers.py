"""Engines for the read API: a small pool of private in-memory DuckDB connections.

A DuckDB connection must not be used by two threads at once, and FastAPI runs each request
in a worker thread, so a request checks an engine out of the pool for its whole duration
and gives it back afterwards; at most ``size`` requests query at once (the others wait).
Reader engines never take the job's file lock (:func:`clientela.engine.connect` with
``reader=True``): they read the published Parquet files, so reads go on while a run works.

Each checkout pins the published version, so one request reads one version throughout even
if a run swaps the pointer meanwhile.

Each checkout also has a time budget (``[server] query_seconds``): a timer interrupts the
engine's running query when it is spent, further queries of the request are refused, and
the request is answered ``504 query_timeout``. 504 rather than 503: the server is up and
the request was valid, but its engine work did not finish in time (503 is kept for a server
that cannot take requests at all, as when it stops); narrowing the query helps, retrying
the same one on the same data does not. :meth:`ReaderPool.stop` (at SIGTERM, see
:mod:`clientela.api.serving`) interrupts every running read the same way (``503
shutting_down``) so the server can stop without waiting for them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import ibis.expr.types as ir
import pyarrow as pa

from clientela.api.errors import ApiError
from clientela.engine import Engine, connect
from clientela.errors import ClientelaError, NotFoundError
from clientela.workspace import Workspace

TIMEOUT = "timeout"
STOPPING = "stopping"


class ReadCancelled(ClientelaError):
    """The read's engine work was cancelled (budget spent, or the server is stopping)."""


@dataclass
class ReadEngine(Engine):
    """An engine that reads one pinned published version (see :meth:`pin`)."""

    pinned: str | None = None
    cancelled: str | None = None
    """Why the current checkout was cancelled (:data:`TIMEOUT`, :data:`STOPPING`), if it was."""
    checkout: int = 0
    """Counts checkouts, so a late timer or interrupter knows the request it was for."""

    def cancel(self, reason: str) -> None:
        """Stop this checkout's work: interrupt the running query and refuse the next ones."""
        if self.cancelled is None:
            self.cancelled = reason
        self.interrupt()

    def _check(self) -> None:
        if self.cancelled is not None:
            raise ReadCancelled(f"the read was cancelled ({self.cancelled})")

    def to_arrow(self, expr: ir.Expr) -> pa.Table:
        self._check()
        return super().to_arrow(expr)

    def cache(self, expr: ir.Table) -> ir.Table:
        self._check()
        return super().cache(expr)

    def published(self, name: str) -> ir.Table:
        self._check()
        return super().published(name)

    def current_version(self) -> str | None:
        if self.pinned is not None:
            return self.pinned
        return super().current_version()

    def pin(self) -> str | None:
        """Pin whatever version is current now; returns it (None before the first run)."""
        self.pinned = None
        self.pinned = Engine.current_version(self)
        return self.pinned


class ReaderPool:
    """At most ``size`` reader engines, reused between requests; safe to share.

    ``query_seconds`` is each checkout's time budget (default: ``[server] query_seconds``).
    """

    def __init__(
        self, workspace: Workspace, size: int | None = None, query_seconds: float | None = None
    ) -> None:
        self.workspace = workspace
        self.size = size or max(2, min(4, os.cpu_count() or 2))
        self.query_seconds = (
            query_seconds if query_seconds is not None else workspace.settings.server.query_seconds
        )
        self._slots = threading.BoundedSemaphore(self.size)
        self._idle: list[ReadEngine] = []
        self._busy: dict[int, ReadEngine] = {}  # by id(): engines are not hashable
        self._lock = threading.Lock()
        self._stopping = False

    def _open(self) -> ReadEngine:
        # Published results are Parquet: DuckDB reads them whatever engine the job runs on.
        base = connect(self.workspace, "duckdb", reader=True)
        return ReadEngine(workspace=self.workspace, backend=base.backend, kind=base.kind)

    def _refuse_when_stopping(self) -> None:
        if self._stopping:
            raise ApiError(
                503,
                "shutting_down",
                "the server is stopping; try again when it is back",
                headers={"Retry-After": "5"},
            )

    def _cancelled(self, eng: ReadEngine) -> ApiError:
        if eng.cancelled == STOPPING:
            return ApiError(
                503,
                "shutting_down",
                "the server is stopping, so this read was cancelled; try again when it is back",
                headers={"Retry-After": "5"},
            )
        return ApiError(
            504,
            "query_timeout",
            f"the query took longer than the {self.query_seconds:g} s a read may take "
            "([server] query_seconds) and was cancelled; ask for less (a shorter range, "
            "fewer funnel steps or breakdown values)",
        )

    @contextmanager
    def engine(self) -> Iterator[ReadEngine]:
        """An engine pinned to the current version; errors become JSON answers:
        nothing published → 404 ``not_published``, a contact/account not found → 404
        ``not_found``, a query the engine refuses (bad option, dimension, a cost limit)
        → 400, engine work past the budget → 504 ``query_timeout``, the server stopping →
        503 ``shutting_down``."""
        self._refuse_when_stopping()
        with self._slots:
            self._refuse_when_stopping()
            with self._lock:
                eng = self._idle.pop() if self._idle else None
            if eng is None:
                eng = self._open()
            eng.cancelled = None
            eng.checkout += 1
            timer = threading.Timer(self.query_seconds, self._expire, args=(eng, eng.checkout))
            timer.daemon = True
            with self._lock:
                self._busy[id(eng)] = eng
                if self._stopping:  # stop() came while this engine was being opened
                    eng.cancelled = STOPPING
            timer.start()
            healthy = True
            try:
                if eng.pin() is None:
                    raise ApiError(
                        404,
                        "not_published",
                        "nothing is published yet in this workspace; start a run with "
                        "POST /api/runs (or: clientela run)",
                    )
                yield eng
            except BaseException as exc:
                cancelled = eng.cancelled is not None and isinstance(exc, Exception)
                if cancelled and not isinstance(exc, ApiError):
                    # Whatever surfaced (DuckDB's "Interrupted!", our refusal of the next
                    # query), the cause is the cancellation.
                    raise self._cancelled(eng) from exc
                if isinstance(exc, ApiError):
                    raise
                if isinstance(exc, NotFoundError):
                    raise ApiError(404, "not_found", str(exc)) from exc
                if isinstance(exc, ClientelaError):
                    raise ApiError(400, "invalid_query", str(exc)) from exc
                healthy = False
                raise
            finally:
                timer.cancel()
                with self._lock:
                    self._busy.pop(id(eng), None)
                eng.pinned = None
                healthy = healthy and self._reusable(eng)
                if healthy and not self._stopping:
                    with self._lock:
                        self._idle.append(eng)
                else:
                    eng.close()

    def _checked_out(self, eng: ReadEngine, checkout: int) -> bool:
        """Whether ``eng`` is still out for checkout number ``checkout`` (hold the lock)."""
        return self._busy.get(id(eng)) is eng and eng.checkout == checkout

    def _expire(self, eng: ReadEngine, checkout: int) -> None:
        """The budget is spent: cancel the engine's work, if it is still out for the same
        request (a timer that fires late never cancels the engine's next request)."""
        with self._lock:
            if not self._checked_out(eng, checkout):
                return
            eng.cancel(TIMEOUT)
        self._keep_interrupting(eng, checkout)

    def _keep_interrupting(self, eng: ReadEngine, checkout: int) -> None:
        """Interrupt ``eng`` again every few milliseconds until its request gives it back.

        DuckDB drops an interrupt that comes while no query runs, e.g. while the next one
        is still being compiled; the engine refuses queries once cancelled, but one that
        passed that check just before must still be stopped."""
        while True:
            time.sleep(0.05)
            with self._lock:
                if not self._checked_out(eng, checkout):
                    return
                eng.interrupt()

    @staticmethod
    def _reusable(eng: ReadEngine) -> bool:
        """Drop the request's cached tables; after a cancellation, check the engine still
        answers (an interrupt that came between two queries is dropped by DuckDB, but an
        engine that does not answer is closed rather than handed to the next request)."""
        try:
            eng.drop_caches()
            if eng.cancelled is not None:
                eng.cancelled = None
                eng.backend.con.execute("SELECT 1").fetchall()
        except Exception:
            return False
        return True

    def stop(self) -> None:
        """The server is stopping: refuse new reads and cancel the running ones now."""
        with self._lock:
            self._stopping = True
            busy = [(eng, eng.checkout) for eng in self._busy.values()]
            for eng, _ in busy:
                eng.cancel(STOPPING)
        for eng, checkout in busy:
            threading.Thread(
                target=self._keep_interrupting,
                args=(eng, checkout),
                name="clientela-cancel",
                daemon=True,
            ).start()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for eng in idle:
            eng.close()
