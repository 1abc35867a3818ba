"""actions list|show: the actions of the latest run, planned or suppressed with the reason.

:func:`print_summary` (planned by action, suppressed by reason) is what ``clientela demo``
prints too.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import WorkspaceOpt, _engine, _first, _require_results, app
from clientela.cli.output import _when, console, styled

actions_app = typer.Typer(help="The actions of the latest run and why some were suppressed.")
app.add_typer(actions_app, name="actions")


def print_summary(summary: Any, title: str = "actions of the day") -> None:
    """Planned actions by action and suppressed ones by reason, as two small tables."""
    if not summary.total:
        console.print(f"{title}: none (the playbook proposed nothing in this run)")
        return
    planned = Table(title=f"{title}: {sum(summary.planned.values()):,} planned")
    planned.add_column("action")
    planned.add_column("planned", justify="right")
    for action, n in summary.planned.items():
        planned.add_row(action, f"{n:,}")
    console.print(planned)
    if not summary.suppressed:
        console.print("none suppressed by the contact policy")
        return
    stopped = Table(title=f"{sum(summary.suppressed.values()):,} suppressed by the contact policy")
    stopped.add_column("reason")
    stopped.add_column("suppressed", justify="right")
    for reason, n in summary.suppressed.items():
        stopped.add_row(reason, f"{n:,}")
    console.print(stopped)


def _rows_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for col in ("contact", "action", "channel", "purpose", "priority", "status", "why"):
        table.add_column(col, overflow="fold")
    for r in rows:
        why = r["suppressed_reason"] if r["status"] == "suppressed" else r["reason"]
        table.add_row(
            r["contact_id"],
            r["action"],
            r["channel"],
            r["purpose"],
            str(r["priority"]),
            r["status"],
            why or "",
        )
    return table


def _check_format(fmt: str) -> None:
    from clientela.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError("--format", fmt, "table or json")


@actions_app.command("list")
def actions_list(
    suppressed: Annotated[
        bool, typer.Option("--suppressed", help="Only the suppressed actions.")
    ] = False,
    action: Annotated[str | None, typer.Option(help="Only this action (e.g. win_back).")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    workspace: WorkspaceOpt = None,
) -> None:
    """The summary (planned by action, suppressed by reason), then the actions themselves,
    most urgent first."""
    from clientela.activation import actions as published
    from clientela.errors import ConfigError

    _check_format(fmt)
    if limit < 0:
        raise ConfigError("--limit", limit, "0 or more")
    with _engine(workspace) as eng:
        _require_results(eng)
        info = _first(eng, eng.published("run_info")) or {}
        found = published.select(
            published.table(eng, "actions"),
            status="suppressed" if suppressed else None,
            action=action,
        )
        total = int(eng.to_arrow(found.count()).as_py())
        rows = eng.to_arrow(published.ordered(found).limit(limit)).to_pylist()
        summary = published.summary(eng)
    if fmt == "json":
        document = {
            "as_of": info.get("as_of"),
            "summary": {"planned": summary.planned, "suppressed": summary.suppressed},
            "total": total,
            "actions": rows,
        }
        typer.echo(json.dumps(document, default=str, indent=2))
        return
    console.print(styled("[bold]actions[/] as of {}", _when(info.get("as_of"))))
    print_summary(summary)
    if rows:
        console.print(_rows_table(rows, "suppressed actions" if suppressed else "actions"))
    if total > len(rows):
        console.print(f"… {total - len(rows):,} more (use --limit, --action, --suppressed)")


@actions_app.command("show")
def actions_show(
    contact: Annotated[str, typer.Argument(help="Contact id, userId, anonymousId or email.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    workspace: WorkspaceOpt = None,
) -> None:
    """A contact's action of the latest run (planned, or why not) and the consent in force
    per channel, with where it came from."""
    from clientela.activation import actions as published
    from clientela.cli.contacts import _find_contact

    _check_format(fmt)
    with _engine(workspace) as eng:
        _require_results(eng)
        cid = _find_contact(eng, contact)
        acts = published.select(published.table(eng, "actions"), contact_id=cid)
        rows = eng.to_arrow(published.ordered(acts)).to_pylist()
        consent = published.table(eng, "consent")
        grants = eng.to_arrow(
            consent.filter(consent.contact_id == cid).order_by("channel")
        ).to_pylist()
    if fmt == "json":
        document = {"contact_id": cid, "actions": rows, "consent": grants}
        typer.echo(json.dumps(document, default=str, indent=2))
        return
    console.print(styled("[bold]contact[/] {}", cid))
    if rows:
        console.print(_rows_table(rows, "action of the latest run"))
    else:
        console.print("no action for this contact in the latest run")
    if not grants:
        console.print("consent: no record (the [policy] defaults apply)")
        return
    table = Table(title="consent in force")
    for col in ("channel", "granted", "since", "source"):
        table.add_column(col)
    for g in grants:
        table.add_row(g["channel"], "yes" if g["granted"] else "no", _when(g["at"]), g["source"])
    console.print(table)
