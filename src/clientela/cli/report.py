"""report: the self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from clientela.cli.common import EngineOpt, WorkspaceOpt, _date_flag, _workspace, app
from clientela.cli.output import console, err_console


@app.command("report")
def report_command(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    start: Annotated[
        str | None, typer.Option("--from", help="First day (local date), e.g. 2025-07-01.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day (local date, included).")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="day, week, month, quarter or year (default: config).")
    ] = None,
    engine: EngineOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """One self-contained HTML file with the lifecycle KPIs (opens offline, prints cleanly)."""
    from clientela import metrics, report
    from clientela.engine import connect

    query = metrics.Query(
        start=_date_flag(start, "--from"), end=_date_flag(end, "--to"), period=period
    )
    ws = _workspace(workspace)
    eng = connect(ws, engine, reader=True)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as progress:
            task = progress.add_task("computing", total=len(report.METRICS))

            def done(name: str) -> None:
                progress.update(task, advance=1, description=f"computed {name}")

            size = report.write(eng, ws.settings, out, query, on_metric=done)
    finally:
        eng.close()
    console.print(
        f"wrote {out} ({size / 1_048_576:.1f} MB, {size:,} bytes)", soft_wrap=True, highlight=False
    )
