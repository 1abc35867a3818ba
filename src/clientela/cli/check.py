"""``clientela check``: the tracking plan check (:mod:`clientela.check`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from clientela.cli.common import EngineOpt, WorkspaceOpt, _workspace, app
from clientela.cli.output import console, styled
from clientela.errors import ConfigError


@app.command()
def check(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    engine: EngineOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Check the landed events against the settings: does every signal, stage rule event and
    metric field get data, which event names feed nothing, and the clientela.toml lines
    that map them."""
    from clientela.check import check as check_plan

    if fmt not in ("table", "json"):
        raise ConfigError("--format", fmt, "table or json")
    from clientela.engine import connect

    ws = _workspace(workspace)
    # A reader: the check reads landed Parquet only, so it runs while a job holds the file.
    eng = connect(ws, engine, reader=True)
    try:
        plan = check_plan(eng, ws)
    finally:
        eng.close()
    if fmt == "json":
        typer.echo(json.dumps(plan.to_json(), default=str, indent=2))
        return
    if plan.events == 0:
        console.print(
            "nothing has been landed yet: run `clientela ingest FILE` (or send events to "
            "the API), then check again"
        )
        return
    used = sum(1 for n in plan.names if n.used)
    console.print(
        styled(
            "[bold]{}[/] landed under {}; {} the settings, {} nothing",
            _count(plan.events, "event"),
            _count(len(plan.names), "name"),
            _count(used, "feeds", "feed"),
            _count(len(plan.unused), "feeds", "feed"),
        )
    )

    wanted = Table(title="what the settings read")
    for col in ("kind", "concept", "reads", "used by", "events"):
        wanted.add_column(col, overflow="fold", justify="right" if col == "events" else "left")
    for c in plan.concepts:
        count = f"{c.events:,}" if c.of is None else f"{c.events:,} of {c.of:,}"
        wanted.add_row(
            c.kind,
            c.name,
            c.wants,
            c.used_by,
            styled("[green]{}[/]" if c.has_data else "[yellow]{} (no data)[/]", count),
        )
    console.print(wanted)
    console.print(styled("[dim]playbook:[/] {}", plan.playbook))

    seen = Table(title="event names seen")
    for col in ("type", "name", "events", "feeds", "property keys"):
        seen.add_column(col, overflow="fold", justify="right" if col == "events" else "left")
    for n in plan.names:
        keys = ", ".join(f"{k} ({c:,})" for k, c in n.properties)
        feeds = "; ".join(n.feeds)
        seen.add_row(
            n.type,
            n.name,
            f"{n.events:,}",
            feeds if feeds else styled("[yellow]nothing[/] (generic activity only)"),
            keys,
        )
    console.print(seen)

    for n in plan.unused:
        if n.suggestions:
            best = n.suggestions[0]
            line = styled(
                "[yellow]{}[/] ({}) is not used; did you mean {}? map it with the {} lines below",
                n.name,
                _count(n.events, "event"),
                best.concept,
                ", ".join(f"[{t}]" for t in best.section.split(", ")),
            )
            console.print(line, soft_wrap=True)
            for other in n.suggestions[1:]:
                console.print(styled("    or {} ({})", other.concept, other.why), soft_wrap=True)
        else:
            console.print(
                styled(
                    "[yellow]{}[/] ({}) is not used and is like nothing the settings "
                    "read: add a signal for it under {} if it matters",
                    n.name,
                    _count(n.events, "event"),
                    "[models.NAME]",
                ),
                soft_wrap=True,
            )
    if plan.toml:
        console.print()
        console.print(
            styled(
                "[bold]clientela.toml[/]: replace each table marked 'replace' (with its "
                "sub-tables) by the text below, add the others:"
            )
        )
        for section in plan.toml:
            what = "replace" if section.replaces else "add"
            mapped = ", ".join(section.maps) or "kept as it is (a [models] table replaces all)"
            console.print(styled("[dim]# {} {}: maps {}[/]", what, f"[{section.table}]", mapped))
            console.print(section.text, soft_wrap=True)


def _count(n: int, one: str, many: str | None = None) -> str:
    """``1 event``, ``2 events``; ``1 feeds``, ``2 feed`` (verbs give ``many``)."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
