"""quarantine list|show|retry: inspect and re-process rejected records."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import WorkspaceOpt, _workspace, app
from clientela.cli.output import _when, console, styled

quarantine_app = typer.Typer(help="Inspect and re-process rejected records.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    source: Annotated[str | None, typer.Option(help="Only sources containing this text.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    workspace: WorkspaceOpt = None,
) -> None:
    """Open quarantined records: counts by reason, then the records themselves."""
    from clientela.ingest.quarantine import QuarantineFilter, page, summary
    from clientela.schema import quarantine_meaning

    ws = _workspace(workspace)
    counts = summary(ws)
    if not counts:
        console.print("quarantine is empty: nothing was rejected (or everything was re-processed)")
        return
    table = Table(title="open quarantined records")
    table.add_column("kind")
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_column("meaning")
    for kind, why, count in counts:
        table.add_row(kind, why, f"{count:,}", quarantine_meaning(kind, why))
    console.print(table)
    flt = QuarantineFilter(reason=reason, source=source)
    matching = sum(n for _, _, n in summary(ws, flt)) if reason or source else None
    total = sum(n for _, _, n in counts) if matching is None else matching
    detail = Table()
    for col in ("id", "where", "reason", "detail"):
        detail.add_column(col, overflow="fold")
    for row in page(ws, flt, limit).to_pylist():
        detail.add_row(row["quarantine_id"][:10], _where(row), row["reason"], row["detail"])
    console.print(detail)
    if total > limit:
        console.print(f"… {total - limit:,} more (use --limit, --reason, --source)")


def _where(row: dict[str, Any]) -> str:
    item = f" item {row['item']}" if row.get("item") is not None else ""
    return f"{row['source']}:{row['line']}{item}"


SHOW_CHARS = 4_000  # raw text shown by `quarantine show` without --full


@quarantine_app.command("show")
def quarantine_show(
    quarantine_id: Annotated[str, typer.Argument(help="Record id (a unique prefix is enough).")],
    full: Annotated[
        bool,
        typer.Option(
            "--full", help=f"Print all of the raw text (else its first {SHOW_CHARS:,} characters)."
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """One quarantined record: where it came from, why it was rejected, and its raw text."""
    from clientela.ingest.quarantine import get
    from clientela.schema import quarantine_meaning

    row = get(_workspace(workspace), quarantine_id)
    console.print(styled("[bold]id[/]      {}", row["quarantine_id"]))
    console.print(styled("[bold]kind[/]    {}", row["kind"]))
    console.print(styled("[bold]where[/]   {}", _where(row)))
    console.print(styled("[bold]reason[/]  {} (field: {})", row["reason"], row.get("field") or "-"))
    meaning = quarantine_meaning(row["kind"], row["reason"])
    if meaning:
        console.print(styled("[bold]meaning[/] {}", meaning))
    console.print(styled("[bold]detail[/]  {}", row["detail"]))
    console.print(styled("[bold]when[/]    {}", _when(row["quarantined_at"])))
    raw = bytes(row["raw"] or b"")
    text = raw.decode("utf-8", errors="backslashreplace")
    console.print(styled("[bold]raw[/]"))
    if full or len(text) <= SHOW_CHARS:
        console.print(text, markup=False, highlight=False, soft_wrap=True)
        return
    console.print(text[:SHOW_CHARS], markup=False, highlight=False, soft_wrap=True)
    console.print(
        styled(
            "[dim]… first {:,} of {:,} characters ({:,} bytes); --full prints all of it[/]",
            SHOW_CHARS,
            len(text),
            len(raw),
        )
    )


@quarantine_app.command("retry")
def quarantine_retry(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    source: Annotated[str | None, typer.Option(help="Only sources containing this text.")] = None,
    quarantine_id: Annotated[str | None, typer.Option("--id", help="Only this record.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Re-process open records (after fixing config): the ones that now pass are landed.

    CRM rows (missing_id, bad_date) are imported again with the current [import.*]
    settings; rows with a field too many, or superseded by a newer row of the same id, need
    the file fixed and imported again.
    """
    from clientela.ingest.quarantine import QuarantineFilter, retry

    report = retry(
        _workspace(workspace),
        QuarantineFilter(reason=reason, source=source, quarantine_id=quarantine_id),
        crm=True,
    )
    landing = report.landing
    console.print(
        styled(
            "retried {:,}: landed [bold green]{:,}[/], already landed {:,}, "
            "still rejected [bold]{:,}[/]",
            report.retried,
            landing.accepted,
            landing.duplicates,
            landing.quarantined,
        )
    )
    for kind, outcome in report.crm.items():
        if not outcome.retried:
            continue
        console.print(
            styled(
                "{} rows retried {:,}: landed [bold green]{:,}[/], still rejected [bold]{:,}[/]{}",
                kind,
                outcome.retried,
                outcome.landed,
                outcome.still_rejected,
                " (" + ", ".join(f"{k}: {v:,}" for k, v in sorted(outcome.reasons.items())) + ")"
                if outcome.reasons
                else "",
            )
        )
    for kind, count in report.skipped_kinds.items():
        outcome = report.crm.get(kind)
        why = (
            ", ".join(f"{k}: {v:,}" for k, v in sorted(outcome.not_retried.items()))
            if outcome
            else ""
        )
        console.print(
            styled(
                "{:,} {} rows not retried ({}): fix the file and import it again",
                count,
                kind,
                why,
            )
        )
