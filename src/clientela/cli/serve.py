"""serve: the HTTP server (ingestion and the read API)."""

from __future__ import annotations

from typing import Annotated

import typer

from clientela.cli.common import WorkspaceOpt, _workspace, app
from clientela.cli.output import console, styled


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default; 0.0.0.0 for all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workspace: WorkspaceOpt = None,
    compact_seconds: Annotated[
        float,
        typer.Option(help="Land accepted events into Parquet this often (seconds).", min=0.01),
    ] = 10.0,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve the workspace over HTTP: Segment-compatible ingestion (/v1/*) and the read API.

    A 200 means the events are on disk; they land every --compact-seconds and at stop.

    Ingestion needs a write key (clientela keys create --kind write), reads a read or admin key,
    runs, quarantine, keys and privacy an admin key.
    """
    from clientela.api import create_app
    from clientela.api.ingest import IngestOptions, tune_gc
    from clientela.api.log import LogLock, log_dir
    from clientela.api.serving import run_server

    ws = _workspace(workspace)
    probe = LogLock(log_dir(ws))  # a clear error now, rather than a failed startup
    probe.acquire()
    probe.release()
    server = create_app(ws)
    server.state.ingest_options = IngestOptions(rotate_seconds=compact_seconds)
    tune_gc()
    console.print(
        styled("serving [bold]{}[/] at http://{}:{}  (Ctrl-C stops)", ws.root, host, port)
    )
    run_server(server, host=host, port=port, access_log=access_log)
