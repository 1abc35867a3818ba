"""What every command shares: the app and its error handling, option types, workspace and
engine helpers, and the parsing of flags (how data is shown is in ``output``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from clientela.cli.output import err_console, styled
from clientela.errors import ClientelaError

app = typer.Typer(
    name="clientela",
    help="Customer-lifecycle engine: land events, resolve identities, profile every contact.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state: dict[str, bool] = {"debug": False}

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $CLIENTELA_WORKSPACE or the current folder).",
        show_default=False,
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Replay this moment from the landed data: 2026-06-30 (the end of that day, UTC) "
        "or 2026-06-30T12:00:00Z. Default: now.",
        show_default=False,
    ),
]
EngineOpt = Annotated[
    str | None, typer.Option(help="duckdb or spark (default: from clientela.toml).")
]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


def main() -> None:
    """Entry point: run the app; expected errors become one clear line and exit code 1."""
    try:
        app(standalone_mode=False)
    except ClientelaError as exc:
        if _state["debug"]:
            raise
        err_console.print(styled("[bold red]error:[/] {}", exc), soft_wrap=True)
        sys.exit(1)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors and the unexpected alike
        # Usage errors are click's ClickException; recent Typer vendors click privately, so
        # they are recognised by what they can do rather than by importing click.
        show = getattr(exc, "show", None)
        code = getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        if _state["debug"]:
            raise
        err_console.print(
            styled(
                "[bold red]error:[/] {}: {} (run with --debug for details)", type(exc).__name__, exc
            ),
            soft_wrap=True,
        )
        sys.exit(1)


def _workspace(path: Path | None) -> Any:
    from clientela.workspace import open_workspace

    return open_workspace(path)


@contextmanager
def _engine(path: Path | None, kind: str | None = None) -> Iterator[Any]:
    from clientela.engine import connect

    engine = connect(_workspace(path), kind)
    try:
        yield engine
    finally:
        engine.close()


def _bytes_progress(label: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


def _first(engine: Any, expr: Any) -> dict[str, Any] | None:
    rows = engine.to_arrow(expr.limit(1)).to_pylist()
    return rows[0] if rows else None


def _parse_as_of(text: str | None) -> datetime | None:
    """'2026-06-30' → the last microsecond of that day, UTC; ISO times as given (UTC if naive)."""
    from clientela.errors import ConfigError

    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return day + timedelta(days=1) - timedelta(microseconds=1)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError("--as-of", text, "a date (2026-06-30) or an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _listed(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _pairs(items: list[str] | None, flag: str, lists: bool = False) -> dict[str, Any]:
    """``["a=1", "b=x,y"]`` → ``{"a": "1", "b": ("x", "y")}`` (tuples when ``lists``)."""
    from clientela.errors import ConfigError

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(flag, item, "NAME=VALUE")
        out[key.strip()] = tuple(_listed(value)) if lists else value.strip()
    return out


def _date_flag(text: str | None, flag: str) -> Any:
    from datetime import date

    from clientela.errors import ConfigError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(flag, text, "a date such as 2026-05-01") from None


NOTHING_LANDED = (
    "nothing has been landed in this workspace yet: land events with `clientela ingest FILE` "
    "(or CRM rows with `clientela import contacts FILE`), then `clientela run`"
)


def _nothing_landed(ws: Any) -> bool:
    """True when no events, contacts or accounts have been landed in the workspace."""
    return not any(ws.segments(d) for d in (ws.events_dir, ws.contacts_dir, ws.accounts_dir))


def _require_results(eng: Any) -> None:
    """Refuse to read results before the first run, naming the command to run next."""
    if eng.current_version() is not None:
        return
    if _nothing_landed(eng.workspace):
        raise ClientelaError(NOTHING_LANDED)
    raise ClientelaError("nothing is published yet in this workspace; run: clientela run")


def _hint_if_nothing_landed(ws: Any) -> None:
    """After an empty result: say (on stderr, away from data) when nothing was landed."""
    if _nothing_landed(ws):
        err_console.print(styled("[yellow]hint:[/] {}", NOTHING_LANDED), soft_wrap=True)
