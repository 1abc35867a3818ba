"""The HTTP log: accepted requests on disk before they are answered, then landed as Parquet.

Every server run appends to its own log files in ``state/http-log/``. Each accepted request
adds whole lines of Segment-spec JSON (one message, or a batch envelope ``{"batch": [...]}``),
so a log file is itself a JSON Lines file that ``clientela ingest`` could read. Writes are
*group-committed*: a writer thread takes everything requests handed in since its last write,
appends it with one ``write``, ``fdatasync``s the file and only then resolves the requests'
futures, so a ``200`` always means the lines are on disk, and one disk flush serves every
request that arrived while the previous flush ran.

A log file is closed ("rotated") when it is old enough or big enough; the :class:`Compactor`
then lands it with :class:`~clientela.ingest.lander.EventLander` (the same normalising,
dedupe and quarantine as file ingestion) and deletes it. A crash can leave log files behind:
the next server run lands them before anything else. Landing is idempotent (dedupe on
``messageId``), so a crash between landing a file and deleting it only repeats work.

A crash can also leave a *torn* last line (written in part, never flushed, so never
acknowledged). Whatever follows a file's last line break is dropped and counted
(``torn_lines``); every acknowledged line ends with a line break that was flushed before the
answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from clientela.errors import WorkspaceError
from clientela.ingest.files import iter_line_chunks
from clientela.ingest.lander import EventLander, LandingReport
from clientela.workspace import Workspace

log = logging.getLogger("clientela.api.log")

LOG_FOLDER = "http-log"
LOG_SUFFIX = ".jsonl"
SOURCE_PREFIX = "http-log/"  # the ``source`` of landed events: http-log/<file name>


def log_dir(workspace: Workspace) -> Path:
    return workspace.state_dir / LOG_FOLDER


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_sync = getattr(os, "fdatasync", os.fsync)


class LogUnavailable(Exception):
    """The log could not take the lines (disk error, or the server is shutting down)."""


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


class HttpLog:
    """An append-only, group-committed log of accepted requests (one writer thread).

    :meth:`append` is called from the event loop and returns a future that completes once the
    lines are flushed to disk. Closed files are handed to ``on_closed``.
    """

    def __init__(
        self,
        folder: Path,
        *,
        rotate_bytes: int,
        rotate_seconds: float,
        on_closed: Callable[[Path, int], None],
    ) -> None:
        self.folder = folder
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.on_closed = on_closed
        self._cond = threading.Condition()
        self._pending: list[bytes] = []
        self._waiters: list[_Waiter] = []
        self._pending_bytes = 0
        self._closing = False
        self._rotate_asked = 0  # rotations asked for by rotate_now ...
        self._rotated = 0  # ... and done
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened = 0.0
        self._thread = threading.Thread(target=self._run, name="clientela-http-log", daemon=True)
        # Counters (read without the lock: they are only ever increased, by the writer).
        self.flushes = 0
        self.written_bytes = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes handed in and not yet flushed."""
        return self._pending_bytes

    def start(self) -> None:
        self._thread.start()

    def append(self, data: bytes) -> asyncio.Future[None]:
        """Queue whole lines; the future completes when they are on disk (or fails with
        :class:`LogUnavailable`)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._closing:
                raise LogUnavailable("the server is shutting down")
            self._pending.append(data)
            self._pending_bytes += len(data)
            self._waiters.append(_Waiter(loop, future))
            self._cond.notify_all()
        return future

    def rotate_now(self, timeout: float | None = None) -> bool:
        """Close the current file now (it is handed on for landing); False on timeout."""
        with self._cond:
            self._rotate_asked += 1
            asked = self._rotate_asked
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: self._rotated >= asked or not self._thread.is_alive(), timeout
            )

    def close(self) -> None:
        """Flush what is queued, close the current file (handing it on) and stop the writer."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    # -- the writer thread --------------------------------------------------------------------

    def _rotation_due(self, now: float) -> bool:
        if self._file is None or self._size == 0:
            return False
        return self._size >= self.rotate_bytes or now - self._opened >= self.rotate_seconds

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    now = time.monotonic()
                    if self._rotation_due(now) or self._rotate_asked > self._rotated:
                        break
                    timeout = None
                    if self._file is not None and self._size:
                        timeout = max(0.0, self._opened + self.rotate_seconds - now)
                    self._cond.wait(timeout)
                chunks, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                closing = self._closing
                asked = self._rotate_asked
            if chunks:
                error = self._write(chunks)
                with self._cond:
                    self._pending_bytes -= sum(len(c) for c in chunks)
                _resolve(waiters, error)
            if closing or asked > self._rotated or self._rotation_due(time.monotonic()):
                self._rotate()
            if asked > self._rotated:
                with self._cond:
                    self._rotated = asked
                    self._cond.notify_all()
            if closing:
                with self._cond:
                    if not self._pending:
                        self._rotated = self._rotate_asked
                        self._cond.notify_all()
                        return

    def _open(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"http-{stamp}-{uuid.uuid4().hex[:8]}{LOG_SUFFIX}"
        self._file = open(path, "xb", buffering=0)  # noqa: SIM115 (kept open across calls)
        _fsync_dir(self.folder)  # the new name is durable before any line in it is answered
        self._path = path
        self._size = 0
        self._opened = time.monotonic()

    def _write(self, chunks: list[bytes]) -> LogUnavailable | None:
        """Append and flush; on a disk error the file is closed (a fresh one is opened for the
        next write) and the error returned for the waiting requests."""
        data = b"".join(chunks)
        try:
            if self._file is None:
                self._open()
            assert self._file is not None
            view = memoryview(data)
            while view:
                written = self._file.write(view)
                if not written:
                    raise OSError("the log file took no bytes")
                view = view[written:]
            _sync(self._file.fileno())
        except Exception as exc:  # a disk error, mostly; whatever it is, answer it
            log.error("writing the HTTP log failed: %s", exc)
            # Whatever reached the file was never acknowledged; compaction lands the whole
            # lines (clients retry them; dedupe on messageId drops the repeats) and drops a
            # torn tail.
            self._size += 1  # make sure a non-empty file is handed on
            self._rotate()
            return LogUnavailable(f"the log could not be written: {exc}")
        self._size += len(data)
        self.flushes += 1
        self.written_bytes += len(data)
        return None

    def _rotate(self) -> None:
        if self._file is None or self._path is None:
            return
        path, size = self._path, self._size
        with contextlib.suppress(OSError):
            self._file.close()
        self._file, self._path, self._size = None, None, 0
        if size:
            self.on_closed(path, size)
        else:
            path.unlink(missing_ok=True)


def _resolve(waiters: list[_Waiter], error: Exception | None) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for waiter in waiters:
        by_loop.setdefault(waiter.loop, []).append(waiter.future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(_complete, futures, error)


def _complete(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


@dataclass
class CompactionStats:
    """What the compactor has done since the server started."""

    files: int = 0
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    torn_lines: int = 0
    errors: int = 0
    last_error: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, report: LandingReport) -> None:
        self.lines += report.lines
        self.accepted += report.accepted
        self.duplicates += report.duplicates
        self.quarantined += report.quarantined
        for reason, count in report.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count


def land_log_file(lander: EventLander, path: Path, chunk_bytes: int) -> tuple[LandingReport, int]:
    """Land one closed log file; returns the report and how many torn tail lines were dropped.

    The landed rows' ``source`` is ``http-log/<file name>`` and ``line`` the line in the file.
    """
    torn = _drop_torn_tail(path)
    report = LandingReport()
    source = SOURCE_PREFIX + path.name
    for table, _position in iter_line_chunks(path, chunk_bytes):
        named = table.set_column(
            0,
            "source",
            pa.DictionaryArray.from_arrays(
                pa.array([0] * table.num_rows, pa.int32()), pa.array([source])
            ).cast(pa.string()),
        )
        report.add(lander.land(named))
    return report, torn


def _drop_torn_tail(path: Path) -> int:
    """Cut off whatever follows the last line break (an unacknowledged, torn write)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "r+b") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Find the last line break, reading backwards in blocks.
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - (1 << 16))
            handle.seek(start)
            block = handle.read(end - start)
            at = block.rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            end = start
        log.warning("%s: dropping a torn last line (%d bytes, never answered)", path, size - keep)
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return 1


class _ServerWorkspace(Workspace):
    """The workspace as the compactor lands into it. A lander cleans ``tmp/`` when it opens,
    which would break a ``clientela ingest`` writing there at the same time; the compactor
    opens one every round, so it leaves ``tmp/`` alone (the server cleans it once, at start).
    """

    def clean_tmp(self) -> int:
        return 0


class Compactor:
    """Lands closed log files in the background (one thread), then deletes them.

    Files waiting are counted in :attr:`backlog_bytes` (the server refuses new work with
    ``429`` when it grows too large). Each round opens a fresh :class:`EventLander`, so events
    landed meanwhile by ``clientela ingest`` are seen by the dedupe, and its memory is given
    back between rounds.
    """

    def __init__(
        self,
        workspace: Workspace,
        folder: Path,
        *,
        threads: int = 1,
        nice: int = 5,
        retry_seconds: float = 5.0,
    ) -> None:
        self.workspace = _ServerWorkspace(workspace.root, workspace.settings)
        self.folder = folder
        self.threads = threads
        self.nice = nice
        self.retry_seconds = retry_seconds
        self.stats = CompactionStats()
        self._queue: queue.Queue[tuple[Path, int] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._backlog = 0
        self._busy = 0  # files queued or being landed
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="clientela-compactor", daemon=True)

    @property
    def backlog_bytes(self) -> int:
        return self._backlog

    def start(self, leftovers: list[Path]) -> None:
        Workspace.clean_tmp(self.workspace)
        for path in leftovers:
            self.submit(path, path.stat().st_size)
        self._thread.start()

    def submit(self, path: Path, size: int) -> None:
        with self._lock:
            self._backlog += size
            self._busy += 1
        self._queue.put((path, size))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every submitted file is landed; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def stop(self) -> None:
        """Land what is queued, then stop."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        if self.nice:
            # Landing is background work: on Linux a thread has its own nice value, so
            # requests keep their core while a big round lands (it still gets idle time,
            # and the backlog limit answers 429 if it falls too far behind).
            with contextlib.suppress(AttributeError, OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        retry: list[tuple[Path, int]] = []  # files whose landing failed: tried again later
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=self.retry_seconds if retry else None)
            except queue.Empty:
                batch, retry = retry, []
                retry.extend(self._land(batch))
                continue
            batch = retry
            retry = []
            if item is None:
                stopping = True
            else:
                batch.append(item)
            while not stopping:  # take every file already waiting: one lander per round
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                else:
                    batch.append(more)
            if batch:
                retry.extend(self._land(batch))
        for _path, size in retry:  # they stay on disk; the next start lands them
            self._done(size)

    def _land(self, batch: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
        """Land the files; returns the ones that failed (they stay on disk)."""
        try:
            lander = EventLander(self.workspace)
            if self.threads:
                lander.con.execute(f"SET threads = {int(self.threads)}")
        except Exception as exc:
            self._failed(batch[0][0], exc)
            return batch
        failed: list[tuple[Path, int]] = []
        try:
            for path, size in batch:
                try:
                    report, torn = land_log_file(
                        lander, path, self.workspace.settings.ingest.chunk_bytes
                    )
                    path.unlink()
                    _fsync_dir(self.folder)
                except Exception as exc:
                    self._failed(path, exc)
                    failed.append((path, size))
                    continue
                self.stats.files += 1
                self.stats.torn_lines += torn
                self.stats.add(report)
                self._done(size)
        finally:
            lander.close()
        return failed

    def _failed(self, path: Path, exc: Exception) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{path.name}: {type(exc).__name__}: {exc}"
        log.exception("landing %s failed; it is tried again later", path)

    def _done(self, size: int) -> None:
        with self._idle:
            self._backlog -= size
            self._busy -= 1
            if self._busy == 0:
                self._idle.notify_all()


class LogLock:
    """One server per workspace: an exclusive lock on ``state/http-log/.lock``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / ".lock"
        self._handle: Any = None

    def acquire(self) -> None:
        handle = open(self.path, "a+b")  # noqa: SIM115 (held for the server's life)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise WorkspaceError(
                f"another clientela server is already serving this workspace ({self.path} is "
                "locked); stop it first"
            ) from None
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def leftover_logs(folder: Path) -> list[Path]:
    """Log files left by earlier runs (oldest first): the next run lands them first."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.glob(f"http-*{LOG_SUFFIX}") if p.is_file())
