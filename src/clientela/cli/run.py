"""The main job: run, score."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from clientela.cli.common import (
    AsOfOpt,
    EngineOpt,
    WorkspaceOpt,
    _engine,
    _hint_if_nothing_landed,
    _parse_as_of,
    _workspace,
    app,
)
from clientela.cli.output import _when, console, err_console, styled


def _run_job(workspace: Path | None, engine: str | None, as_of: datetime | None) -> Any:
    """Run and publish the main job with a progress bar; returns the run report."""
    from clientela import pipeline

    with (
        _engine(workspace, engine) as eng,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as progress,
    ):
        task = progress.add_task("computing", total=len(pipeline.TABLES))

        def done(name: str) -> None:
            progress.update(task, advance=1, description=f"published {name}")

        return pipeline.run(eng, eng.workspace, on_table=done, as_of=as_of)


@app.command()
def run(
    engine: EngineOpt = None,
    as_of: AsOfOpt = None,
    deliver: Annotated[
        bool,
        typer.Option(
            "--deliver", help="Then deliver the new version to the destinations (deliver)."
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """The main job: identities, profiles, audience classes, scores, stages; publish all."""
    report = _run_job(workspace, engine, _parse_as_of(as_of))
    table = Table(
        title=f"published {report.version} on {report.engine} in {report.seconds:.1f} s "
        f"(as of {_when(report.as_of)})"
    )
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    if not report.rows.get("contacts"):
        _hint_if_nothing_landed(_workspace(workspace))
    if deliver:
        from clientela.cli.deliver import print_delivery, run_delivery

        print_delivery(run_delivery(_workspace(workspace)))


@app.command()
def score(
    engine: EngineOpt = None,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Score every contact (the main job) and show grades, stages and audience classes."""
    report = _run_job(workspace, engine, _parse_as_of(as_of))
    console.print(
        f"published {report.version} on {report.engine} in {report.seconds:.1f} s, "
        f"as of {_when(report.as_of)}"
    )
    with _engine(workspace) as eng:
        _print_score_summary(eng)
        if not report.rows.get("contacts"):
            _hint_if_nothing_landed(eng.workspace)


def _print_score_summary(eng: Any) -> None:
    from ibis import _

    view = eng.published("lifecycle")
    grades = eng.to_arrow(
        view.filter(_.grade.notnull()).group_by("grade").aggregate(n=_.count())
    ).to_pylist()
    counts = {r["grade"]: r["n"] for r in grades}
    matrix = Table(title="grades (fit letter x engagement digit), scored contacts")
    matrix.add_column("fit \\ engagement")
    for digit in "1234":
        matrix.add_column(digit, justify="right")
    for letter in "ABCD":
        matrix.add_row(letter, *[f"{counts.get(letter + d, 0):,}" for d in "1234"])
    console.print(matrix)
    for column, title in (("stage", "stages"), ("audience_class", "audience classes")):
        rows = eng.to_arrow(
            view.group_by(column).aggregate(n=_.count()).order_by([_.n.desc(), column])
        ).to_pylist()
        listed = ", ".join(f"{r[column]} {r['n']:,}" for r in rows)
        console.print(styled("[bold]{}:[/] {}", title, listed))
