"""deliver, deliveries list: send the published actions and segment changes to the
destinations of ``clientela.toml``, and look at the delivery store."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import WorkspaceOpt, _workspace, app
from clientela.cli.output import _when, console, err_console, styled

deliveries_app = typer.Typer(help="The delivery store: what went to each destination.")
app.add_typer(deliveries_app, name="deliveries")

COUNTS = ("enqueued", "delivered", "retried", "dead", "pending")


def print_delivery(report: Any) -> None:
    """Per destination: enqueued, delivered, retried, dead and still pending; then notes,
    files written and the last errors."""
    title = f"delivery of {report.version}" + (" (dry run: nothing sent)" if report.dry_run else "")
    table = Table(title=title)
    table.add_column("destination", no_wrap=True)
    table.add_column("kind")
    replayed = any(d.replayed for d in report.destinations)
    for col in (*COUNTS, *(("replayed",) if replayed else ())):
        table.add_column(col, justify="right")
    for d in report.destinations:
        counts = [getattr(d, c) for c in COUNTS] + ([d.replayed] if replayed else [])
        table.add_row(d.name, d.kind, *[f"{n:,}" for n in counts])
    console.print(table)
    for note in report.notes:
        console.print(styled("[yellow]note:[/] {}", note))
    for d in report.destinations:
        for path in d.files:
            console.print(styled("{}: wrote {}", d.name, path), soft_wrap=True)
        for error in d.errors:
            err_console.print(styled("[yellow]{}:[/] {}", d.name, error))
        if d.dead:
            err_console.print(
                styled(
                    "[bold red]{}:[/] {} items are dead letters; see clientela deliveries list "
                    "--dead, then clientela deliver --replay-dead",
                    d.name,
                    d.dead,
                )
            )


def run_delivery(workspace: Any, **options: Any) -> Any:
    """Deliver the current published version (what ``deliver`` and ``run --deliver`` do)."""
    from clientela.activation.destinations import deliver_published

    return deliver_published(workspace, **options)


@app.command()
def deliver(
    destination: Annotated[
        str | None, typer.Option(help="Only this destination (default: every one).")
    ] = None,
    replay_dead: Annotated[
        bool, typer.Option("--replay-dead", help="Put dead letters back and send them again.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be enqueued; send nothing.")
    ] = False,
    max_wait: Annotated[
        float,
        typer.Option(
            help="Seconds to keep retrying failed items; what is still pending after that "
            "waits for the next deliver.",
            min=0,
        ),
    ] = 60.0,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    workspace: WorkspaceOpt = None,
) -> None:
    """Send the planned actions and segment changes of the published version to the
    destinations of clientela.toml (files, webhooks), at least once.

    Suppressed actions are never sent. Items already enqueued are not enqueued again, so
    running it twice on the same version sends nothing new.
    """
    from clientela.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError("--format", fmt, "table or json")
    report = run_delivery(
        _workspace(workspace),
        destination=destination,
        replay_dead=replay_dead,
        dry_run=dry_run,
        max_wait=max_wait,
    )
    if fmt == "json":
        typer.echo(json.dumps(asdict(report), indent=2))
        return
    print_delivery(report)


@deliveries_app.command("list")
def deliveries_list(
    dead: Annotated[bool, typer.Option("--dead", help="Only dead letters.")] = False,
    status: Annotated[
        str | None, typer.Option(help="Only items in this state: pending, delivered or dead.")
    ] = None,
    destination: Annotated[str | None, typer.Option(help="Only this destination.")] = None,
    limit: Annotated[int, typer.Option(help="How many items to list.", min=0)] = 50,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    workspace: WorkspaceOpt = None,
) -> None:
    """Items of the delivery store, oldest first: destination, item id, kind, state,
    attempts, next attempt, last error; and the counts per destination."""
    from clientela.activation.store import DB_FILE, STATUSES, DeliveryStore
    from clientela.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError("--format", fmt, "table or json")
    if status is not None and status not in STATUSES:
        raise ConfigError("--status", status, "pending, delivered or dead")
    if dead:
        if status not in (None, "dead"):
            raise ConfigError("--status", status, "no --status with --dead (it means dead)")
        status = "dead"
    ws = _workspace(workspace)
    items: list[Any] = []
    total, counts = 0, {}
    if (ws.state_dir / DB_FILE).exists():
        with DeliveryStore.open(ws) as store:
            items, total = store.items(destination, status, limit=limit)
            counts = store.counts()
    if fmt == "json":
        document = {"counts": counts, "total": total, "items": [asdict(i) for i in items]}
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    if not counts:
        console.print("nothing has been delivered yet (run clientela deliver)")
        return
    summary = Table(title="deliveries per destination")
    for col in ("destination", "pending", "delivered", "dead"):
        summary.add_column(col, justify="left" if col == "destination" else "right")
    for name, n in sorted(counts.items()):
        summary.add_row(name, f"{n['pending']:,}", f"{n['delivered']:,}", f"{n['dead']:,}")
    console.print(summary)
    table = Table(title=f"{len(items):,} of {total:,} items")
    for col in ("destination", "item", "kind", "state", "attempts", "next / delivered", "error"):
        table.add_column(col, overflow="fold", no_wrap=col == "item")
    for i in items:
        when = i.delivered_at if i.status == "delivered" else i.next_attempt_at
        table.add_row(
            i.destination,
            i.item_id,
            i.kind,
            i.status,
            str(i.attempts),
            _when(when) if i.status != "dead" else "",
            i.last_error or "",
        )
    console.print(table)
