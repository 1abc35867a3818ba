"""Reading a CRM CSV: encoding and delimiter sniffed per file, one record per row with its line.

The standard library's ``csv`` module reads the file (not DuckDB's CSV reader): it gives every
record with the exact physical lines it came from, so a malformed row (a field too many, a
field too few, an unterminated quote) is set aside with its line number and verbatim text while
the rest of the file reads on; and it decodes any Python codec (cp1252, which Excel writes on
Windows, is not one DuckDB reads). Rows are gathered column by column into Arrow arrays in
chunks, so a large export does not become millions of Python lists.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from clientela.errors import InputError

DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 1 << 16
_CHUNK_ROWS = 50_000
# A field may be long (notes, HTML), but an unterminated quote must not swallow the machine.
_FIELD_LIMIT = 16 << 20
RESERVED = frozenset({"_line", "_source", "_qid", "_row_json", "_created", "_modified"})


@dataclass
class Rejected:
    """A row set aside before any column was read: its line, verbatim text and why."""

    line: int
    raw: str
    reason: str
    detail: str
    fields: list[str] | None = None  # as split, when the row could be split
    end: int = 0  # its last physical line


@dataclass
class ParsedFile:
    """The header, the well-formed rows (``_line`` + one text column per header) and the
    rejected ones."""

    columns: list[str]
    table: pa.Table
    rejected: list[Rejected] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str = ","
    blank: int = 0


def delimiter_option(value: str | None) -> str | None:
    """A delimiter as settings hold it (checked there): ',', ';', '|', 'tab' or '\\t'."""
    if not value:
        return None
    return "\t" if value.lower() in ("tab", "\\t") else value


def encoding_option(value: str | None) -> str | None:
    """A codec name as settings hold it (checked there); UTF-8 also skips a BOM."""
    if not value:
        return None
    name = codecs.lookup(value).name
    return "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name


def sniff_encoding(path: Path) -> str:
    """UTF-8 (with or without a BOM), UTF-16 with a BOM, else cp1252, else latin-1."""
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
        for candidate in ("utf-8", "cp1252"):
            f.seek(0)
            decoder = codecs.getincrementaldecoder(candidate)()
            try:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                continue
            return "utf-8-sig" if candidate == "utf-8" else candidate
    return "latin-1"


def sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header into the most fields while most of the sample's
    rows have as many fields as the header (',' for a one-column file)."""
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines.pop()  # cut short by the sample's size
    best, best_score = ",", (0, 0)
    for delim in DELIMITERS:
        rows = [r for r in csv.reader(lines, delimiter=delim) if r]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(r) == width for r in rows), width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _header(names: list[str]) -> list[str]:
    """Header names stripped; blank ones named column_N, repeated ones (ignoring case, as
    SQL does) suffixed _2, _3."""
    out: list[str] = []
    seen = {r.lower() for r in RESERVED}
    for i, name in enumerate(names, start=1):
        base = name.strip().lstrip("\ufeff") or f"column_{i}"
        unique, n = base, 1
        while unique.lower() in seen:
            n += 1
            unique = f"{base}_{n}"
        seen.add(unique.lower())
        out.append(unique)
    return out


def read_csv(path: Path, delimiter: str | None = None, encoding: str | None = None) -> ParsedFile:
    """Parse a CRM CSV; rows with the wrong number of fields are rejected, not fatal."""
    enc = encoding or sniff_encoding(path)
    try:
        with path.open(encoding=enc, newline="") as f:
            delim = delimiter or sniff_delimiter(f.read(_SNIFF_BYTES))
            f.seek(0)
            parsed = _parse(f, path, enc, delim)
        if parsed.rejected:
            _verbatim(path, enc, parsed.rejected)
        return parsed
    except UnicodeDecodeError as exc:
        raise InputError(
            path,
            f"is not {enc} text (byte 0x{exc.object[exc.start]:02x} at byte offset "
            f"{exc.start} of a chunk); give the file's encoding with --encoding "
            "(e.g. cp1252, latin-1)",
        ) from None


def _parse(f: io.TextIOBase, path: Path, encoding: str, delimiter: str) -> ParsedFile:
    """The csv reader over the file; ``reader.line_num`` (physical lines read so far) gives
    each record its first line, even when a quoted field holds line breaks."""
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    # strict: a quote never closed, or text after a closing quote, is an error for that row
    # (not the rest of the file silently swallowed into one field).
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    columns: list[str] | None = None
    rejected: list[Rejected] = []
    chunk: list[list[str]] = []
    chunk_lines: list[int] = []
    batches: list[pa.Table] = []
    blank = 0
    read = 0  # physical lines read before the current record
    while True:
        try:
            row: list[str] | None = next(reader)
            error = None
        except StopIteration:
            break
        except csv.Error as exc:  # a quote never closed, a field over the size limit...
            row, error = None, str(exc)
        start, read = read + 1, reader.line_num
        if row is None:
            span = f"; the row runs to line {read}" if read > start else ""
            detail = f"line {start} is not valid CSV ({error}{span})"
            rejected.append(Rejected(start, "", "malformed_row", detail, end=read))
            continue
        if not row or (len(row) == 1 and not row[0] and (columns is None or len(columns) > 1)):
            blank += 1
            continue
        if columns is None:
            columns = _header(row)
            width = len(columns)
            continue
        if len(row) != width:
            rejected.append(
                Rejected(
                    start,
                    "",
                    "wrong_field_count",
                    f"line {start} has {len(row)} fields, the header has {width} "
                    + (
                        f"(the row runs to line {read}: a double quote never closed?)"
                        if read > start
                        else f"(delimiter {delimiter!r}: a field holding it must be in "
                        "double quotes)"
                    ),
                    row,
                    end=read,
                )
            )
            continue
        chunk.append(row)
        chunk_lines.append(start)
        if len(chunk) >= _CHUNK_ROWS:
            batches.append(_batch(columns, chunk, chunk_lines))
            chunk, chunk_lines = [], []
    if columns is None:
        raise InputError(path, "is empty: no header row")
    batches.append(_batch(columns, chunk, chunk_lines))
    return ParsedFile(columns, pa.concat_tables(batches), rejected, encoding, delimiter, blank)


def _verbatim(path: Path, encoding: str, rejected: list[Rejected]) -> None:
    """Fill each rejected row's ``raw`` with its lines as they are in the file."""
    wanted: dict[int, Rejected] = {}
    for r in rejected:
        for n in range(r.line, r.end + 1):
            wanted[n] = r
    parts: dict[int, list[str]] = {id(r): [] for r in rejected}
    with path.open(encoding=encoding, newline="") as f:
        for n, text in enumerate(f, start=1):
            owner = wanted.get(n)
            if owner is not None:
                parts[id(owner)].append(text)
            if n >= max(wanted):
                break
    for r in rejected:
        r.raw = "".join(parts[id(r)]).rstrip("\r\n")


def _batch(columns: list[str], rows: list[list[str]], lines: list[int]) -> pa.Table:
    by_column = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    arrays = [pa.array(lines, pa.int64())]
    arrays += [pa.array(values, pa.string()) for values in by_column]
    return pa.table(arrays, names=["_line", *columns])
