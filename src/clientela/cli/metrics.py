"""metrics: the lifecycle KPIs, their catalogue, breakdowns and drill-down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from clientela.cli.common import (
    WorkspaceOpt,
    _date_flag,
    _hint_if_nothing_landed,
    _listed,
    _pairs,
    _require_results,
    _workspace,
    app,
)
from clientela.cli.output import _emit_rows, _when, console, styled


def _print_catalogue() -> None:
    from clientela import metrics

    table = Table(title="metrics: clientela metrics NAME [--from --to --period --by --who]")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("what it measures", overflow="fold")
    table.add_column("options (-o NAME=VALUE)", overflow="fold")
    for metric in sorted(metrics.REGISTRY.values(), key=lambda m: (m.family, m.name)):
        options = ", ".join(
            f"{k}={v}" + (f" ({'|'.join(metric.choices[k])})" if k in metric.choices else "")
            for k, v in metric.options.items()
        )
        table.add_row(metric.name, styled("{} [dim]({})[/]", metric.title, metric.family), options)
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
            "model, tier or trait:NAME (comma-separated)."
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
    limit: Annotated[
        int | None,
        typer.Option(help="With --who: one page of at most this many contacts (up to 10,000)."),
    ] = None,
    offset: Annotated[int, typer.Option(help="With --who: skip this many contacts.")] = 0,
    fmt: Annotated[
        str, typer.Option("--format", help="table, csv, json or parquet (needs --out).")
    ] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
    engine: Annotated[
        str | None, typer.Option(help="duckdb or spark (default: from clientela.toml).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """A lifecycle KPI per period (seeds 000-004), with breakdowns and drill-down."""
    from clientela import metrics
    from clientela.engine import connect
    from clientela.errors import ClientelaError, ConfigError

    if name == "list":
        _print_catalogue()
        return
    if fmt not in ("table", "csv", "json", "parquet"):
        raise ConfigError("--format", fmt, "table, csv, json or parquet")
    if fmt == "parquet" and out is None:
        raise ConfigError("--out", None, "a file to write when --format parquet")
    if who is None and (limit is not None or offset):
        raise ClientelaError("--limit and --offset page a --who list; give --who too")
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
        _require_results(eng)
        if who is not None:
            cell = _pairs(_listed(who), "--who")
            table = metrics.who(eng, ws.settings, name, cell, query, limit=limit, offset=offset)
            if fmt != "parquet":  # Parquet keeps typed times; text shows them as ISO times
                table = _iso_times(table)
            zone = ws.settings.report.timezone
            _emit_rows(table, fmt, out, title=f"{name}: who is behind {who} (times in {zone})")
            return
        with console.status(Text(f"computing {name} ...")):
            result = metrics.compute(eng, ws.settings, name, query)
    finally:
        eng.close()
    _emit_metric(result, metric, fmt, out)
    _hint_if_nothing_landed(ws)


def _iso_times(table: Any) -> Any:
    """Timestamp columns as ISO-8601 text with their offset (``2026-05-04T10:00:00+02:00``)."""
    import pyarrow as pa

    for i, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            values = [None if v is None else v.isoformat() for v in table.column(i).to_pylist()]
            table = table.set_column(i, column.name, pa.array(values, pa.string()))
    return table


def _emit_metric(result: Any, metric: Any, fmt: str, out: Path | None) -> None:
    """A metric's rows as a table (values with units, n/a with reasons), CSV, JSON or
    Parquet (CSV and Parquet put the reasons in a ``notes`` column)."""
    from clientela import metrics

    units = metric.units
    options = {**metric.options, **result.query.options}
    if fmt in ("json", "csv", "parquet"):
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
                "options": options,
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

        _emit_rows(pa.Table.from_pylist(records), fmt, out, title=metric.name)
        return
    first = result.calendar.periods[1].label if len(result.calendar.periods) > 1 else ""
    chosen = [f"{k}={v}" for k, v in options.items() if v != metric.options[k]]
    title = (
        f"{metric.title}{''.join(' · ' + c for c in chosen)} · {result.calendar.kind}s {first} to "
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
        table.add_row(*[Text(c, style="dim") if c == "n/a" else c for c in line])
    # Never squeeze a metric's columns: a table wider than the terminal is printed whole
    # (the terminal wraps the lines) rather than with shortened numbers or names.
    console.print(table, width=max(console.width, needed), crop=False)
    if not result.rows:
        console.print(styled("[dim]nothing in this range[/]"))
    for reason, where in reasons.items():
        shown = ", ".join(where[:4]) + (f" and {len(where) - 4} more" if len(where) > 4 else "")
        console.print(styled("[dim]n/a: {} ({})[/]", reason, shown))
