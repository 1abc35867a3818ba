"""The demo world: demo-data, demo."""

from __future__ import annotations

import time
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

from clientela.cli.common import _first, app
from clientela.cli.contacts import contacts_list, explain
from clientela.cli.ingest import _print_import, _print_landing
from clientela.cli.metrics import metrics_command
from clientela.cli.output import _when, console, err_console
from clientela.cli.report import report_command
from clientela.cli.run import _print_score_summary


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Argument(help="Folder to write the demo world into.")],
    contacts: Annotated[int, typer.Option(help="How many people.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 7,
    shards: Annotated[int, typer.Option(help="Event files to split into.")] = 1,
    workers: Annotated[int, typer.Option(help="Processes generating shards at once.")] = 1,
    gzip: Annotated[bool, typer.Option("--gzip/--plain", help="Compress event files.")] = False,
) -> None:
    """Generate the demo world: Segment JSONL events plus CRM CSV files."""
    summary = _generate_demo(out, contacts, seed, shards, workers, gzip)
    console.print(
        f"wrote {summary.events:,} events for {summary.contacts:,} people and "
        f"{summary.accounts:,} accounts ({summary.bad_records} deliberately broken lines) to {out}"
    )


def _generate_demo(
    out: Path, contacts: int, seed: int, shards: int, workers: int, gzip: bool
) -> Any:
    from clientela.datasets.demo import DemoSpec, generate

    spec = DemoSpec(contacts=contacts, seed=seed, shards=shards, gzip=gzip)
    expected = contacts * 20
    with Progress(
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task("events", total=expected)
        kwargs: dict[str, Any] = {"progress": lambda n: progress.advance(task, n)}
        if workers > 1:
            kwargs["workers"] = workers
        summary = generate(out, spec, **kwargs)
        progress.update(task, total=summary.events, completed=summary.events)
    return summary


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo workspace.")] = Path(
        "demo"
    ),
    contacts: Annotated[int, typer.Option(help="How many people in the demo world.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Everything at once: generate the demo world, land it, import the CRM, run the job."""
    from clientela import pipeline
    from clientela.datasets.demo import DemoSpec, write_demo_settings
    from clientela.engine import connect
    from clientela.ingest.crm import import_file
    from clientela.ingest.files import ingest_files
    from clientela.scoring.grade import grade_rank
    from clientela.workspace import init_workspace, open_workspace

    root = directory.resolve()
    ws = init_workspace(root)
    write_demo_settings(root / "clientela.toml")
    ws = open_workspace(root)
    data = root / "input"
    console.rule("1. demo world")
    summary = _generate_demo(data, contacts, seed, 1, 1, False)
    console.print(
        f"{summary.events:,} events, {summary.contacts:,} people, {summary.accounts:,} accounts"
    )
    console.rule("2. land events")
    started = time.perf_counter()
    report = ingest_files(ws, [data / "events"])
    _print_landing(report, time.perf_counter() - started)
    console.rule("3. import CRM")
    _print_import(import_file(ws, "contacts", data / "crm" / "contacts.csv"), "contacts")
    _print_import(import_file(ws, "accounts", data / "crm" / "accounts.csv"), "accounts")
    # The demo world ends on a fixed date: score as of the morning after, not today.
    as_of = DemoSpec().as_of
    console.rule(f"4. score as of {_when(as_of)}")
    eng = connect(ws)
    try:
        result = pipeline.run(eng, ws, as_of=as_of)
        console.print(
            f"published {result.version} in {result.seconds:.1f} s: "
            + ", ".join(f"{name} {rows:,}" for name, rows in result.rows.items())
        )
        _print_score_summary(eng)
        view = eng.published("lifecycle")
        best = _first(
            eng,
            view.filter((view.stage == "prospect") & view.grade.notnull()).order_by(
                [grade_rank(view.grade), view.engagement.desc(), view.contact_id]
            ),
        )
    finally:
        eng.close()
    console.rule(f"5. top prospects: clientela contacts list --stage prospect -w {directory}")
    contacts_list(limit=8, stage="prospect", fmt="table", workspace=root)
    if best:
        console.rule(f"6. why: clientela explain {best['contact_id']} -w {directory}")
        explain(best["contact_id"], workspace=root)
    console.rule(
        f"7. the business: clientela metrics customer_retention --from 2026-01-01 -w {directory}"
    )
    metrics_command(
        "customer_retention",
        start="2026-01-01",
        end=None,
        period=None,
        by=None,
        where=None,
        option=None,
        who=None,
        fmt="table",
        out=None,
        engine=None,
        workspace=root,
    )
    console.rule(f"8. the report: clientela report --out {directory}/report.html -w {directory}")
    report_command(
        out=root / "report.html", start=None, end=None, period=None, engine=None, workspace=root
    )
    _print_predictions(root, directory)
    _print_activation(root, directory)
    console.print(
        f"\nnext: open {directory}/report.html   |   clientela metrics list -w {directory}   |   "
        f"clientela contacts show ID -w {directory}   |   "
        f"clientela contacts list --class student -w {directory}   |   "
        f"clientela quarantine list -w {directory}"
    )


def _print_predictions(root: Path, directory: Path) -> None:
    """The ten customers with the highest CLV, and the ten highest churn risks with their
    reasons (or why there are none yet)."""
    from clientela.cli.predict import print_churn_risks, print_top_clv, top_by
    from clientela.engine import connect
    from clientela.predict.published import missing_column
    from clientela.workspace import open_workspace

    ws = open_workspace(root)
    eng = connect(ws)
    try:
        best = top_by(eng, "clv", 10)
        risks = top_by(eng, "churn_risk", 10)
        why = None if risks else missing_column(eng, "churn_risk")
    finally:
        eng.close()
    console.rule(f"9. top customers by CLV: clientela predict --no-run -w {directory}")
    months = ws.settings.predict.horizon_months
    print_top_clv(best, f"top {len(best)} customers by CLV (next {months} months)")
    console.rule(
        f"10. highest churn risks: clientela contacts list --sort churn_risk -w {directory}"
    )
    print_churn_risks(risks, f"{len(risks)} highest churn risks", why)


def _print_activation(root: Path, directory: Path) -> None:
    """The day's actions (planned by action, suppressed by reason), the segments, the loyalty
    programme, and the delivery of the planned actions to the demo's file destination."""
    from clientela.activation import actions
    from clientela.activation.loyalty.published import summary as loyalty_summary
    from clientela.cli.actions import print_summary
    from clientela.cli.deliver import print_delivery, run_delivery
    from clientela.cli.loyalty import print_summary as print_loyalty
    from clientela.cli.segments import list_segments
    from clientela.engine import connect
    from clientela.workspace import open_workspace

    ws = open_workspace(root)
    eng = connect(ws)
    try:
        found = actions.summary(eng)
        programme = loyalty_summary(eng, list(ws.settings.loyalty.tiers))
    finally:
        eng.close()
    console.rule(f"11. actions of the day: clientela actions list -w {directory}")
    print_summary(found)
    console.rule(f"12. segments: clientela segments list -w {directory}")
    list_segments(fmt="table", workspace=root)
    console.rule(f"13. loyalty club: clientela loyalty summary -w {directory}")
    print_loyalty(programme)
    console.rule(f"14. delivery: clientela deliver -w {directory}")
    print_delivery(run_delivery(ws))
