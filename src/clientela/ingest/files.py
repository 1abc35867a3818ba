"""Read JSON Lines files (plain or gzipped, or folders of them) in chunks of whole lines."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import pyarrow as pa

from clientela.errors import InputError
from clientela.ingest.lander import EventLander, LandingReport
from clientela.workspace import Workspace

EVENT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".gz")
_GZIP_MAGIC = b"\x1f\x8b"

LINES_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("line", pa.int64()),
        ("item", pa.int32()),
        ("raw", pa.string_view()),
        ("bad_bytes", pa.large_binary()),
    ]
)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files to read: each file as given, and the event files inside each folder (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.endswith(EVENT_SUFFIXES)
            )
            if not found:
                raise InputError(path, "folder has no .jsonl, .ndjson, .json or .gz files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(path, "no such file or folder")
    return files


def _open_stream(disk: BinaryIO) -> AbstractContextManager[BinaryIO]:
    """The file's text stream: the file itself, or a gzip reader over it."""
    magic = disk.read(2)
    disk.seek(0)
    if magic == _GZIP_MAGIC:
        return cast(AbstractContextManager[BinaryIO], gzip.GzipFile(fileobj=disk, mode="rb"))
    return nullcontext(disk)


def iter_line_chunks(
    path: Path, chunk_bytes: int, first_line: int = 1
) -> Iterator[tuple[pa.Table, int]]:
    """Yield tables of whole lines (about ``chunk_bytes`` each) with their 1-based numbers, and
    how many bytes of the file on disk have been read so far (for progress).

    The tables share buffers that are reused for the next chunk: use (or copy) each one before
    asking for the next. Reusing memory matters: touching fresh pages costs more than parsing.
    """
    source = str(path)
    line_no = first_line
    reader = _ChunkReader(chunk_bytes)
    try:
        with path.open("rb") as disk, _open_stream(disk) as handle:
            while True:
                view = reader.fill(handle)
                if view is None:
                    break
                table = reader.split(source, view, line_no)
                line_no += table.num_rows
                yield table, disk.tell()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(path, f"cannot be read: {exc}", line_no) from None


class _ChunkReader:
    """Reads a stream into one reused buffer and cuts it at the last line break."""

    def __init__(self, chunk_bytes: int) -> None:
        self.chunk_bytes = chunk_bytes
        self.buf = np.empty(chunk_bytes, dtype=np.uint8)
        self.is_break = np.empty(chunk_bytes, dtype=bool)
        self.carry = 0  # bytes of an unfinished line kept at the start of buf
        self.end = 0
        self.eof = False

    def fill(self, handle: BinaryIO) -> np.ndarray | None:
        """Read until the buffer is full or the stream ends; return whole lines, or None."""
        if self.end > self.carry:  # move the unfinished tail of the last chunk to the front
            tail = self.buf[self.carry : self.end].copy()
            self.buf[: len(tail)] = tail
            self.end = len(tail)
        elif self.carry == self.end:
            self.end = 0
        while True:
            while not self.eof and self.end < len(self.buf):
                got = handle.readinto(self.buf[self.end :].data)  # type: ignore[attr-defined]
                if not got:
                    self.eof = True
                else:
                    self.end += got
            if self.end == 0:
                return None
            data = self.buf[: self.end]
            if self.eof:
                self.carry = self.end  # everything that is left, even without a final break
                if data[-1] != 10:
                    return np.concatenate([data, np.array([10], dtype=np.uint8)])
                return data
            breaks = np.flatnonzero(data[-min(len(data), 1 << 20) :] == 10)
            if len(breaks):
                cut = self.end - min(len(data), 1 << 20) + int(breaks[-1]) + 1
            else:
                found = np.flatnonzero(data == 10)
                cut = int(found[-1]) + 1 if len(found) else 0
            if cut == 0:  # one line longer than the buffer: grow it and keep reading
                self._grow(2 * len(self.buf))
                continue
            self.carry = cut
            return self.buf[:cut]

    def _grow(self, size: int) -> None:
        bigger = np.empty(size, dtype=np.uint8)
        bigger[: self.end] = self.buf[: self.end]
        self.buf = bigger
        self.is_break = np.empty(size, dtype=bool)

    def split(self, source: str, data: np.ndarray, first_line: int) -> pa.Table:
        """Cut ``data`` (whole lines, ending with a break) into a table of line texts."""
        if len(self.is_break) < len(data):
            self.is_break = np.empty(len(data), dtype=bool)
        return lines_table(source, data, first_line, self.is_break)


_VIEW = np.dtype([("length", "<i4"), ("prefix", "V4"), ("buffer", "<i4"), ("offset", "<i4")])
_INLINE = 12  # Arrow keeps strings of up to 12 bytes inside the view itself


def lines_table(
    source: str, data: np.ndarray, first_line: int, is_break: np.ndarray | None = None
) -> pa.Table:
    """Split bytes of whole lines (ending with a line break) into a table of their texts,
    without the line breaks.

    The texts are Arrow string views into ``data`` itself: 16 bytes per line are written and
    the text is not copied, which is what lets landing keep up with hundreds of thousands of
    lines a second. ``is_break`` is a scratch buffer to reuse.
    """
    n = len(data)
    breaks = np.equal(data, 10, out=None if is_break is None else is_break[:n])
    ends = np.flatnonzero(breaks)
    count = len(ends)
    starts = np.empty(count, dtype=np.int64)
    starts[0:1] = 0
    starts[1:] = ends[:-1] + 1
    # A "\r" right before a "\n" is part of the line break (files written on Windows).
    stops = ends.copy()
    nonempty = stops > starts
    stops[nonempty] -= data[ends[nonempty] - 1] == 13
    lengths = (stops - starts).astype(np.int32)
    views = np.zeros(count, dtype=_VIEW)
    views["length"] = lengths
    views["offset"] = starts.astype(np.int32)
    last = n - 1
    long_ = lengths > _INLINE
    if long_.any():
        prefix = data[starts[long_, None] + np.arange(4)]
        views["prefix"][long_] = prefix.view("V4").ravel()
    short = ~long_
    if short.any():
        # Short strings live in the view: 12 bytes after the length, zero-padded.
        inline = data[np.minimum(starts[short, None] + np.arange(_INLINE), last)]
        inline[np.arange(_INLINE) >= lengths[short, None]] = 0
        raw_views = views.view(np.uint8).reshape(count, 16)
        raw_views[np.flatnonzero(short)[:, None], 4 + np.arange(_INLINE)] = inline
    raw = pa.Array.from_buffers(
        pa.string_view(),
        count,
        [None, pa.py_buffer(views), pa.py_buffer(data)],
    )
    bad_bytes: pa.Array = pa.nulls(count, pa.large_binary())
    try:
        raw.validate(full=True)
    except pa.ArrowInvalid:
        # Slow path, only for a chunk with bad bytes: decode line by line.
        body = data.tobytes()
        raw, bad_bytes = text_or_bytes(
            body[start:stop] for start, stop in zip(starts.tolist(), stops.tolist(), strict=True)
        )
    lines = pa.array(np.arange(first_line, first_line + count, dtype=np.int64))
    return pa.table(
        [
            pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(count, dtype=np.int32)), pa.array([source])
            ).cast(pa.string()),
            lines,
            pa.nulls(count, pa.int32()),
            raw,
            bad_bytes,
        ],
        schema=LINES_SCHEMA,
    )


def text_or_bytes(pieces: Iterable[bytes]) -> tuple[pa.Array, pa.Array]:
    """The ``raw`` and ``bad_bytes`` columns for lines: text where a line decodes as UTF-8,
    else NULL text and the line's exact bytes."""
    texts: list[str | None] = []
    blobs: list[bytes | None] = []
    for piece in pieces:
        try:
            texts.append(piece.decode("utf-8"))
            blobs.append(None)
        except UnicodeDecodeError:
            texts.append(None)
            blobs.append(piece)
    return pa.array(texts, pa.string_view()), pa.array(blobs, pa.large_binary())


def ingest_files(
    workspace: Workspace,
    paths: list[Path],
    on_bytes: Callable[[int], None] | None = None,
) -> LandingReport:
    """Land every record of the given files and folders; returns the counts.

    ``on_bytes(n)`` is told how many more bytes of the input files (as on disk) were landed."""
    files = expand_paths(paths)
    chunk_bytes = workspace.settings.ingest.chunk_bytes
    report = LandingReport()
    lander = EventLander(workspace)
    try:
        for path in files:
            done = 0
            for table, position in iter_line_chunks(path, chunk_bytes):
                report.add(lander.land(table))
                if on_bytes is not None:
                    on_bytes(position - done)
                done = position
    finally:
        lander.close()
    return report


def total_bytes(paths: list[Path]) -> int:
    """Size on disk of the files an ingest will read (for progress bars)."""
    return sum(p.stat().st_size for p in expand_paths(paths))
