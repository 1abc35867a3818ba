"""Getting data in: init, ingest, import contacts|accounts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from clientela.cli.common import WorkspaceOpt, _bytes_progress, _workspace, app
from clientela.cli.output import console, styled

import_app = typer.Typer(help="Import CRM files (CSV or Parquet) with a column mapping.")
app.add_typer(import_app, name="import")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")] = Path(
        "."
    ),
    preset: Annotated[
        str | None,
        typer.Option(help="Write this scoring model (b2b or b2c) out in full, to edit."),
    ] = None,
) -> None:
    """Create a workspace: clientela.toml with commented defaults, and its folders."""
    from clientela.workspace import init_workspace

    ws = init_workspace(directory, preset=preset)
    console.print(styled("workspace ready at [bold]{}[/] (settings in clientela.toml)", ws.root))


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="JSON Lines files (plain or .gz) or folders.")
    ],
    workspace: WorkspaceOpt = None,
) -> None:
    """Land Segment-spec records (identify, track, page, screen, group, alias, batch)."""
    from clientela.ingest.files import ingest_files, total_bytes

    ws = _workspace(workspace)
    started = time.perf_counter()
    total = total_bytes(paths)
    with _bytes_progress("landing") as progress:
        task = progress.add_task("landing", total=total)
        report = ingest_files(ws, paths, on_bytes=lambda n: progress.advance(task, n))
    seconds = time.perf_counter() - started
    _print_landing(report, seconds)


def _print_landing(report: Any, seconds: float) -> None:
    rate = report.accepted / seconds if seconds > 0 else 0.0
    colour = "red" if report.quarantined else "green"
    console.print(
        styled(
            "accepted [bold green]{:,}[/]  duplicate [bold]{:,}[/]  "
            f"quarantined [bold {colour}]{{:,}}[/]"
            "  (blank lines skipped: {:,}; {:.1f} s, {:,.0f} events/s)",
            report.accepted,
            report.duplicates,
            report.quarantined,
            report.blank,
            seconds,
            rate,
        )
    )
    if report.forgotten:
        console.print(f"dropped {report.forgotten:,} records of forgotten people")
    if report.reasons:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(report.reasons.items()))
        console.print(f"quarantine reasons: {reasons}  (see: clientela quarantine list)")


def _mapping_from_flags(kind: str, ws: Any, flags: dict[str, str | None], traits: list[str]) -> Any:
    from clientela.config import AccountColumns, ContactColumns
    from clientela.errors import ConfigError

    base = ws.settings.import_.contacts if kind == "contacts" else ws.settings.import_.accounts
    updates: dict[str, Any] = {k: v for k, v in flags.items() if v}
    if traits:
        pairs = dict(base.traits)
        for item in traits:
            if "=" not in item:
                raise ConfigError("--trait", item, "COLUMN=trait_name")
            column, name = item.split("=", 1)
            pairs[column.strip()] = name.strip()
        updates["traits"] = pairs
    model = ContactColumns if kind == "contacts" else AccountColumns
    return model.model_validate({**base.model_dump(), **updates})


def _print_import(report: Any, kind: str) -> None:
    mapped = ", ".join(f"{k} ← {v!r}" for k, v in report.columns.items())
    console.print(
        styled(
            "{}: accepted [bold green]{:,}[/]  quarantined [bold]{:,}[/]  of {:,} rows",
            kind,
            report.accepted,
            report.quarantined,
            report.rows,
        )
    )
    console.print(f"columns: {mapped}")
    if report.traits:
        console.print(f"traits: {', '.join(report.traits)}")


@import_app.command("contacts")
def import_contacts(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of contacts.")],
    id_column: Annotated[
        str | None, typer.Option("--id", help="Column with the contact id.")
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="Column with the email.")] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Column with the account id.")
    ] = None,
    created: Annotated[
        str | None, typer.Option("--created", help="Column with the creation date.")
    ] = None,
    trait: Annotated[
        list[str] | None, typer.Option("--trait", help="COLUMN=trait_name (repeatable).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Import CRM contacts. Unmapped columns become traits (snake_case)."""
    from clientela.ingest.crm import import_file

    ws = _workspace(workspace)
    flags = {"id": id_column, "email": email, "account_id": account, "created_at": created}
    mapping = _mapping_from_flags("contacts", ws, flags, trait or [])
    _print_import(import_file(ws, "contacts", file, mapping), "contacts")


@import_app.command("accounts")
def import_accounts(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of accounts (companies).")],
    id_column: Annotated[
        str | None, typer.Option("--id", help="Column with the account id.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Column with the company name.")
    ] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", help="Column with the web domain.")
    ] = None,
    trait: Annotated[
        list[str] | None, typer.Option("--trait", help="COLUMN=trait_name (repeatable).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Import CRM accounts (companies). Unmapped columns become traits (snake_case)."""
    from clientela.ingest.crm import import_file

    ws = _workspace(workspace)
    flags = {"id": id_column, "name": name, "domain": domain}
    mapping = _mapping_from_flags("accounts", ws, flags, trait or [])
    _print_import(import_file(ws, "accounts", file, mapping), "accounts")
