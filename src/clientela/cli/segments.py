"""Segments and the playbook: ``segments list|show|create|export`` and ``playbook show``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import WorkspaceOpt, _engine, _workspace, app
from clientela.cli.output import _emit_rows, _when, console, styled

segments_app = typer.Typer(
    help="Segments: saved definitions of contacts, their members and history.",
    no_args_is_help=True,
)
playbook_app = typer.Typer(help="The next-best-action playbook.", no_args_is_help=True)
app.add_typer(segments_app, name="segments")
app.add_typer(playbook_app, name="playbook")

FormatOpt = Annotated[str, typer.Option("--format", help="table or json.")]


def _check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    from clientela.errors import ConfigError

    if fmt not in allowed:
        raise ConfigError("--format", fmt, " or ".join(allowed))


def _parse_definition(text: str, where: str) -> Any:
    """A definition written as JSON (``{...}``) or TOML (``all = [...]``)."""
    from clientela.errors import ConfigError

    stripped = text.strip()
    try:
        if stripped.startswith("{"):
            return json.loads(stripped)
        return tomllib.loads(stripped)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(where, text[:80], f"a JSON object or TOML keys ({exc})") from None


@segments_app.command("list")
def list_segments(fmt: FormatOpt = "table", workspace: WorkspaceOpt = None) -> None:
    """Every segment in force with its source and member count as of the last run."""
    from clientela.activation import segment_reads

    _check_format(fmt, ("table", "json"))
    with _engine(workspace) as eng:
        rows = segment_reads.listing(eng)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"{len(rows)} segments")
    for col in ("segment", "source", "members", "description"):
        table.add_column(col, justify="right" if col == "members" else "left", overflow="fold")
    for r in rows:
        count = "not evaluated yet" if r["members"] is None else f"{r['members']:,}"
        table.add_row(r["segment"], r["source"], count, r["description"])
    console.print(table)


@segments_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The segment.")],
    recent: Annotated[int, typer.Option(help="How many recent changes to list.", min=0)] = 10,
    fmt: FormatOpt = "table",
    workspace: WorkspaceOpt = None,
) -> None:
    """A segment's definition, member count and its latest entered/left changes."""
    from clientela.activation import segment_reads

    _check_format(fmt, ("table", "json"))
    with _engine(workspace) as eng:
        row = segment_reads.one(eng, name)
        changes = eng.to_arrow(segment_reads.history(eng, name).limit(recent)).to_pylist()
    if fmt == "json":
        typer.echo(json.dumps({**row, "recent": changes}, indent=2, default=str))
        return
    count = "not evaluated yet" if row["members"] is None else f"{row['members']:,} members"
    console.print(styled("[bold]{}[/] ({}): {}", name, row["source"], count))
    if row["description"]:
        console.print(row["description"])
    console.print(json.dumps(row["definition"], indent=2))
    if changes:
        table = Table(title=f"latest {len(changes)} changes")
        for col in ("at", "change", "contact_id"):
            table.add_column(col, no_wrap=col == "contact_id")
        for c in changes:
            table.add_row(_when(c["at"]), c["change"], c["contact_id"])
        console.print(table)
    else:
        console.print("no membership changes yet")


@segments_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits and _.")],
    definition: Annotated[
        str | None,
        typer.Option(
            "--definition",
            help='The conditions as TOML (all = [{ field = "stage", equals = "fan" }]) or JSON.',
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read the definition from a .toml or .json file.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the segment is for.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Save a segment in the workspace (validated; evaluated from the next run on)."""
    from clientela.activation import segments
    from clientela.errors import ConfigError

    if (definition is None) == (file is None):
        raise ConfigError("--definition/--file", None, "exactly one of --definition or --file")
    if file is not None:
        try:
            text = file.read_text("utf-8")
        except OSError as exc:
            raise ConfigError("--file", str(file), f"a readable file ({exc})") from None
        raw = _parse_definition(text, "--file")
    else:
        raw = _parse_definition(definition or "", "--definition")
    if description is not None and isinstance(raw, dict):
        raw["description"] = description
    ws = _workspace(workspace)
    parsed = segments.parse(name, raw)
    segments.save(ws, name, parsed)
    console.print(
        styled("saved segment [bold]{}[/]; it is evaluated from the next run (clientela run)", name)
    )


@segments_app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="The segment.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, parquet or jsonl.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="The file to write.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the segment's members (contact_id, email, since) as of the last run."""
    from clientela.activation import segment_reads
    from clientela.errors import ConfigError

    _check_format(fmt, ("csv", "parquet", "jsonl"))
    if out is None and fmt == "parquet":
        raise ConfigError("--out", None, "a file path for --format parquet")
    with _engine(workspace) as eng:
        segment_reads.one(eng, name)
        rows = eng.to_arrow(segment_reads.members(eng, name))
    if fmt == "jsonl":
        lines = "".join(json.dumps(r, default=str) + "\n" for r in rows.to_pylist())
        if out is None:
            typer.echo(lines, nl=False)
        else:
            out.write_text(lines, encoding="utf-8")
            console.print(f"wrote {rows.num_rows:,} rows to {out}")
        return
    _emit_rows(rows, fmt, out, name)


@playbook_app.command("show")
def show_playbook(fmt: FormatOpt = "table", workspace: WorkspaceOpt = None) -> None:
    """The playbook rules in force, most urgent first."""
    _check_format(fmt, ("table", "json"))
    settings = _workspace(workspace).settings.playbook
    rules = [
        {
            "priority": r.priority,
            "action": r.action,
            "channel": r.channel,
            "purpose": r.purpose,
            "segment": r.segment,
            "conditions": r.definition(),
            "products": r.products,
            "reason": r.reason,
        }
        for r in settings.ordered()
    ]
    if fmt == "json":
        typer.echo(json.dumps({"preset": settings.preset, "rules": rules}, indent=2))
        return
    if not rules:
        console.print('the playbook is off ([playbook] preset = "none" and no rules)')
        return
    table = Table(title=f"playbook ({len(rules)} rules)")
    for col in ("priority", "action", "channel", "purpose", "when", "reason"):
        table.add_column(col, overflow="fold", justify="right" if col == "priority" else "left")
    for r in rules:
        when = json.dumps(r["conditions"]) if r["conditions"] else ""
        if r["segment"]:
            when = f"segment {r['segment']} " + when
        if r["products"]:
            when += f" (has {r['products']} products)"
        table.add_row(
            str(r["priority"]), r["action"], r["channel"], r["purpose"], when, r["reason"]
        )
    console.print(table)
