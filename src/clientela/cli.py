"""The ``clientela`` command line (Typer + Rich)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from clientela.errors import ClientelaError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="clientela",
    help="Customer-lifecycle engine: land events, resolve identities, profile every contact.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(help="Import CRM files (CSV or Parquet) with a column mapping.")
quarantine_app = typer.Typer(help="Inspect and re-process rejected records.")
contacts_app = typer.Typer(help="Look at contacts (run 'clientela run' first).")
app.add_typer(import_app, name="import")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(contacts_app, name="contacts")

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
T = TypeVar("T")


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
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
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
            f"[bold red]error:[/] {type(exc).__name__}: {exc} (run with --debug for details)",
            highlight=False,
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
    console.print(f"workspace ready at [bold]{ws.root}[/] (settings in clientela.toml)")


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
    console.print(
        f"accepted [bold green]{report.accepted:,}[/]  duplicate [bold]{report.duplicates:,}[/]  "
        f"quarantined [bold {'red' if report.quarantined else 'green'}]{report.quarantined:,}[/]"
        f"  (blank lines skipped: {report.blank:,}; {seconds:.1f} s, {rate:,.0f} events/s)"
    )
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
        f"{kind}: accepted [bold green]{report.accepted:,}[/]  quarantined "
        f"[bold]{report.quarantined:,}[/]  of {report.rows:,} rows"
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


@quarantine_app.command("list")
def quarantine_list(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    source: Annotated[str | None, typer.Option(help="Only sources containing this text.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    workspace: WorkspaceOpt = None,
) -> None:
    """Open quarantined records: counts by reason, then the records themselves."""
    from clientela.ingest.quarantine import QuarantineFilter, open_records, summary
    from clientela.schema import QUARANTINE_REASONS

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
        table.add_row(kind, why, f"{count:,}", QUARANTINE_REASONS.get(why, ""))
    console.print(table)
    rows = open_records(ws, QuarantineFilter(reason=reason, source=source)).to_pylist()
    detail = Table()
    for col in ("id", "where", "reason", "detail"):
        detail.add_column(col, overflow="fold")
    for row in rows[:limit]:
        detail.add_row(row["quarantine_id"][:10], _where(row), row["reason"], row["detail"])
    console.print(detail)
    if len(rows) > limit:
        console.print(f"… {len(rows) - limit:,} more (use --limit, --reason, --source)")


def _when(value: Any) -> str:
    """A time as 'YYYY-MM-DD HH:MM:SS' (UTC), or '-' when unknown."""
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)


def _where(row: dict[str, Any]) -> str:
    item = f" item {row['item']}" if row.get("item") is not None else ""
    return f"{row['source']}:{row['line']}{item}"


@quarantine_app.command("show")
def quarantine_show(
    quarantine_id: Annotated[str, typer.Argument(help="Record id (a unique prefix is enough).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """One quarantined record: where it came from, why it was rejected, and its raw text."""
    from clientela.ingest.quarantine import get

    row = get(_workspace(workspace), quarantine_id)
    console.print(f"[bold]id[/]      {row['quarantine_id']}")
    console.print(f"[bold]kind[/]    {row['kind']}")
    console.print(f"[bold]where[/]   {_where(row)}")
    console.print(f"[bold]reason[/]  {row['reason']} (field: {row.get('field') or '-'})")
    console.print(f"[bold]detail[/]  {row['detail']}")
    console.print(f"[bold]when[/]    {_when(row['quarantined_at'])}")
    raw = bytes(row["raw"] or b"")
    text = raw.decode("utf-8", errors="backslashreplace")
    console.print("[bold]raw[/]", highlight=False)
    console.print(
        text if len(text) < 4000 else text[:4000] + f"… ({len(raw):,} bytes)",
        highlight=False,
        markup=False,
    )


@quarantine_app.command("retry")
def quarantine_retry(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    source: Annotated[str | None, typer.Option(help="Only sources containing this text.")] = None,
    quarantine_id: Annotated[str | None, typer.Option("--id", help="Only this record.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Re-process open records (after fixing config): the ones that now pass are landed."""
    from clientela.ingest.quarantine import QuarantineFilter, retry

    report = retry(
        _workspace(workspace),
        QuarantineFilter(reason=reason, source=source, quarantine_id=quarantine_id),
    )
    landing = report.landing
    console.print(
        f"retried {report.retried:,}: landed [bold green]{landing.accepted:,}[/], "
        f"already landed {landing.duplicates:,}, still rejected [bold]{landing.quarantined:,}[/]"
    )
    for kind, count in report.skipped_kinds.items():
        console.print(
            f"{count:,} {kind} rows not retried: fix the mapping and import the file again"
        )


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


def _run_job(workspace: Path | None, engine: str | None, as_of: datetime | None) -> Any:
    """Run and publish the main job with a progress bar; returns the run report."""
    from clientela import pipeline

    with (
        _engine(workspace, engine) as eng,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as progress,
    ):
        task = progress.add_task("computing", total=len(pipeline.TABLES))

        def done(name: str) -> None:
            progress.update(task, advance=1, description=f"published {name}")

        return pipeline.run(eng, eng.workspace, on_table=done, as_of=as_of)


@app.command()
def run(
    engine: EngineOpt = None,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """The main job: identities, profiles, audience classes, scores, stages; publish all."""
    report = _run_job(workspace, engine, _parse_as_of(as_of))
    table = Table(
        title=f"published {report.version} on {report.engine} in {report.seconds:.1f} s "
        f"(as of {_when(report.as_of)})"
    )
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)


@app.command()
def score(
    engine: EngineOpt = None,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Score every contact (the main job) and show grades, stages and audience classes."""
    report = _run_job(workspace, engine, _parse_as_of(as_of))
    console.print(
        f"published {report.version} on {report.engine} in {report.seconds:.1f} s, "
        f"as of {_when(report.as_of)}"
    )
    with _engine(workspace) as eng:
        _print_score_summary(eng)


def _print_score_summary(eng: Any) -> None:
    from ibis import _

    view = eng.published("lifecycle")
    grades = eng.to_arrow(
        view.filter(_.grade.notnull()).group_by("grade").aggregate(n=_.count())
    ).to_pylist()
    counts = {r["grade"]: r["n"] for r in grades}
    matrix = Table(title="grades (fit letter x engagement digit), scored contacts")
    matrix.add_column("fit \\ engagement")
    for digit in "1234":
        matrix.add_column(digit, justify="right")
    for letter in "ABCD":
        matrix.add_row(letter, *[f"{counts.get(letter + d, 0):,}" for d in "1234"])
    console.print(matrix)
    for column, title in (("stage", "stages"), ("audience_class", "audience classes")):
        rows = eng.to_arrow(
            view.group_by(column).aggregate(n=_.count()).order_by([_.n.desc(), column])
        ).to_pylist()
        console.print(f"[bold]{title}:[/] " + ", ".join(f"{r[column]} {r['n']:,}" for r in rows))


def _first(engine: Any, expr: Any) -> dict[str, Any] | None:
    rows = engine.to_arrow(expr.limit(1)).to_pylist()
    return rows[0] if rows else None


def _find_contact(eng: Any, text: str) -> str:
    """The contact id for a contact id, userId, anonymousId or email."""
    from clientela.errors import NotFoundError

    ids = eng.published("identities")
    wanted = text.strip()
    hit = _first(
        eng,
        ids.filter(
            (ids.value == wanted) | (ids.value == wanted.lower()) | (ids.contact_id == wanted)
        ),
    )
    if hit is None:
        raise NotFoundError(f"no contact has the id, userId, anonymousId or email {text!r}")
    return str(hit["contact_id"])


def _num(value: Any, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


@contacts_app.command("show")
def contacts_show(
    contact: Annotated[str, typer.Argument(help="Contact id, userId, anonymousId or email.")],
    events: Annotated[int, typer.Option(help="How many recent events to show.")] = 15,
    workspace: WorkspaceOpt = None,
) -> None:
    """A contact: identities, traits, account and event timeline."""
    from ibis import _

    with _engine(workspace) as eng:
        ids = eng.published("identities")
        cid = _find_contact(eng, contact)
        profile = _first(eng, eng.published("contacts").filter(_.contact_id == cid)) or {}
        mine = eng.to_arrow(
            ids.filter(ids.contact_id == cid).order_by(["kind", "value"])
        ).to_pylist()
        traits = eng.to_arrow(
            eng.published("contact_traits").filter(_.contact_id == cid).order_by("trait")
        ).to_pylist()
        members = eng.to_arrow(eng.published("memberships").filter(_.contact_id == cid)).to_pylist()
        accounts = eng.published("accounts")
        account = None
        if profile.get("account_id"):
            account = _first(eng, accounts.filter(accounts.account_id == profile["account_id"]))
        conflicts = eng.to_arrow(
            eng.published("identity_conflicts").filter(
                (_.kept_contact == cid) | (_.refused_contact == cid)
            )
        ).to_pylist()
        user_ids = [i["value"] for i in mine if i["kind"] == "user_id"]
        anon_ids = [i["value"] for i in mine if i["kind"] == "anonymous_id"]
        landed = eng.landed("events")
        timeline = eng.to_arrow(
            landed.filter(
                landed.user_id.isin(user_ids or ["\0"])
                | (landed.user_id.isnull() & landed.anonymous_id.isin(anon_ids or ["\0"]))
            )
            .order_by(landed.timestamp.desc())
            .limit(events)
            .select("timestamp", "type", "event", "name", "properties")
        ).to_pylist()
        total = profile.get("events", 0)
        view = _first(eng, eng.published("lifecycle").filter(_.contact_id == cid)) or {}
        history = eng.to_arrow(
            eng.published("stage_history").filter(_.contact_id == cid).order_by("entered_at")
        ).to_pylist()

    console.print(f"[bold]{cid}[/]  {profile.get('email') or ''}  [bold]{view.get('label', '')}[/]")
    _print_3d(view)
    console.print(
        f"first seen {_when(profile.get('first_seen'))}  "
        f"last seen {_when(profile.get('last_seen'))}  "
        f"events {total:,}  identified {profile.get('identified')}  in CRM {profile.get('in_crm')}"
    )
    idt = Table(title="identities")
    for col in ("kind", "value", "first seen", "last seen"):
        idt.add_column(col)
    for i in mine:
        idt.add_row(i["kind"], i["value"], _when(i["first_seen"]), _when(i["last_seen"]))
    console.print(idt)
    if traits:
        tt = Table(title="traits (latest value wins)")
        for col in ("trait", "value", "updated", "from"):
            tt.add_column(col, overflow="fold")
        for t in traits:
            tt.add_row(t["trait"], t["value"], _when(t["updated_at"]), t["source"])
        console.print(tt)
    if account:
        console.print(
            f"[bold]account[/] {account['account_id']} {account.get('name') or ''} "
            f"({account.get('domain') or 'no domain'}, {account.get('members', 0)} members)"
        )
    for m in members:
        console.print(f"  member of {m['account_id']} since {_when(m['since'])} ({m['reasons']})")
    for c in conflicts:
        console.print(
            f"[yellow]refused merge[/] {c['kind']} {c['value']}: kept with {c['kept_contact']}, "
            f"not {c['refused_contact']} — {c['reason']}"
        )
    if history:
        ht = Table(title="stage history")
        for col in ("stage", "entered", "exited", "days", "reason"):
            ht.add_column(col, overflow="fold")
        for h in history:
            ht.add_row(
                h["stage"],
                _when(h["entered_at"]),
                _when(h["exited_at"]) if h["exited_at"] else "(current)",
                _num(h["days_in_stage"]),
                h["reason"],
            )
        console.print(ht)
    tl = Table(title=f"latest {len(timeline)} of {total:,} events")
    for col in ("time", "type", "what", "properties"):
        tl.add_column(col, overflow="fold")
    for e in timeline:
        what = e["event"] or e["name"] or ""
        props = e["properties"] or ""
        tl.add_row(
            _when(e["timestamp"]), e["type"], what, props[:80] + ("…" if len(props) > 80 else "")
        )
    console.print(tl)


def _print_3d(view: dict[str, Any]) -> None:
    """The 3D score, audience class and next initiative of one lifecycle row."""
    if not view:
        return
    cls = view.get("audience_class") or "buyer"
    if view.get("scored"):
        console.print(
            f"fit {_num(view.get('fit'))} ({view.get('fit_letter')})  "
            f"engagement {_num(view.get('engagement'))} ({view.get('engagement_digit')})  "
            f"model {view.get('model')}"
        )
    else:
        console.print(f"not scored as a lead (audience class {cls}, policy {view.get('policy')})")
    console.print(
        f"lifecycle: {view.get('stage')} for {_num(view.get('days_in_stage'))} days "
        f"({view.get('stage_reason')}); orders {view.get('orders', 0)}, products "
        f"{view.get('products', 0)} in {view.get('categories', 0)} categories, tenure "
        f"{_num(view.get('tenure_days'), 0) or '-'} days, last active "
        f"{_num(view.get('recency_days'), 0) or '-'} days ago"
    )
    console.print(
        f"audience class: {cls}" + (f" — {view['evidence']}" if view.get("evidence") else "")
    )
    console.print(f"[bold]next initiative:[/] {view.get('next_initiative')}")


LIST_COLUMNS = (
    "contact_id",
    "email",
    "label",
    "fit",
    "engagement",
    "audience_class",
    "account_id",
    "last_seen",
    "next_initiative",
)


@contacts_app.command("list")
def contacts_list(
    limit: Annotated[int, typer.Option(help="Rows to show (0: all).")] = 20,
    grade: Annotated[
        str | None, typer.Option(help="Grades or fit letters, comma-separated: A1,A2 or A,B.")
    ] = None,
    stage: Annotated[str | None, typer.Option(help="Stages, comma-separated.")] = None,
    audience: Annotated[
        str | None,
        typer.Option("--class", help="Audience classes, comma-separated (buyer, student...)."),
    ] = None,
    account: Annotated[str | None, typer.Option(help="Only members of this account id.")] = None,
    min_fit: Annotated[float | None, typer.Option(help="Fit at least this.")] = None,
    max_fit: Annotated[float | None, typer.Option(help="Fit at most this.")] = None,
    min_engagement: Annotated[float | None, typer.Option(help="Engagement at least.")] = None,
    max_engagement: Annotated[float | None, typer.Option(help="Engagement at most.")] = None,
    identified: Annotated[
        bool | None,
        typer.Option(
            "--identified/--anonymous", help="Only identified or only anonymous contacts."
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, csv, json or parquet (needs --out).")
    ] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Contacts, best grade first (then most engaged), with filters."""
    from clientela.errors import ConfigError
    from clientela.lifecycle import best_first, select_contacts

    if fmt not in ("table", "csv", "json", "parquet"):
        raise ConfigError("--format", fmt, "table, csv, json or parquet")
    if fmt == "parquet" and out is None:
        raise ConfigError("--out", None, "a file to write when --format parquet")

    with _engine(workspace) as eng:
        view = eng.published("lifecycle")
        people = eng.published("contacts").select("contact_id", "email", "last_seen", "identified")
        t = view.join(people, "contact_id")
        t = select_contacts(
            t,
            grades=_listed(grade),
            stages=_listed(stage),
            classes=_listed(audience),
            account=account or None,
            identified=identified,
            min_fit=min_fit,
            max_fit=max_fit,
            min_engagement=min_engagement,
            max_engagement=max_engagement,
        )
        ordered = best_first(t)
        if limit:
            ordered = ordered.limit(limit)
        rows_table = eng.to_arrow(ordered.select(*LIST_COLUMNS))
        total = int(eng.to_arrow(t.count()).as_py())
    if fmt == "table" and out is None:
        # Terminal tables keep to what fits; csv, json and parquet carry every column.
        rows_table = rows_table.select(
            ["contact_id", "email", "label", "fit", "engagement", "audience_class", "account_id"]
        )
    _emit_rows(rows_table, fmt, out, title=f"contacts ({rows_table.num_rows:,} of {total:,})")


def _emit_rows(rows_table: Any, fmt: str, out: Path | None, title: str) -> None:
    """Print or write rows as a table, CSV, JSON or Parquet."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt == "parquet":
        assert out is not None
        pq.write_table(rows_table, out)
        console.print(f"wrote {rows_table.num_rows:,} rows to {out}")
        return
    if fmt == "csv":
        if out is not None:
            pacsv.write_csv(rows_table, out)
            console.print(f"wrote {rows_table.num_rows:,} rows to {out}")
        else:
            import csv

            writer = csv.writer(sys.stdout)
            writer.writerow(rows_table.column_names)
            for r in rows_table.to_pylist():
                writer.writerow(["" if v is None else v for v in r.values()])
        return
    rows = rows_table.to_pylist()
    if fmt == "json":
        text = json.dumps(rows, default=str, indent=2)
        if out is not None:
            out.write_text(text + "\n", encoding="utf-8")
            console.print(f"wrote {len(rows):,} rows to {out}")
        else:
            typer.echo(text)
        return
    table = Table(title=title)
    for c in rows_table.column_names:
        table.add_column(c, overflow="fold", no_wrap=c.endswith("_id") or c == "label")
    for r in rows:
        table.add_row(*[_cell(v) for v in r.values()])
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, datetime):
        return _when(value)
    return str(value)


@app.command()
def explain(
    contact: Annotated[str, typer.Argument(help="Contact id, userId, anonymousId or email.")],
    model: Annotated[str | None, typer.Option(help="Scoring model (default: the primary).")] = None,
    every: Annotated[
        bool, typer.Option("--events", help="List every ledger row, not one per signal.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Why a contact's score is what it is: every rule and signal, adding up to the total."""
    from ibis import _

    from clientela.errors import NotFoundError
    from clientela.scoring.grade import engagement_curve

    with _engine(workspace) as eng:
        cid = _find_contact(eng, contact)
        view = _first(eng, eng.published("lifecycle").filter(_.contact_id == cid)) or {}
        run_info = _first(eng, eng.published("run_info")) or {}
        chosen = model or view.get("model")
        score_row = None
        if chosen:
            score_row = _first(
                eng,
                eng.published("scores").filter((_.contact_id == cid) & (_.model == chosen)),
            )
        if model and score_row is None:
            raise NotFoundError(f"model {model!r} does not apply to contact {cid}")
        rows = eng.to_arrow(
            eng.published("score_ledger")
            .filter((_.contact_id == cid) & (_.model == (chosen or "")))
            .order_by(["dimension", _.event_at.desc(), "rule"])
        ).to_pylist()
        settings = eng.workspace.settings
    console.print(
        f"[bold]{cid}[/]  {view.get('label', '')}  as of {_when(run_info.get('as_of'))}"
        + (f"  model {chosen}" if chosen else "")
    )
    if not score_row or not score_row.get("scored"):
        console.print(
            f"not scored as a lead: audience class {view.get('audience_class')} "
            f"(policy {view.get('policy')}) — {view.get('evidence') or 'no model applies'}"
        )
        console.print(f"[bold]next initiative:[/] {view.get('next_initiative')}")
        return
    fit_rows = [r for r in rows if r["dimension"] == "fit"]
    ft = Table(title=f"fit = {score_row['fit']:g} → letter {score_row['fit_letter']}")
    for col in ("rule", "detail", "points"):
        ft.add_column(col, overflow="fold", justify="right" if col == "points" else "left")
    for r in fit_rows:
        ft.add_row(r["rule"], r["detail"], f"{r['points']:+g}")
    ft.add_row("[bold]total[/]", "", f"[bold]{sum(r['points'] for r in fit_rows):g}[/]")
    console.print(ft)
    eng_rows = [r for r in rows if r["dimension"] == "engagement"]
    raw = score_row["engagement_points"]
    saturation = settings.models[chosen].saturation if chosen in settings.models else 0.0
    title = (
        f"engagement: {raw:,.2f} raw points → 100 * (1 - 0.5 ** ({raw:,.2f} / {saturation:g})) "
        f"= {engagement_curve(raw, saturation) if saturation else 0:.1f} → digit "
        f"{score_row['engagement_digit']}"
    )
    et = Table(title=title)
    if every:
        for col in ("signal", "event", "when", "raw", "decay", "points"):
            et.add_column(col, overflow="fold")
        for r in eng_rows:
            et.add_row(
                r["rule"],
                r["detail"],
                _when(r["event_at"]),
                f"{r['raw_points']:g}",
                f"{r['decay']:.4f}",
                f"{r['points']:.3f}",
            )
    else:
        per: dict[str, list[Any]] = {}
        for r in eng_rows:
            item = per.setdefault(r["rule"], [0, 0.0, 0.0, None])
            item[0] += 1
            item[1] += r["raw_points"]
            item[2] += r["points"]
            item[3] = max(item[3], r["event_at"]) if item[3] else r["event_at"]
        for col in ("signal", "events", "raw points", "after decay and caps", "latest"):
            et.add_column(col, justify="left" if col in ("signal", "latest") else "right")
        for name, (n, raw_sum, pts, latest) in sorted(per.items(), key=lambda kv: -kv[1][2]):
            et.add_row(name, f"{n:,}", f"{raw_sum:,.0f}", f"{pts:,.3f}", _when(latest))
    et.add_row("[bold]total[/]", "", "", f"[bold]{sum(r['points'] for r in eng_rows):,.3f}[/]", "")
    console.print(et)
    console.print(
        f"lifecycle: [bold]{view.get('stage')}[/] ({view.get('stage_reason')}), "
        f"{view.get('orders', 0)} orders, tenure {_num(view.get('tenure_days'), 0) or '-'} days"
    )
    console.print(f"[bold]next initiative:[/] {view.get('next_initiative')}")


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


def _print_catalogue() -> None:
    from clientela import metrics

    table = Table(title="metrics: clientela metrics NAME [--from --to --period --by --who]")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("what it measures", overflow="fold")
    table.add_column("options (-o NAME=VALUE)", overflow="fold")
    for metric in sorted(metrics.REGISTRY.values(), key=lambda m: (m.family, m.name)):
        options = ", ".join(f"{k}={v}" for k, v in metric.options.items())
        table.add_row(metric.name, f"{metric.title} [dim]({metric.family})[/]", options)
    console.print(table)


@app.command("metrics")
def metrics_command(
    name: Annotated[str, typer.Argument(help="A metric name, or 'list' for the catalogue.")],
    start: Annotated[
        str | None, typer.Option("--from", help="First day (local date), e.g. 2026-01-01.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day (local date, included).")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="day, week, month, quarter or year (default: config).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="Break down by: stage, grade, class, fit, engagement, account, "
            "model or trait:NAME (comma-separated)."
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="Only contacts with DIMENSION=V1,V2 (repeatable), e.g. stage=customer."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Metric option NAME=VALUE (repeatable), e.g. "
            "-o steps='Signed Up,Order Completed' -o mode=strict.",
        ),
    ] = None,
    who: Annotated[
        str | None,
        typer.Option(
            help="List the contacts behind one cell: COLUMN=VALUE pairs, "
            "comma-separated, e.g. 'period=2026-05,stage=customer'."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
    engine: Annotated[
        str | None, typer.Option(help="duckdb or spark (default: from clientela.toml).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """A lifecycle KPI per period (seeds 000-004), with breakdowns and drill-down."""
    from clientela import metrics
    from clientela.engine import connect
    from clientela.errors import ConfigError

    if name == "list":
        _print_catalogue()
        return
    if fmt not in ("table", "csv", "json"):
        raise ConfigError("--format", fmt, "table, csv or json")
    metric = metrics.get(name)
    query = metrics.Query(
        start=_date_flag(start, "--from"),
        end=_date_flag(end, "--to"),
        period=period,
        by=tuple(_listed(by)),
        where=_pairs(where, "--where", lists=True),
        options=_pairs(option, "--option"),
    )
    ws = _workspace(workspace)
    eng = connect(ws, engine, reader=True)
    try:
        if who is not None:
            cell = _pairs(_listed(who), "--who")
            table = metrics.who(eng, ws.settings, name, cell, query)
            _emit_rows(table, fmt, out, title=f"{name}: who is behind {who}")
            return
        with console.status(f"computing {name} ..."):
            result = metrics.compute(eng, ws.settings, name, query)
    finally:
        eng.close()
    _emit_metric(result, metric, fmt, out)


def _emit_metric(result: Any, metric: Any, fmt: str, out: Path | None) -> None:
    """A metric's rows as a table (values with units, n/a with reasons), CSV or JSON."""
    from clientela import metrics

    units = metric.units
    if fmt in ("json", "csv"):
        records = []
        for row in result.rows:
            record = {k: metrics.plain(v) for k, v in row.items()}
            notes = {k: v.reason for k, v in row.items() if isinstance(v, metrics.NA)}
            if fmt == "json":
                record["n/a"] = notes
            else:
                record["notes"] = "; ".join(f"{k}: n/a, {v}" for k, v in notes.items())
            records.append(record)
        if fmt == "json":
            payload = {
                "metric": metric.name,
                "title": metric.title,
                "formula": metric.formula,
                "period": result.calendar.kind,
                "timezone": result.calendar.timezone,
                "as_of": result.as_of.isoformat(),
                "units": units,
                "rows": records,
            }
            text = json.dumps(payload, default=str, indent=2)
            if out is not None:
                out.write_text(text + "\n", encoding="utf-8")
                console.print(f"wrote {len(records):,} rows to {out}")
            else:
                typer.echo(text)
            return
        import pyarrow as pa

        _emit_rows(pa.Table.from_pylist(records), "csv", out, title=metric.name)
        return
    first = result.calendar.periods[1].label if len(result.calendar.periods) > 1 else ""
    title = (
        f"{metric.title} · {result.calendar.kind}s {first} to "
        f"{result.calendar.periods[-1].label} · {result.calendar.timezone} · "
        f"as of {_when(result.as_of)}"
    )
    from rich import box

    reasons: dict[str, list[str]] = {}
    lines: list[list[str]] = []
    for row in result.rows:
        cells = []
        for column in result.columns:
            value = row.get(column)
            if isinstance(value, metrics.NA):
                reasons.setdefault(value.reason, []).append(f"{row['period']} {column}")
                cells.append("n/a")
            else:
                cells.append(metrics.display(value, units.get(column, "text")))
        lines.append(cells)
    needed = 0
    table = Table(
        title=title,
        caption=metric.formula,
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    for i, column in enumerate(result.columns):
        widest = max([len(line[i]) for line in lines] + [len(column)])
        needed += widest + 2
        table.add_column(column, justify="right" if column in units else "left", min_width=widest)
    for line in lines:
        table.add_row(*[f"[dim]{c}[/]" if c == "n/a" else c for c in line])
    # Never squeeze a metric's columns: a table wider than the terminal is printed whole
    # (the terminal wraps the lines) rather than with shortened numbers or names.
    console.print(table, width=max(console.width, needed), crop=False)
    if not result.rows:
        console.print("[dim]nothing in this range[/]")
    for reason, where in reasons.items():
        shown = ", ".join(where[:4]) + (f" and {len(where) - 4} more" if len(where) > 4 else "")
        console.print(f"[dim]n/a: {reason} ({shown})[/]", highlight=False)


@app.command("report")
def report_command(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    start: Annotated[
        str | None, typer.Option("--from", help="First day (local date), e.g. 2025-07-01.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day (local date, included).")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="day, week, month, quarter or year (default: config).")
    ] = None,
    engine: EngineOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """One self-contained HTML file with the lifecycle KPIs (opens offline, prints cleanly)."""
    from clientela import metrics, report
    from clientela.engine import connect

    query = metrics.Query(
        start=_date_flag(start, "--from"), end=_date_flag(end, "--to"), period=period
    )
    ws = _workspace(workspace)
    eng = connect(ws, engine, reader=True)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as progress:
            task = progress.add_task("computing", total=len(report.METRICS))

            def done(name: str) -> None:
                progress.update(task, advance=1, description=f"computed {name}")

            size = report.write(eng, ws.settings, out, query, on_metric=done)
    finally:
        eng.close()
    console.print(
        f"wrote {out} ({size / 1_048_576:.1f} MB, {size:,} bytes)", soft_wrap=True, highlight=False
    )


keys_app = typer.Typer(help="API keys of the server: write keys ingest, read keys read.")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    kind: Annotated[str, typer.Option("--kind", help="write (ingestion) or read (read API).")],
    name: Annotated[str | None, typer.Option(help="A name to find the key by.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a key and print it once (only its hash is stored; it cannot be shown again)."""
    from clientela.keys import create_key

    info, key = create_key(_workspace(workspace), kind, name)
    err_console.print(
        f"created {info.kind} key [bold]{info.name}[/] (id {info.id}); "
        "store it now, it is not shown again:",
        highlight=False,
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


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default; 0.0.0.0 for all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workspace: WorkspaceOpt = None,
    compact_seconds: Annotated[
        float,
        typer.Option(help="Land accepted events into Parquet this often (seconds).", min=0.01),
    ] = 10.0,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve the workspace over HTTP: Segment-compatible ingestion (/v1/*) and the read API.

    A 200 means the events are on disk; they land every --compact-seconds and at stop.

    Ingestion needs a write key (clientela keys create --kind write), reads a read key.
    """
    import uvicorn

    from clientela.api import create_app
    from clientela.api.ingest import IngestOptions, tune_gc
    from clientela.api.log import LogLock, log_dir

    ws = _workspace(workspace)
    probe = LogLock(log_dir(ws))  # a clear error now, rather than a failed startup
    probe.acquire()
    probe.release()
    server = create_app(ws)
    server.state.ingest_options = IngestOptions(rotate_seconds=compact_seconds)
    tune_gc()
    console.print(f"serving [bold]{ws.root}[/] at http://{host}:{port}  (Ctrl-C stops)")
    uvicorn.run(server, host=host, port=port, access_log=access_log, log_level="info")


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Argument(help="Folder to write the demo world into.")],
    contacts: Annotated[int, typer.Option(help="How many people.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 7,
    shards: Annotated[int, typer.Option(help="Event files to split into.")] = 1,
    workers: Annotated[int, typer.Option(help="Processes generating shards at once.")] = 1,
    gzip: Annotated[bool, typer.Option("--gzip/--plain", help="Compress event files.")] = False,
) -> None:
    """Generate the demo world: Segment JSONL events plus CRM CSV files."""
    summary = _generate_demo(out, contacts, seed, shards, workers, gzip)
    console.print(
        f"wrote {summary.events:,} events for {summary.contacts:,} people and "
        f"{summary.accounts:,} accounts ({summary.bad_records} deliberately broken lines) to {out}"
    )


def _generate_demo(
    out: Path, contacts: int, seed: int, shards: int, workers: int, gzip: bool
) -> Any:
    from clientela.datasets.demo import DemoSpec, generate

    spec = DemoSpec(contacts=contacts, seed=seed, shards=shards, gzip=gzip)
    expected = contacts * 20
    with Progress(
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task("events", total=expected)
        kwargs: dict[str, Any] = {"progress": lambda n: progress.advance(task, n)}
        if workers > 1:
            kwargs["workers"] = workers
        summary = generate(out, spec, **kwargs)
        progress.update(task, total=summary.events, completed=summary.events)
    return summary


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo workspace.")] = Path(
        "demo"
    ),
    contacts: Annotated[int, typer.Option(help="How many people in the demo world.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Everything at once: generate the demo world, land it, import the CRM, run the job."""
    from clientela import pipeline
    from clientela.datasets.demo import DemoSpec, write_demo_settings
    from clientela.engine import connect
    from clientela.ingest.crm import import_file
    from clientela.ingest.files import ingest_files
    from clientela.scoring.grade import grade_rank
    from clientela.workspace import init_workspace, open_workspace

    root = directory.resolve()
    ws = init_workspace(root)
    write_demo_settings(root / "clientela.toml")
    ws = open_workspace(root)
    data = root / "input"
    console.rule("1. demo world")
    summary = _generate_demo(data, contacts, seed, 1, 1, False)
    console.print(
        f"{summary.events:,} events, {summary.contacts:,} people, {summary.accounts:,} accounts"
    )
    console.rule("2. land events")
    started = time.perf_counter()
    report = ingest_files(ws, [data / "events"])
    _print_landing(report, time.perf_counter() - started)
    console.rule("3. import CRM")
    _print_import(import_file(ws, "contacts", data / "crm" / "contacts.csv"), "contacts")
    _print_import(import_file(ws, "accounts", data / "crm" / "accounts.csv"), "accounts")
    # The demo world ends on a fixed date: score as of then, not today.
    as_of = DemoSpec().end
    console.rule(f"4. score as of {_when(as_of)}")
    eng = connect(ws)
    try:
        result = pipeline.run(eng, ws, as_of=as_of)
        console.print(
            f"published {result.version} in {result.seconds:.1f} s: "
            + ", ".join(f"{name} {rows:,}" for name, rows in result.rows.items())
        )
        _print_score_summary(eng)
        view = eng.published("lifecycle")
        best = _first(
            eng,
            view.filter((view.stage == "prospect") & view.grade.notnull()).order_by(
                [grade_rank(view.grade), view.engagement.desc(), view.contact_id]
            ),
        )
    finally:
        eng.close()
    console.rule(f"5. top prospects: clientela contacts list --stage prospect -w {directory}")
    contacts_list(limit=8, stage="prospect", fmt="table", workspace=root)
    if best:
        console.rule(f"6. why: clientela explain {best['contact_id']} -w {directory}")
        explain(best["contact_id"], workspace=root)
    console.rule(
        f"7. the business: clientela metrics customer_retention --from 2026-01-01 -w {directory}"
    )
    metrics_command(
        "customer_retention",
        start="2026-01-01",
        end=None,
        period=None,
        by=None,
        where=None,
        option=None,
        who=None,
        fmt="table",
        out=None,
        engine=None,
        workspace=root,
    )
    console.rule(f"8. the report: clientela report --out {directory}/report.html -w {directory}")
    report_command(
        out=root / "report.html", start=None, end=None, period=None, engine=None, workspace=root
    )
    console.print(
        f"\nnext: open {directory}/report.html   |   clientela metrics list -w {directory}   |   "
        f"clientela contacts show ID -w {directory}   |   "
        f"clientela contacts list --class student -w {directory}   |   "
        f"clientela quarantine list -w {directory}"
    )


if __name__ == "__main__":
    main()
