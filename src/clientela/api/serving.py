"""Serving an app with uvicorn so that stopping never hangs.

Uvicorn stops on SIGTERM or Ctrl-C by waiting for the requests in flight, with no limit by
default, and a read can keep DuckDB busy for long. :func:`run_server` makes the signal
cancel every running read at once (:meth:`~clientela.api.readers.ReaderPool.stop`: they are
answered ``503 shutting_down``) and bounds the wait for any other request by ``[server]
shutdown_seconds``; the app's own shutdown (landing what ingestion accepted) then runs.
It also passes :func:`clientela.api.errors.server_options`, so the server's own errors are
JSON too: ``clientela serve`` needs no other call.
"""

from __future__ import annotations

import math
import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI

from clientela.api.errors import server_options


class StoppingServer(uvicorn.Server):
    """A uvicorn server that cancels the app's running reads when it is told to stop."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        stop_reads(self.app)


def stop_reads(app: FastAPI) -> None:
    """Cancel the running reads of ``app`` (its ``state.readers`` pool, if it has one).

    Runs in a thread of its own: a signal handler must not wait for the pool's lock."""
    readers = getattr(app.state, "readers", None)
    if readers is not None:
        threading.Thread(target=readers.stop, name="clientela-stop-reads", daemon=True).start()


def run_server(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8000,
    access_log: bool = False,
    log_level: str = "info",
) -> None:
    """Serve ``app`` (from :func:`clientela.api.create_app`) until SIGTERM or Ctrl-C."""
    settings = app.state.workspace.settings.server
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level=log_level,
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_seconds)),
        **server_options(),  # every answer JSON, the server's own 400 included
    )
    StoppingServer(config, app).run()
