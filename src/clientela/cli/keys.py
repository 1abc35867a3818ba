"""keys create|list|revoke: the API keys of the server."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from clientela.cli.common import WorkspaceOpt, _workspace, app
from clientela.cli.output import console, err_console, styled

keys_app = typer.Typer(
    help="API keys of the server: write keys ingest, read keys read, admin keys do the rest."
)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="write (ingestion), read (read API) or admin (runs, quarantine, keys, privacy).",
        ),
    ],
    name: Annotated[str | None, typer.Option(help="A name to find the key by.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a key and print it once (only its hash is stored; it cannot be shown again)."""
    from clientela.keys import create_key

    info, key = create_key(_workspace(workspace), kind, name)
    err_console.print(
        styled(
            "created {} key [bold]{}[/] (id {}); store it now, it is not shown again:",
            info.kind,
            info.name,
            info.id,
        )
    )
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    revoked: Annotated[bool, typer.Option(help="Also list revoked keys.")] = True,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    workspace: WorkspaceOpt = None,
) -> None:
    """Every key: id, name, kind, visible prefix, created and revoked times (never secrets)."""
    from clientela.errors import ConfigError
    from clientela.keys import key_rows, list_keys

    if fmt not in ("table", "json"):
        raise ConfigError("--format", fmt, "table or json")
    rows = key_rows(list_keys(_workspace(workspace), include_revoked=revoked))
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"API keys ({len(rows)})")
    for col in ("id", "name", "kind", "created", "revoked"):
        table.add_column(col, no_wrap=col == "id", overflow="fold")
    for r in rows:
        table.add_row(r["id"], r["name"], r["kind"], r["created_at"], r["revoked_at"] or "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id or name.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Revoke a key: a running server refuses it from its next request on."""
    from clientela.keys import revoke_key

    info = revoke_key(_workspace(workspace), key)
    console.print(f"revoked {info.kind} key {info.name} (id {info.id}) at {info.revoked_at}")
