"""Getting data in: init, ingest, import contacts|accounts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

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
    _print_tracking(ws)


def _print_tracking(ws: Any) -> None:
    """The tracking plan check in one line (``clientela check`` for all of it). What landed
    stays landed if the check itself fails: that is said, and the command still succeeds."""
    from clientela.check import tracking_summary

    try:
        line = tracking_summary(ws)
    except Exception as exc:  # the landing is done; a failing summary must not undo its exit code
        console.print(f"tracking plan check skipped ({type(exc).__name__}: {exc})")
        return
    if line:
        console.print(line)


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
    """The file's settings: ``[import.<kind>]`` with the flags given on top (checked alike)."""
    from pydantic import ValidationError

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
    try:
        return model.model_validate({**base.model_dump(), **updates})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "?"
        flag = _FLAGS.get(name, name.replace("_", "-"))
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"--{flag} (import.{kind}.{name})", updates.get(name), message) from None


_FLAGS = {"account_id": "account", "created_at": "created", "modified_at": "modified"}


_ROLE_NOTES = {"modified_at": "decides which of two rows with one id lands"}


def _print_plan(report: Any) -> None:
    """What the import maps to what, and what it will set aside: shown before it writes."""
    from rich.table import Table

    if report.delimiter is not None:
        console.print(
            styled(
                "reading [bold]{}[/]: encoding {}, delimiter {!r}",
                report.source,
                "utf-8" if report.encoding == "utf-8-sig" else report.encoding,
                "tab" if report.delimiter == "\t" else report.delimiter,
            )
        )
    table = Table(title="columns", title_justify="left")
    table.add_column("column", overflow="fold")
    table.add_column("becomes", overflow="fold")
    for role, column in report.columns.items():
        notes = [n for n in (report.dates.get(column), _ROLE_NOTES.get(role)) if n]
        table.add_row(column, role + (f" ({'; '.join(notes)})" if notes else ""))
    for column, trait in report.trait_columns.items():
        table.add_row(column, f"trait {trait}")
    console.print(table)
    if report.duplicate_ids:
        shown = ", ".join(f"{k!r}: {n} rows" for k, n in report.duplicates.items())
        more = report.duplicate_ids - len(report.duplicates)
        console.print(
            styled(
                "[bold yellow]duplicate ids[/]: {:,} ({}{}); {}",
                report.duplicate_ids,
                shown,
                f", … {more:,} more" if more > 0 else "",
                report.duplicate_rule,
            )
        )
    if report.rejected:
        rows = Table(title="rows set aside (quarantine)", title_justify="left")
        for col in ("line", "reason", "detail"):
            rows.add_column(col, overflow="fold")
        for r in report.rejected:
            rows.add_row(str(r.line), r.reason, r.detail)
        console.print(rows)
        if report.quarantined > len(report.rejected):
            console.print(f"… {report.quarantined - len(report.rejected):,} more")


def _print_import(report: Any, kind: str, plan_shown: bool = False) -> None:
    """The counts of an import (and, when :func:`_print_plan` did not run, its mapping)."""
    if report.dry_run:
        console.print(
            styled(
                "{}: dry run, nothing written: would accept [bold green]{:,}[/]  "
                "quarantine [bold]{:,}[/]  of {:,} rows",
                kind,
                report.accepted,
                report.quarantined,
                report.rows,
            )
        )
    else:
        console.print(
            styled(
                "{}: accepted [bold green]{:,}[/]  quarantined [bold]{:,}[/]  of {:,} rows",
                kind,
                report.accepted,
                report.quarantined,
                report.rows,
            )
        )
    if report.forgotten:
        console.print(f"dropped {report.forgotten:,} rows of forgotten people")
    if report.reasons and not report.dry_run:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(report.reasons.items()))
        console.print(styled("quarantine reasons: {}  (see: clientela quarantine list)", reasons))
    if not plan_shown:
        mapped = ", ".join(f"{k} ← {v!r}" for k, v in report.columns.items())
        console.print(styled("columns: {}", mapped))
        if report.traits:
            console.print(styled("traits: {}", ", ".join(report.traits)))


_DelimiterOpt = Annotated[
    str | None,
    typer.Option("--delimiter", help="Field delimiter: ',', ';', '|' or 'tab' (default: sniffed)."),
]
_EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding", help="Text encoding, e.g. utf-8, cp1252, latin-1 (default: sniffed)."
    ),
]
_DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="strftime format of the date columns, e.g. '%d/%m/%Y' (default: ISO or "
        "dd/mm/yyyy-style, day or month first decided by the values).",
    ),
]
_ModifiedOpt = Annotated[
    str | None,
    typer.Option(
        "--modified",
        help="Column with the last-modified date: of two rows with one id, the newest lands "
        "(default: a recognised column, else the last row).",
    ),
]
_DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Show the mapping, counts and rejected rows; write nothing."),
]


def _run_import(
    kind: Literal["contacts", "accounts"], file: Path, mapping: Any, ws: Any, dry_run: bool
) -> None:
    from clientela.ingest.crm import import_file

    report = import_file(ws, kind, file, mapping, dry_run=dry_run, on_plan=_print_plan)
    _print_import(report, kind, plan_shown=True)
    if not dry_run:
        _print_tracking(ws)


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
    modified: _ModifiedOpt = None,
    trait: Annotated[
        list[str] | None, typer.Option("--trait", help="COLUMN=trait_name (repeatable).")
    ] = None,
    delimiter: _DelimiterOpt = None,
    encoding: _EncodingOpt = None,
    date_format: _DateFormatOpt = None,
    dry_run: _DryRunOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Import CRM contacts. Unmapped columns become traits (snake_case, accents folded).

    Prints what it mapped to what before it writes. Rows it cannot read (a field too many, no
    id, a date that is no date, an id already on a newer row) go to quarantine with their line.
    """
    ws = _workspace(workspace)
    flags = {
        "id": id_column,
        "email": email,
        "account_id": account,
        "created_at": created,
        "modified_at": modified,
        "delimiter": delimiter,
        "encoding": encoding,
        "date_format": date_format,
    }
    mapping = _mapping_from_flags("contacts", ws, flags, trait or [])
    _run_import("contacts", file, mapping, ws, dry_run)


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
    modified: _ModifiedOpt = None,
    trait: Annotated[
        list[str] | None, typer.Option("--trait", help="COLUMN=trait_name (repeatable).")
    ] = None,
    delimiter: _DelimiterOpt = None,
    encoding: _EncodingOpt = None,
    date_format: _DateFormatOpt = None,
    dry_run: _DryRunOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Import CRM accounts (companies). Unmapped columns become traits (snake_case).

    Prints what it mapped to what before it writes; unreadable rows go to quarantine.
    """
    ws = _workspace(workspace)
    flags = {
        "id": id_column,
        "name": name,
        "domain": domain,
        "modified_at": modified,
        "delimiter": delimiter,
        "encoding": encoding,
        "date_format": date_format,
    }
    mapping = _mapping_from_flags("accounts", ws, flags, trait or [])
    _run_import("accounts", file, mapping, ws, dry_run)
