"""Small data: start-up of the command line, and the fixed cost of the job on a tiny workspace.

    .venv/bin/python bench/small.py                 # 10 people of the demo world
    .venv/bin/python bench/small.py --contacts 50 --repeat 5

Issue 12's targets: ``clientela --help`` under 0.5 s and ``clientela score`` on 10 contacts
under 3 s. On so little data the job's time is fixed cost, so this prints where it goes:

1. **start-up**, each command run ``--repeat`` times in a fresh interpreter: wall time and the
   child's user and system CPU (``getrusage``; CPU time is what load on the machine changes
   least): ``import clientela.cli``, ``clientela --help``, ``clientela score --help``,
   ``clientela score`` on the workspace.
2. **one job in this process** (``pipeline.run`` as ``score`` runs it), split into: importing
   the engine stack and the job's modules; Ibis turning expressions into sqlglot trees (its
   rewrites); sqlglot writing SQL text; DuckDB running statements (counted, with the slowest);
   the rest (building expressions in clientela and Ibis, Python around it).

The workspace is ``clientela demo DIR --contacts N`` (the demo world's N people, landed,
CRM imported) in a temporary folder; the job runs as of the demo world's end, 2026-06-30.
Nothing of clientela is imported before step 2, so its imports are measured there.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

AS_OF = "2026-06-30"


def _child_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def timed_command(args: list[str], repeat: int) -> list[tuple[float, float, float]]:
    """(wall, user CPU, system CPU) seconds of each of ``repeat`` runs of ``args``."""
    runs = []
    for _ in range(repeat):
        user, system = _child_cpu()
        started = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        user_after, system_after = _child_cpu()
        runs.append((wall, user_after - user, system_after - system))
    return runs


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def print_startup(workspace: Path, repeat: int) -> None:
    python = [sys.executable]
    cli = [*python, "-m", "clientela.cli"]
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"{'command':<44} {'wall s (median, min)':>22} {'user CPU s':>11} {'sys CPU s':>10}")
    for label, args in (
        ("python -c pass", [*python, "-c", "pass"]),
        ('python -c "import clientela.cli"', [*python, "-c", "import clientela.cli"]),
        ("clientela --help", [*cli, "--help"]),
        ("clientela score --help", [*cli, "score", "--help"]),
        (
            f"clientela score --as-of {AS_OF} (on the workspace)",
            [*cli, "score", "--as-of", AS_OF, "-w", str(workspace)],
        ),
    ):
        runs = timed_command(args, repeat)
        walls = [r[0] for r in runs]
        print(
            f"{label:<44} {_median(walls):>13.2f}, {min(walls):.2f} "
            f"{_median([r[1] for r in runs]):>11.2f} {_median([r[2] for r in runs]):>10.2f}"
        )


class Tally:
    """Seconds and calls per kind of work; the slowest DuckDB statements."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.statements: list[tuple[float, str]] = []
        self._depth: dict[str, int] = defaultdict(int)

    @contextmanager
    def measure(self, kind: str) -> Any:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[kind] += time.perf_counter() - started
            self.calls[kind] += 1

    def wrap(self, owner: Any, name: str, kind: str) -> None:
        """Time every call of ``owner.name`` as ``kind`` (outermost calls of a kind only)."""
        original: Callable[..., Any] = getattr(owner, name)
        tally = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            if tally._depth[kind]:
                return original(*args, **kwargs)
            tally._depth[kind] += 1
            try:
                with tally.measure(kind):
                    return original(*args, **kwargs)
            finally:
                tally._depth[kind] -= 1

        setattr(owner, name, timed)


class TimedRelation:
    """A DuckDB relation (or executed cursor) whose fetching counts as running its statement."""

    def __init__(self, relation: Any, sql: str, tally: Tally) -> None:
        self._relation, self._sql, self._tally = relation, sql, tally

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._relation, name)
        if not callable(value) or not name.startswith(("fetch", "to_", "arrow", "df")):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - started
                self._tally.seconds["duckdb"] += seconds
                self._tally.statements.append((seconds, self._sql))

        return timed


class TimedConnection:
    """The DuckDB connection Ibis holds, with every statement counted and timed."""

    def __init__(self, con: Any, tally: Tally) -> None:
        self._con, self._tally = con, tally

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = self._con.execute(query, *args, **kwargs)
        seconds = time.perf_counter() - started
        self._tally.seconds["duckdb"] += seconds
        self._tally.calls["duckdb"] += 1
        self._tally.statements.append((seconds, str(query)))
        return TimedRelation(result, str(query), self._tally)

    def sql(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        relation = self._con.sql(query, *args, **kwargs)
        seconds = time.perf_counter() - started
        self._tally.seconds["duckdb"] += seconds
        self._tally.calls["duckdb"] += 1
        return TimedRelation(relation, str(query), self._tally) if relation is not None else None


def print_breakdown(workspace: Path) -> None:
    """One job in this process, its time split by kind of work."""
    # The wrappers below are the callers DuckDB's deprecation warnings would name.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    tally = Tally()
    started = time.perf_counter()
    with tally.measure("imports"):
        from datetime import UTC, datetime, timedelta

        import sqlglot.expressions as sge
        from ibis.backends.sql.compilers.base import SQLGlotCompiler
        from ibis.backends.sql.compilers.duckdb import DuckDBCompiler

        from clientela import audience, identity, lifecycle, pipeline, profiles, scoring, stages
        from clientela.engine import Engine, connect
        from clientela.workspace import open_workspace
    tally.wrap(sge.Expression, "sql", "sqlglot to text")
    for compiler in (DuckDBCompiler, SQLGlotCompiler):  # the outermost call counts
        tally.wrap(compiler, "to_sqlglot", "ibis to sqlglot")
    steps = Tally()
    for owner, name in (
        (identity, "resolve"),
        (profiles, "build"),
        (audience, "classify"),
        (scoring, "score"),
        (stages, "subscriptions"),
        (stages, "build"),
        (scoring, "account_scores"),
        (lifecycle, "build"),
        (Engine, "publish"),
    ):
        steps.wrap(owner, name, f"{owner.__name__.rsplit('.', 1)[-1]}.{name}")
    ws = open_workspace(workspace)
    with tally.measure("connect"):
        engine = connect(ws)
    engine.backend.con = TimedConnection(engine.backend.con, tally)
    as_of = datetime.fromisoformat(AS_OF).replace(tzinfo=UTC) + timedelta(days=1, microseconds=-1)
    try:
        with tally.measure("job"):
            report = pipeline.run(engine, ws, as_of=as_of)
    finally:
        engine.close()
    total = time.perf_counter() - started
    s = tally.seconds
    rest = s["job"] - s["duckdb"] - s["ibis to sqlglot"] - s["sqlglot to text"]
    print(f"\none job in-process on {report.rows.get('contacts', 0)} contacts: {total:.2f} s")
    for label, seconds, calls in (
        ("imports (engine stack and the job's modules)", s["imports"], 1),
        ("connect", s["connect"], 1),
        ("Ibis expression -> sqlglot tree", s["ibis to sqlglot"], tally.calls["ibis to sqlglot"]),
        ("sqlglot tree -> SQL text", s["sqlglot to text"], tally.calls["sqlglot to text"]),
        ("DuckDB statements", s["duckdb"], tally.calls["duckdb"]),
        ("the rest (building expressions, Python)", rest, 0),
    ):
        share = 100 * seconds / total
        per = f"  ({calls} calls, {1000 * seconds / calls:.0f} ms each)" if calls > 1 else ""
        print(f"  {label:<46} {seconds:6.2f} s {share:4.0f} %{per}")
    print("  the job by step (each step's own calls: building, compiling, running):")
    for name, seconds in steps.seconds.items():
        print(f"    {name:<44} {seconds:6.2f} s {100 * seconds / total:4.0f} %")
    counted = sum(steps.seconds.values())
    print(f"    {'the rest (caches, row counts, run_info)':<44} {s['job'] - counted:6.2f} s")
    print("  slowest DuckDB statements:")
    for seconds, sql in sorted(tally.statements, reverse=True)[:5]:
        print(f"    {seconds:6.3f} s  {' '.join(sql.split())[:100]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clientela-small-") as tmp:
        workspace = Path(tmp) / "ws"
        demo = ["demo", str(workspace), "--contacts", str(args.contacts)]
        subprocess.run(
            [sys.executable, "-m", "clientela.cli", *demo],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print_startup(workspace, args.repeat)
        print_breakdown(workspace)


if __name__ == "__main__":
    main()
