"""Runs of the main job started through the API (``POST /api/runs``).

A run works in a background thread of the server with its own engine (the workspace's
configured engine, which on DuckDB holds the workspace file's lock while it runs). It
publishes like ``clientela run``: a new version folder, then an atomic swap of the pointer,
so reads keep answering from the previous version until the new one is whole. One run at a
time: starting another while one works is ``409 run_in_progress``.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime

from clientela.api.errors import ApiError
from clientela.api.views import RunStatus
from clientela.workspace import Workspace

KEEP = 100  # finished runs remembered (in memory; a restarted server forgets them)


class RunManager:
    """Starts runs one at a time and keeps their status; safe to share between threads."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, RunStatus] = OrderedDict()
        self._active: str | None = None
        self._threads: dict[str, threading.Thread] = {}

    def start(self, as_of: datetime | None = None) -> RunStatus:
        from clientela import pipeline
        from clientela.engine.core import CURRENT

        pointer = self.workspace.results_dir / CURRENT
        previous = pointer.read_text(encoding="utf-8").strip() if pointer.exists() else None
        with self._lock:
            if self._active is not None:
                raise ApiError(
                    409,
                    "run_in_progress",
                    f"run {self._active} is still working; wait for it "
                    f"(GET /api/runs/{self._active}) and try again",
                )
            run_id = "run-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-"
            run_id += uuid.uuid4().hex[:8]
            status = RunStatus(
                id=run_id,
                status="running",
                requested_at=datetime.now(UTC),
                as_of=as_of,
                previous_version=previous or None,
                tables=len(pipeline.TABLES),
            )
            self._runs[run_id] = status
            while len(self._runs) > KEEP:
                self._runs.popitem(last=False)
            self._active = run_id
            thread = threading.Thread(
                target=self._work, args=(run_id, as_of), name=f"clientela-{run_id}", daemon=True
            )
            self._threads[run_id] = thread
        thread.start()
        return status.model_copy()

    def _update(self, run_id: str, **changes: object) -> None:
        with self._lock:
            current = self._runs.get(run_id)
            if current is not None:
                self._runs[run_id] = current.model_copy(update=changes)

    def _work(self, run_id: str, as_of: datetime | None) -> None:
        from clientela import pipeline
        from clientela.engine import connect

        done = 0

        def on_table(_name: str) -> None:
            nonlocal done
            done += 1
            self._update(run_id, tables_done=done)

        try:
            engine = connect(self.workspace)
            try:
                report = pipeline.run(engine, self.workspace, on_table=on_table, as_of=as_of)
            finally:
                engine.close()
            self._update(
                run_id,
                status="succeeded",
                finished_at=datetime.now(UTC),
                as_of=report.as_of,
                version=report.version,
                rows=dict(report.rows),
                seconds=round(report.seconds, 3),
            )
        except BaseException as exc:  # a run's failure is its status, never the server's
            self._update(
                run_id,
                status="failed",
                finished_at=datetime.now(UTC),
                error=f"{type(exc).__name__}: {exc}",
            )
        finally:
            with self._lock:
                if self._active == run_id:
                    self._active = None
                self._threads.pop(run_id, None)

    def get(self, run_id: str) -> RunStatus:
        with self._lock:
            status = self._runs.get(run_id)
        if status is None:
            raise ApiError(404, "not_found", f"no run {run_id!r} (runs are kept until restart)")
        return status.model_copy()

    def recent(self) -> list[RunStatus]:
        """Runs, newest first."""
        with self._lock:
            return [s.model_copy() for s in reversed(self._runs.values())]

    def wait(self, run_id: str, timeout: float | None = None) -> RunStatus:
        """Block until the run finishes (or ``timeout`` seconds pass); its status."""
        with self._lock:
            thread = self._threads.get(run_id)
        if thread is not None:
            thread.join(timeout)
        return self.get(run_id)
