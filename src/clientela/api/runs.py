"""Runs of the main job started through the API (``/api/runs``).

Starting a run (``POST /api/runs``) needs an admin key: a run publishes a new version that
every reader then sees (with a read key, ``{"as_of": "1901-01-01T00:00:00Z"}`` published an
empty one for everybody). Following runs (``GET /api/runs``, ``GET /api/runs/{id}``) is a
read: a read or an admin key (:mod:`clientela.api.auth` states the rule), so a dashboard can
show what is being published.

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
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Security

from clientela.api.auth import admin_key, read_key
from clientela.api.errors import ApiError
from clientela.api.views import Error, RunList, RunRequest, RunStatus
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

    @property
    def active(self) -> str | None:
        """The id of the run that is working, if one is."""
        with self._lock:
            return self._active

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


# -- routes ---------------------------------------------------------------------------------------

_state_lock = threading.Lock()


def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


router = APIRouter(
    prefix="/api",
    tags=["runs"],
    responses={
        401: _error("No API key, or an unknown or revoked one."),
        422: _error("A parameter is not valid."),
    },
)


def _runs(request: Request) -> RunManager:
    state = request.app.state
    with _state_lock:
        runs: RunManager | None = getattr(state, "runs", None)
        if runs is None:
            runs = RunManager(state.workspace)
            state.runs = runs
    return runs


@router.post(
    "/runs",
    status_code=202,
    summary="Start the main job in the background (admin key)",
    dependencies=[Security(admin_key)],
    responses={
        403: _error("Not an admin key: only an admin key starts runs."),
        409: _error("A run is already working (code run_in_progress)."),
    },
)
def start_run(request: Request, body: Annotated[RunRequest | None, Body()] = None) -> RunStatus:
    """Start ``clientela run`` (identities, profiles, classes, scores, stages; publish all)
    in the background and answer its id at once; follow it at ``/api/runs/{id}``. Reads
    keep answering from the previous version until the new one is published whole. Needs an
    admin key: what a run publishes is what every reader sees."""
    as_of = body.as_of if body is not None else None
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    return _runs(request).start(as_of)


_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    403: _error("A write key: following runs needs a read or an admin key."),
}


@router.get(
    "/runs",
    summary="Runs started through this server, newest first",
    dependencies=[Security(read_key)],
    responses=_READ_ERRORS,
)
def list_runs(request: Request) -> RunList:
    """Runs started through this server (kept until it restarts); a read or an admin key."""
    return RunList(runs=_runs(request).recent())


@router.get(
    "/runs/{run_id}",
    summary="The status of a run",
    dependencies=[Security(read_key)],
    responses={**_READ_ERRORS, 404: _error("No such run (code not_found).")},
)
def get_run(
    request: Request, run_id: Annotated[str, Path(pattern=r"^[^\x00]*$", max_length=200)]
) -> RunStatus:
    """One run's status and progress; a read or an admin key."""
    return _runs(request).get(run_id)
