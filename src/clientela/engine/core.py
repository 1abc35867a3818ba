"""Open an engine for a workspace and read landed data as Ibis tables."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from clientela import schema
from clientela.errors import ClientelaError
from clientela.workspace import Workspace

CURRENT = "CURRENT"


WRITING = ".writing"
"""Marker file inside a version folder while it is being written; its writer holds a lock
on it (released by the OS when the writer dies), so a stale folder can be told apart."""


class WorkspaceBusyError(ClientelaError):
    """Another process holds the workspace's engine file (a run, an ingest, a server)."""


class DiskFullError(ClientelaError):
    """The disk the engine writes to is full."""


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in .*?\(PID (\d+)\)", re.DOTALL)


def translate_engine_error(exc: BaseException, where: str = "") -> ClientelaError | None:
    """The one-sentence error for an engine failure a user can act on (the workspace is in
    use by another process, the disk is full), or None for any other failure.

    DuckDB (and Spark) say these in their own words, with paths and links; they are
    recognised by their message, so every path that meets them says the same thing."""
    text = str(exc)
    at = f" {where}" if where else ""
    if "Could not set lock on file" in text or "Conflicting lock is held" in text:
        found = _LOCK_HOLDER.search(text)
        pid = f" (pid {found.group(1)})" if found else ""
        return WorkspaceBusyError(
            f"the workspace{at} is in use by another clientela process{pid}: wait for it to "
            "finish or stop it, then try again"
        )
    no_space = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    if no_space or "No space left on device" in text:
        return DiskFullError(
            f"the disk is full (no space left on device) while the engine was writing{at}: "
            "free some space on it and try again; nothing was published"
            if where.startswith("results")
            else f"the disk is full (no space left on device) while the engine was "
            f"writing{at}: free some space on it and try again"
        )
    return None


@contextmanager
def engine_errors(where: str = "") -> Iterator[None]:
    """Raise the errors :func:`translate_engine_error` recognises as its one sentence."""
    try:
        yield
    except Exception as exc:
        translated = translate_engine_error(exc, where)
        if translated is None:
            raise
        raise translated from exc


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def duckdb_memory_limit(text: str) -> str:
    """A validated ``[engine] memory_limit`` (see :func:`clientela.config.memory_limit_text`)
    as DuckDB takes it: DuckDB knows sizes but not shares, so ``80%`` becomes bytes."""
    if text.endswith("%"):
        return f"{int(machine_memory() * float(text[:-1]) / 100)}B"
    return text


def scratch_duckdb(threads: int = 0, memory_limit: str = "") -> Any:
    """A private in-memory DuckDB connection, in UTC, for landing work (parsing, normalising).

    Landing always runs embedded, whatever the compute engine: it turns files into Parquet,
    which is what both engines read.
    """
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [duckdb_memory_limit(memory_limit)])
    # Keep freed memory for the next chunk instead of handing it back to the OS after every
    # statement: on virtual machines, touching fresh pages costs more than the parsing does.
    con.execute("SET allocator_flush_threshold = '2GB'")
    con.execute("SET allocator_bulk_deallocation_flush_threshold = '2GB'")
    return con


@dataclass
class Engine:
    """A connected Ibis backend plus the workspace whose landed data it reads."""

    workspace: Workspace
    backend: Any
    kind: str
    as_of: datetime | None = None
    """When set, landed data is read as it stood then: events up to this time, CRM contacts
    created by then (rows without a creation date count as always known)."""
    _tables: dict[str, ir.Table] = field(default_factory=dict)
    _caches: list[str] = field(default_factory=list)

    def set_as_of(self, moment: datetime | None) -> None:
        """Read landed data as of ``moment`` (None: everything), for replaying past dates."""
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        self.as_of = moment
        self.refresh()

    def landed(self, name: str) -> ir.Table:
        """The landed table ``events``, ``contacts`` or ``accounts``; empty when nothing landed."""
        if name not in self._tables:
            table = self._read(name)
            if self.as_of is not None:
                cut = ibis.literal(self.as_of, type="timestamp('UTC')")
                if name == "events":
                    table = table.filter(table.timestamp <= cut)
                elif name == "contacts":
                    table = table.filter(table.created_at.isnull() | (table.created_at <= cut))
            self._tables[name] = table
        return self._tables[name]

    def _read(self, name: str) -> ir.Table:
        folder = {
            "events": self.workspace.events_dir,
            "contacts": self.workspace.contacts_dir,
            "accounts": self.workspace.accounts_dir,
        }[name]
        files = [str(p) for p in self.workspace.segments(folder)]
        table_schema = schema.LANDED_SCHEMAS[name]
        if not files:
            if self.kind == "spark":
                # Ibis's Spark backend has no temporary tables; going through Spark gives the
                # column types Spark gives landed Parquet, so unions with other tables match.
                empty = ibis.schema(table_schema).to_pyarrow().empty_table()
                return self.cache(ibis.memtable(empty))
            return self.backend.create_table(
                f"empty_{name}", schema=ibis.schema(table_schema), temp=True, overwrite=True
            )
        if self.kind == "spark":
            # Spark reads a folder of Parquet files; only whole segments live there.
            return self.backend.read_parquet(str(folder), table_name=f"landed_{name}")
        return self.backend.read_parquet(files, table_name=f"landed_{name}", union_by_name=True)

    def json_entries(self, table: ir.Table, column: str, keep: list[str]) -> ir.Table:
        """One row per key of the JSON object in ``column``: the ``keep`` columns plus ``key``
        and ``value`` (text; strings without quotes, nested values as JSON, null as NULL).

        Ibis has no portable way to explode a JSON object, so each engine gets its own SQL
        with the same meaning. Rows whose column is not an object give no rows.
        """
        self._register_memtables(table)
        inner = self.backend.compile(table)
        cols = ", ".join(f"`{c}`" if self.kind == "spark" else f'"{c}"' for c in keep)
        if self.kind == "spark":
            sql = (
                f"SELECT {cols}, e.key AS key, e.value AS value FROM ({inner}) t "
                f"LATERAL VIEW explode(from_json(t.`{column}`, 'map<string,string>')) e "
                "AS key, value"
            )
        else:
            sql = (
                f"SELECT {cols}, unnest(map_keys(m)) AS key, unnest(map_values(m)) AS value "
                f"FROM (SELECT *, CASE WHEN json_type(try_cast(\"{column}\" AS JSON)) = 'OBJECT' "
                f'THEN CAST("{column}"::JSON AS MAP(VARCHAR, VARCHAR)) END AS m FROM ({inner}))'
            )
        return self.backend.sql(sql)

    def json_fields(self, table: ir.Table, paths: dict[str, dict[str, str]]) -> ir.Table:
        """``table`` plus one text column per ``{json column: {name: "a.b"}}`` path (scalars
        as text, nested values as JSON, missing as NULL).

        Ibis's JSON access does not run on Spark, so each engine gets its own SQL. DuckDB
        parses each JSON column once for all its paths (one list-valued extraction).
        """
        wanted = {column: fields for column, fields in paths.items() if fields}
        if not wanted:
            return table
        self._register_memtables(table)
        inner = self.backend.compile(table)
        if self.kind == "spark":
            extra = ", ".join(
                f"get_json_object(t.`{column}`, '$.{path}') AS `{name}`"
                for column, fields in wanted.items()
                for name, path in fields.items()
            )
            return self.backend.sql(f"SELECT t.*, {extra} FROM ({inner}) t")
        lists = ", ".join(
            f'json_extract_string(t."{column}", ['
            + ", ".join(f"'$.{path}'" for path in fields.values())
            + f']) AS "__{column}"'
            for column, fields in wanted.items()
        )
        items = ", ".join(
            f'"__{column}"[{i}] AS "{name}"'
            for column, fields in wanted.items()
            for i, name in enumerate(fields, start=1)
        )
        drop = ", ".join(f'"__{column}"' for column in wanted)
        return self.backend.sql(
            f"SELECT * EXCLUDE ({drop}), {items} FROM (SELECT t.*, {lists} FROM ({inner}) t)"
        )

    def json_array_field(
        self, table: ir.Table, column: str, array: str, field: str, keep: list[str]
    ) -> ir.Table:
        """One row per item of the JSON array at ``array`` in ``column``: the ``keep`` columns
        plus ``value``, the item's ``field`` as text (items without it give no row)."""
        self._register_memtables(table)
        inner = self.backend.compile(table)
        if self.kind == "spark":
            cols = ", ".join(f"t.`{c}`" for c in keep)
            sql = (
                f"SELECT {cols}, e.item.`{field}` AS value FROM ({inner}) t "
                f"LATERAL VIEW explode(from_json(get_json_object(t.`{column}`, '$.{array}'), "
                f"'array<struct<`{field}`:string>>')) e AS item"
            )
        else:
            cols = ", ".join(f'"{c}"' for c in keep)
            sql = (
                f"SELECT {cols}, value FROM (SELECT {cols}, unnest(json_extract_string("
                f"\"{column}\", '$.{array}[*].{field}')) AS value FROM ({inner}))"
            )
        return self.backend.sql(sql).filter(ibis._.value.notnull())

    def json_array_items(
        self, table: ir.Table, column: str, array: str, fields: list[str], keep: list[str]
    ) -> ir.Table:
        """One row per item of the JSON array at ``array`` in ``column``: the ``keep`` columns
        plus one text column per name in ``fields`` (the item's field, NULL when absent), so
        fields of the same item stay together (``price`` and ``quantity`` of one line)."""
        self._register_memtables(table)
        inner = self.backend.compile(table)
        if self.kind == "spark":
            cols = ", ".join(f"t.`{c}`" for c in keep)
            struct = ", ".join(f"`{f}`:string" for f in fields)
            items = ", ".join(f"e.item.`{f}` AS `{f}`" for f in fields)
            sql = (
                f"SELECT {cols}, {items} FROM ({inner}) t "
                f"LATERAL VIEW explode(from_json(get_json_object(t.`{column}`, '$.{array}'), "
                f"'array<struct<{struct}>>')) e AS item"
            )
        else:
            cols = ", ".join(f'"{c}"' for c in keep)
            items = ", ".join(f"json_extract_string(item, '$.{f}') AS \"{f}\"" for f in fields)
            sql = (
                f"SELECT {cols}, {items} FROM (SELECT {cols}, unnest(json_extract("
                f"\"{column}\", '$.{array}[*]')) AS item FROM ({inner}))"
            )
        return self.backend.sql(sql)

    def publish(self, tables: dict[str, ir.Table], on_table: Any = None) -> str:
        """Write result tables as a new version and make it current in one atomic step.

        Readers keep seeing the previous version until the pointer file is swapped. While
        the folder is written it holds a locked :data:`WRITING` marker; a publish that fails
        removes its folder, and one that was killed leaves the marker unlocked, so the next
        publish removes it (:meth:`clean_unpublished`).
        """
        self.clean_unpublished()
        version = datetime.now(UTC).strftime("v%Y%m%dT%H%M%S%f")
        folder = self.workspace.results_dir / version
        with engine_errors(f"results/{version}"):
            folder.mkdir(parents=True)
            marker = open(folder / WRITING, "w", encoding="ascii")  # noqa: SIM115
        try:
            fcntl.flock(marker.fileno(), fcntl.LOCK_EX)
            marker.write(f"{os.getpid()}\n")
            marker.flush()
            with engine_errors(f"results/{version}"):
                for name, expr in tables.items():
                    self.backend.to_parquet(expr, str(folder / f"{name}.parquet"))
                    if on_table is not None:
                        on_table(name)
            # Unlinked while still locked: a cleaner that gets the lock afterwards sees the
            # marker gone and leaves the (now complete) folder alone.
            (folder / WRITING).unlink()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            marker.close()
        pointer = self.workspace.results_dir / CURRENT
        with engine_errors("results/CURRENT"), self.workspace.atomic_file(pointer) as tmp:
            tmp.write_text(version + "\n", encoding="utf-8")
        return version

    def clean_unpublished(self) -> list[str]:
        """Remove the version folders whose publish died half-way; returns their names.

        Only folders that still hold a :data:`WRITING` marker nobody holds a lock on: a
        folder being written (by this or another live process) has its marker locked, the
        current version and every complete one have none. Folders without a marker are
        never touched (complete versions, or ones written before markers existed).
        """
        results = self.workspace.results_dir
        if not results.is_dir():
            return []
        pointer = results / CURRENT
        current = pointer.read_text(encoding="utf-8").strip() if pointer.exists() else None
        removed = []
        for folder in sorted(results.iterdir()):
            marker = folder / WRITING
            if folder.name == current or not folder.is_dir() or not marker.exists():
                continue
            try:
                handle = open(marker, "rb")  # noqa: SIM115
            except OSError:
                continue  # finished (or removed) meanwhile
            with handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # its writer is alive
                try:
                    same = os.stat(marker).st_ino == os.fstat(handle.fileno()).st_ino
                except FileNotFoundError:
                    same = False  # the writer finished just before we got the lock
                if same:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder.name)
        return removed

    def current_version(self) -> str | None:
        """The published version readers see, or None before the first run."""
        pointer = self.workspace.results_dir / CURRENT
        if not pointer.exists():
            return None
        return pointer.read_text(encoding="utf-8").strip() or None

    def published(self, name: str) -> ir.Table:
        """A table of the current published version."""
        version = self.current_version()
        if version is None:
            raise ClientelaError("nothing is published yet in this workspace; run: clientela run")
        path = self.workspace.results_dir / version / f"{name}.parquet"
        if not path.exists():
            raise ClientelaError(f"published version {version} has no table '{name}'")
        key = f"published_{name}_{version}"
        if key not in self._tables:
            self._tables[key] = self.backend.read_parquet(str(path), table_name=key)
        return self._tables[key]

    def published_or_empty(self, name: str, shape: pa.Schema) -> ir.Table:
        """A table of the current published version, or an empty table of ``shape`` when that
        version was written before the table existed (so reads never fail on an older
        version). Like :meth:`published`, it says what to do when nothing is published."""
        version = self.current_version()
        if version is None:
            raise ClientelaError("nothing is published yet in this workspace; run: clientela run")
        if not (self.workspace.results_dir / version / f"{name}.parquet").exists():
            return ibis.memtable(shape.empty_table())
        return self.published(name)

    def cache(self, expr: ir.Table) -> ir.Table:
        """Compute a table once and keep it for the rest of this run, under a fresh name.

        (Ibis's own ``cache()`` shares one table between equal expressions and drops it when
        either is garbage-collected, which broke runs on empty workspaces.)
        """
        name = f"clientela_cache_{uuid.uuid4().hex}"
        self._caches.append(name)
        if self.kind == "spark":
            # Spark's cache() keeps the whole lineage, and plans built from many reused
            # pieces grow until the driver runs out of memory printing them. A local
            # checkpoint computes the table once and starts a fresh, flat lineage.
            self._register_memtables(expr)
            session = self.backend._session
            frame = session.sql(str(self.backend.compile(expr))).localCheckpoint(eager=True)
            frame.createOrReplaceTempView(name)
            return self.backend.table(name)
        with engine_errors("its temporary tables"):
            return self.backend.create_table(name, expr, temp=True)

    def _register_memtables(self, expr: ir.Expr) -> None:
        """In-memory tables inside ``expr`` must exist in the engine before its SQL is run by
        hand (Ibis registers them itself only when it runs an expression)."""
        self.backend._run_pre_execute_hooks(expr)

    def to_arrow(self, expr: ir.Expr) -> pa.Table:
        """Run an expression and return its rows."""
        with engine_errors():
            return self.backend.to_pyarrow(expr)

    def drop_caches(self) -> None:
        """Drop the tables :meth:`cache` made (a long-lived engine, such as a server's
        reader, would otherwise keep every request's intermediate tables in memory)."""
        names, self._caches = self._caches, []
        for name in names:
            if self.kind == "spark":
                self.backend._session.catalog.dropTempView(name)
            else:
                self.backend.con.execute(f'DROP TABLE IF EXISTS temp.main."{name}"')

    def interrupt(self) -> None:
        """Cancel what the engine is running now, from another thread (the query that runs
        fails; the engine stays usable). Nothing happens when it is idle."""
        if self.kind == "spark":
            self.backend._session.sparkContext.cancelAllJobs()
        else:
            self.backend.con.interrupt()

    def refresh(self) -> None:
        """Forget cached table handles so newly landed segments are seen."""
        self._tables.clear()

    def close(self) -> None:
        """Release the backend (DuckDB file lock)."""
        if self.kind == "spark":
            return  # the Spark session is shared by the process; stopping it is the owner's job
        disconnect = getattr(self.backend, "disconnect", None)
        if disconnect is not None:
            disconnect()


def connect(workspace: Workspace, kind: str | None = None, reader: bool = False) -> Engine:
    """Connect the engine the workspace's ``[engine]`` section (or ``kind``) asks for.

    ``reader=True`` is for code that only reads published results (metrics, the report, the
    server): on DuckDB it gets a private in-memory database instead of the workspace's file,
    so any number of readers run while the main job holds the file's lock.
    """
    settings = workspace.settings.engine
    chosen = kind or settings.kind
    if chosen == "duckdb":
        with engine_errors(str(workspace.root)):
            if reader:
                backend = ibis.duckdb.connect(":memory:")
            else:
                path = workspace.root / settings.duckdb_file
                path.parent.mkdir(parents=True, exist_ok=True)
                backend = ibis.duckdb.connect(str(path))
        con = backend.con
        con.execute("SET TimeZone = 'UTC'")
        if settings.threads:
            con.execute(f"SET threads = {int(settings.threads)}")
        if settings.memory_limit:
            # Validated by the settings, and passed as a parameter all the same.
            con.execute("SET memory_limit = ?", [duckdb_memory_limit(settings.memory_limit)])
        return Engine(workspace=workspace, backend=backend, kind="duckdb")
    if chosen == "spark":
        return Engine(workspace=workspace, backend=_spark_backend(workspace), kind="spark")
    raise ClientelaError(f"engine '{chosen}' is not known; expected 'duckdb' or 'spark'")


def _spark_backend(workspace: Workspace) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ClientelaError(
            "engine 'spark' needs PySpark: pip install 'clientela[spark]' (and Java 17)"
        ) from None
    spark_settings = workspace.settings.engine.spark
    # The workers must run the same interpreter as the driver (same pyarrow, same ibis).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(spark_settings.master)
        .appName(spark_settings.app_name)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in spark_settings.conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    return ibis.pyspark.connect(session)
