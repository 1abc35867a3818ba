"""Engines for the read API: a small pool of private in-memory DuckDB connections.

A DuckDB connection must not be used by two threads at once, and FastAPI runs each request
in a worker thread, so a request checks an engine out of the pool for its whole duration
and gives it back afterwards; at most ``size`` requests query at once (the others wait).
Reader engines never take the job's file lock (:func:`clientela.engine.connect` with
``reader=True``): they read the published Parquet files, so reads go on while a run works.

Each checkout pins the published version, so one request reads one version throughout even
if a run swaps the pointer meanwhile.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from clientela.api.errors import ApiError
from clientela.engine import Engine, connect
from clientela.errors import ClientelaError, NotFoundError
from clientela.workspace import Workspace


@dataclass
class ReadEngine(Engine):
    """An engine that reads one pinned published version (see :meth:`pin`)."""

    pinned: str | None = None

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
    """At most ``size`` reader engines, reused between requests; safe to share."""

    def __init__(self, workspace: Workspace, size: int | None = None) -> None:
        self.workspace = workspace
        self.size = size or max(2, min(4, os.cpu_count() or 2))
        self._slots = threading.BoundedSemaphore(self.size)
        self._idle: list[ReadEngine] = []
        self._lock = threading.Lock()

    def _open(self) -> ReadEngine:
        # Published results are Parquet: DuckDB reads them whatever engine the job runs on.
        base = connect(self.workspace, "duckdb", reader=True)
        return ReadEngine(workspace=self.workspace, backend=base.backend, kind=base.kind)

    @contextmanager
    def engine(self) -> Iterator[ReadEngine]:
        """An engine pinned to the current version; errors become JSON answers:
        nothing published → 404 ``not_published``, a contact/account not found → 404
        ``not_found``, a query the engine refuses (bad option, dimension...) → 400."""
        with self._slots:
            with self._lock:
                eng = self._idle.pop() if self._idle else None
            if eng is None:
                eng = self._open()
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
            except ApiError:
                raise
            except NotFoundError as exc:
                raise ApiError(404, "not_found", str(exc)) from exc
            except ClientelaError as exc:
                raise ApiError(400, "invalid_query", str(exc)) from exc
            except BaseException:
                healthy = False
                raise
            finally:
                eng.pinned = None
                if healthy:
                    with self._lock:
                        self._idle.append(eng)
                else:
                    eng.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for eng in idle:
            eng.close()
