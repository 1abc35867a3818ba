"""How the command line shows data: the consoles, styled lines, tables, CSV, JSON and Parquet.

Data is shown verbatim, whatever it holds. The consoles read no Rich markup, replace no
``:emoji:`` codes and highlight nothing, so a string printed or put in a table cell (an id, an
email, a trait, a quarantined line, a path) is printed as it is. Our own styling is opt-in:
``styled("[bold]id[/] {}", value)`` reads its template as markup and fills the ``{}`` fields
with values as plain text. Every CSV goes through ``write_csv``, which neutralises text cells a
spreadsheet would run as formulas.
"""

from __future__ import annotations

import json
import string
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Span, Text

console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)

_FIELD = "\ue000"  # a private-use character: where a value goes in a parsed template
_FORMATTER = string.Formatter()


def styled(template: str, *values: Any) -> Text:
    """A line in our markup whose ``{}`` fields (``{:,}``, ``{!r}``...) hold values as text.

    The template may style (``[bold]...[/]``); a value never does, whatever it holds: it takes
    the style around its field and keeps every character.
    """
    markup: list[str] = []
    filled: list[str] = []
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        markup.append(literal)
        if field is None:
            continue
        if field:
            raise ValueError(f"styled() fields are positional '{{}}', not {field!r}")
        value = _FORMATTER.convert_field(values[len(filled)], conversion)
        filled.append(_FORMATTER.format_field(value, spec or ""))
        markup.append(_FIELD)
    if len(filled) != len(values):
        raise ValueError(f"styled() got {len(values)} values for {len(filled)} fields")
    text = Text.from_markup("".join(markup), emoji=False)
    if not filled:
        return text
    starts = [i for i, char in enumerate(text.plain) if char == _FIELD]
    cuts = sorted({*starts, *(i + 1 for i in starts)})
    line = Text(end=text.end)
    values_left = iter(filled)
    for piece in text.divide(cuts):
        if piece.plain == _FIELD:
            value = next(values_left)
            piece = Text(value, spans=[Span(0, len(value), s.style) for s in piece.spans])
        line.append_text(piece)
    return line


def _when(value: Any) -> str:
    """A time as 'YYYY-MM-DD HH:MM:SS' (UTC), or '-' when unknown."""
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return ""
    text = f"{value:,.{digits}f}"
    # Nothing rounds to "-0": a negated zero (or a tiny negative) prints as 0.
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


# A text cell starting with one of these is a formula to a spreadsheet (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_safe(rows_table: Any) -> Any:
    """The Arrow table with every text cell and column name neutralised; numbers, dates and
    booleans are left as they are (a negative number stays a number)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for column in rows_table.columns:
        kind = column.type
        if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
            column = column.cast(kind.value_type)
            kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            risky = pc.fill_null(pc.match_substring_regex(column, r"^[=+\-@\t\r]"), False)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    names = [neutralise(name) for name in rows_table.column_names]
    return pa.Table.from_arrays(columns, names=names)


def write_csv(rows_table: Any, out: Path | None) -> None:
    """Every CSV the command line writes: to ``out``, or to standard output when None."""
    import pyarrow.csv as pacsv

    rows_table = csv_safe(rows_table)
    if out is not None:
        pacsv.write_csv(rows_table, out)
        console.print(f"wrote {rows_table.num_rows:,} rows to {out}")
        return
    import csv

    writer = csv.writer(sys.stdout)
    writer.writerow(rows_table.column_names)
    for r in rows_table.to_pylist():
        writer.writerow(["" if v is None else v for v in r.values()])


def _emit_rows(rows_table: Any, fmt: str, out: Path | None, title: str) -> None:
    """Print or write rows as a table, CSV, JSON or Parquet."""
    import pyarrow.parquet as pq

    if fmt == "parquet":
        assert out is not None
        pq.write_table(rows_table, out)
        console.print(f"wrote {rows_table.num_rows:,} rows to {out}")
        return
    if fmt == "csv":
        write_csv(rows_table, out)
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
