"""How rows reach the user: terminal tables, CSV, JSON and Parquet, and cell formatting."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from clientela.cli.common import console


def _when(value: Any) -> str:
    """A time as 'YYYY-MM-DD HH:MM:SS' (UTC), or '-' when unknown."""
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)


def _num(value: Any, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


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
