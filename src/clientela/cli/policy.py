"""policy dnc add|remove|list: the workspace's do-not-contact list (``state/``).

An entry is an email, a user id or a contact id; it stops every action to that contact from
the next run on (``[policy] do_not_contact`` in ``clientela.toml`` is a second list).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from clientela.cli.common import WorkspaceOpt, _workspace, app
from clientela.cli.output import console, styled

policy_app = typer.Typer(help="The contact policy: the do-not-contact list.")
app.add_typer(policy_app, name="policy")
dnc_app = typer.Typer(help="The workspace's do-not-contact list (emails, user ids, contact ids).")
policy_app.add_typer(dnc_app, name="dnc")

Entry = Annotated[str, typer.Argument(help="An email, a user id or a contact id.")]


@dnc_app.command("add")
def dnc_add(
    entry: Entry,
    note: Annotated[str, typer.Option(help="Why (e.g. 'asked by phone, 2026-06-30').")] = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Never contact this person again, for any purpose (from the next run on)."""
    from clientela.activation.policy import add_do_not_contact

    if add_do_not_contact(_workspace(workspace), entry, note):
        console.print(
            styled(
                "added {!r} to the do-not-contact list (takes effect at the next run)",
                entry.strip(),
            )
        )
    else:
        console.print(styled("{!r} was already on the do-not-contact list", entry.strip()))


@dnc_app.command("remove")
def dnc_remove(entry: Entry, workspace: WorkspaceOpt = None) -> None:
    """Take an entry off the workspace's list (the settings' list is edited in the file)."""
    from clientela.activation.policy import remove_do_not_contact
    from clientela.errors import NotFoundError

    if not remove_do_not_contact(_workspace(workspace), entry):
        raise NotFoundError(f"{entry.strip()!r} is not on the workspace's do-not-contact list")
    console.print(styled("removed {!r} from the do-not-contact list", entry.strip()))


@dnc_app.command("list")
def dnc_list(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    workspace: WorkspaceOpt = None,
) -> None:
    """Both lists: the workspace's (with when and why) and the settings' ``[policy]``."""
    from clientela.activation.policy import do_not_contact
    from clientela.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError("--format", fmt, "table or json")
    ws = _workspace(workspace)
    entries = do_not_contact(ws)
    configured = ws.settings.policy.do_not_contact
    if fmt == "json":
        document = {
            "workspace": [e.__dict__ for e in entries],
            "settings": list(configured),
        }
        typer.echo(json.dumps(document, indent=2))
        return
    if not entries and not configured:
        console.print("the do-not-contact lists are empty")
        return
    table = Table(title="do-not-contact")
    for col in ("entry", "list", "added", "note"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(e.entry, "workspace", e.added_at, e.note)
    for entry in configured:
        table.add_row(entry, "clientela.toml", "", "")
    console.print(table)
