"""privacy forget|export|retention: forget a person, export a copy of their data, drop old
raw bytes (:mod:`clientela.privacy`, ``docs/privacy.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clientela.cli.common import WorkspaceOpt, _workspace, app
from clientela.cli.output import console, err_console, styled

privacy_app = typer.Typer(
    help="Forget a person (GDPR art. 17), export their data (art. 15), drop old raw bytes."
)
app.add_typer(privacy_app, name="privacy")

IdArg = Annotated[str, typer.Argument(help="A userId, anonymousId or email of the person.")]


@privacy_app.command("forget")
def privacy_forget(
    person: IdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Remove a person (every id and email resolved to them) from everything; on a running
    server use POST /api/privacy/forget."""
    from clientela.privacy import actor_of_cli, forget

    ws = _workspace(workspace)
    if not yes:
        typer.confirm(
            f"Forget {person!r} and every id resolved to them in {ws.root}? This cannot be undone",
            abort=True,
            err=True,
        )
    report = forget(ws, person, actor=actor_of_cli())
    console.print(
        styled(
            "forgot {} identities of {} contact(s): [bold]{:,}[/] rows removed, {} files "
            "rewritten, {} deleted; {} older version(s) rewritten",
            report.identities,
            report.contacts,
            report.total,
            report.files_rewritten,
            report.files_deleted,
            report.versions_rewritten,
        )
    )
    for place, count in sorted(report.removed.items()):
        console.print(styled("  {}: {:,}", place, count))
    if report.version:
        console.print(styled("published {} without them", report.version))
    console.print(styled("audit subject {}", report.subject))


@privacy_app.command("export")
def privacy_export(
    person: IdArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON file to write.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Write everything held about a person (ids, traits, events, scores...) as one JSON
    file."""
    from clientela.privacy import actor_of_cli, write_export

    summary = write_export(_workspace(workspace), person, out, actor=actor_of_cli())
    counts = summary["counts"]
    err_console.print(styled("wrote {} ({:,} records)", str(out), sum(counts.values())))
    for section, count in sorted(counts.items()):
        console.print(styled("  {}: {:,}", section, count))


@privacy_app.command("retention")
def privacy_retention(workspace: WorkspaceOpt = None) -> None:
    """Drop the raw text of events older than privacy.keep_raw_days (normalised columns
    stay)."""
    from clientela.privacy import actor_of_cli, apply_retention

    report = apply_retention(_workspace(workspace), actor=actor_of_cli())
    if report.keep_raw_days is None:
        console.print(
            styled("retention is off: set {} in clientela.toml", "[privacy] keep_raw_days")
        )
        return
    console.print(
        styled(
            "dropped the raw text of {:,} events received before {} ({} of {} segments rewritten)",
            report.rows,
            report.cutoff.isoformat() if report.cutoff else "",
            report.files_rewritten,
            report.files_checked,
        )
    )
