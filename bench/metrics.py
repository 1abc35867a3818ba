"""Metrics speed on the demo world: the whole HTML report and every metric against raw DuckDB.

    .venv/bin/python bench/metrics.py                      # the published 770,000-contact world
    .venv/bin/python bench/metrics.py --run-job --job-memory-limit 1.5GB   # publish first
    .venv/bin/python bench/metrics.py --explain sessions   # DuckDB's profile of one metric

The workspace is the one bench/ingest.py lands and bench/score.py scores
(bench/out/world-770000/bench-workspace, ≈ 19.8 million events). The metrics read the main
job's published results, the ``activity`` table above all (one narrow row per contact event);
``--run-job`` runs and publishes the job first (as of the demo world's end,
2026-06-30T23:59:59Z, with the ``[audience]`` section ``clientela demo`` writes, as
bench/score.py does), and so does a run on a workspace whose results have no ``activity``.

Children run one after the other, each measuring its own peak RSS:

* **job** (only when asked or needed): ``pipeline.run``, timed as computing (everything
  ``pipeline.compute`` does, its caches included) plus writing each published table.
* **baseline**: plain DuckDB (no Ibis) making one aggregate pass over the published
  ``activity`` Parquet (per event and month: rows and distinct contacts), materialised as a
  temporary table: the least work any metric over the events could do. Run once cold and
  ``--baseline-runs`` times warm, before the report and again after the metrics; the
  median of all warm runs is the one compared (the VM's load changes in between).
* **report**: a reader engine (``connect(ws, reader=True)``: a private in-memory DuckDB)
  rendering the whole HTML report with ``clientela.report.render`` and writing it; the time
  from one metric's "done" to the next is shown per metric (it includes building the
  HTML of the sections in between, which is small). ``--report-runs N``: N runs, the
  median compared.
* **metrics**: a fresh reader engine computing every registered metric with the default
  ``Query()`` (the report's range and period), one after the other, each timed on its own.

The target is the whole report in at most 5 times the raw pass.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DEFAULT_WORKSPACE = BENCH / "out" / "world-770000" / "bench-workspace"
AS_OF = "2026-06-30T23:59:59+00:00"
TARGET_RATIO = 5.0
RAW_SQL = (
    "CREATE OR REPLACE TEMP TABLE agg AS "
    "SELECT event, date_trunc('month', timestamp) AS month, count(*) AS n, "
    "count(DISTINCT contact_id) AS contacts "
    "FROM read_parquet(?) GROUP BY ALL"
)


def peak_mb() -> float:
    """Peak RSS of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def settings_of(root: Path, memory_limit: str) -> Any:
    """The workspace as bench/score.py sees it: ``[audience]`` as ``clientela demo`` writes
    it, and DuckDB's ``memory_limit`` when one is given."""
    sys.path.insert(0, str(BENCH))
    from score import bench_settings  # bench/score.py: the same settings as the scoring bench

    return bench_settings(root, "demo", memory_limit)


def published_activity(root: Path) -> Path | None:
    """The current published version's ``activity`` Parquet, or None."""
    pointer = root / "results" / "CURRENT"
    if not pointer.exists():
        return None
    path = root / "results" / pointer.read_text(encoding="utf-8").strip() / "activity.parquet"
    return path if path.exists() else None


# --------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------


def job(root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The main job, published: compute time, then each table's writing time."""
    from clientela import pipeline
    from clientela.engine import connect

    ws = settings_of(root, options["job_memory_limit"])
    engine = connect(ws)
    marks: list[tuple[str, float]] = []
    compute = pipeline.compute

    def timed_compute(*args: Any, **kwargs: Any) -> Any:
        tables = compute(*args, **kwargs)
        marks.append(("compute", time.perf_counter()))
        return tables

    pipeline.compute = timed_compute  # type: ignore[assignment]
    started = time.perf_counter()
    report = pipeline.run(
        engine,
        ws,
        on_table=lambda name: marks.append((name, time.perf_counter())),
        as_of=datetime.fromisoformat(AS_OF),
    )
    engine.close()
    seconds: dict[str, float] = {}
    before = started
    for name, at in marks:
        seconds[name] = at - before
        before = at
    return {
        "seconds": report.seconds,
        "steps": seconds,
        "rows": report.rows,
        "version": report.version,
        "memory_limit": ws.settings.engine.memory_limit,
    }


def baseline(root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """One plain-DuckDB aggregate pass over the published ``activity``, materialised: once
    cold (whatever is in the page cache) and then ``runs`` times warm."""
    import duckdb

    path = published_activity(root)
    assert path is not None
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if options["memory_limit"]:
        con.execute("SET memory_limit = ?", [options["memory_limit"]])
    runs: list[float] = []
    cpu: list[float] = []
    for _run in range(1 + options["baseline_runs"]):
        started, cpu_started = time.perf_counter(), cpu_seconds()
        con.execute(RAW_SQL, [str(path)])
        row = con.execute("SELECT count(*), sum(n) FROM agg").fetchone()
        assert row is not None
        runs.append(time.perf_counter() - started)
        cpu.append(cpu_seconds() - cpu_started)
    warm = runs[1:]
    return {
        "cold_seconds": runs[0],
        "warm_seconds": warm,
        "seconds": statistics.median(warm),
        "cpu": statistics.median(cpu[1:]),
        "warm_cpu": cpu[1:],
        "cells": row[0],
        "rows": int(row[1]),
        "bytes": path.stat().st_size,
        "version": path.parent.name,
    }


def report(root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The whole HTML report on a reader engine, rendered and written."""
    from clientela import report as html_report
    from clientela.engine import connect

    ws = settings_of(root, options["memory_limit"])
    engine = connect(ws, reader=True)
    done: list[tuple[str, float, float]] = []
    started, cpu_started = time.perf_counter(), cpu_seconds()
    size = html_report.write(
        engine,
        ws.settings,
        Path(options["out"]) / "report.html",
        on_metric=lambda name: done.append((name, time.perf_counter(), peak_mb())),
    )
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_started
    engine.close()
    per_metric: dict[str, float] = {}
    before = started
    for name, at, _peak in done:
        per_metric[name] = at - before
        before = at
    return {
        "seconds": seconds,
        "cpu": cpu,
        "bytes": size,
        "per_metric": per_metric,
        "after_metrics": seconds - (before - started),
        "peak_after": {name: peak for name, _at, peak in done},
        "memory_limit": ws.settings.engine.memory_limit,
    }


def each_metric(root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Every registered metric with the default Query(), one after the other."""
    from clientela import metrics
    from clientela.engine import connect
    from clientela.errors import ClientelaError

    ws = settings_of(root, options["memory_limit"])
    engine = connect(ws, reader=True)
    names = options["only"] or list(metrics.REGISTRY)
    out: dict[str, Any] = {}
    for name in names:
        started, cpu_started = time.perf_counter(), cpu_seconds()
        try:
            result = metrics.compute(engine, ws.settings, name, metrics.Query())
            rows: int | str = len(result.rows)
        except ClientelaError as exc:
            rows = f"error: {exc}"
        out[name] = {
            "seconds": time.perf_counter() - started,
            "cpu": cpu_seconds() - cpu_started,
            "rows": rows,
            "peak_rss_mb": peak_mb(),
        }
        print(f"# {name} {out[name]['seconds']:.1f} s", file=sys.stderr, flush=True)
    engine.close()
    return {"metrics": out}


def explain(root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """DuckDB's profile of the queries one metric runs (its facts when cached, its cells, each
    quantile), as ``metrics.compute`` builds them with the default Query(): the SQL and the
    costliest operators (time summed over threads, rows out)."""
    from clientela import metrics
    from clientela.engine import connect
    from clientela.metrics.base import Context, _with_dimensions, nearest_rank

    ws = settings_of(root, options["memory_limit"])
    engine = connect(ws, reader=True)
    metric = metrics.get(options["explain"])
    query = metrics.Query()
    ctx = Context(engine, ws.settings, query, metric)
    facts = _with_dimensions(ctx, metric.facts(ctx))
    group = ["period", *query.by, *metric.keys]
    profile = Path(options["out"]) / "profile.json"
    con = engine.backend.con
    plans: dict[str, Any] = {}

    def profiled(label: str, expr: Any, prefix: str = "") -> None:
        engine._register_memtables(expr)
        sql = str(engine.backend.compile(expr))
        con.execute("SET enable_profiling = 'json'")
        con.execute(f"SET profiling_output = '{profile}'")
        started = time.perf_counter()
        con.execute(prefix + sql).fetchall()
        seconds = time.perf_counter() - started
        con.execute("SET enable_profiling = 'no_output'")
        operators: list[dict[str, Any]] = []

        def walk(node: dict[str, Any], depth: int, out: list[dict[str, Any]]) -> None:
            if "operator_type" in node:
                info = node.get("extra_info", {})
                detail = next(
                    (
                        str(info[k])
                        for k in ("Projections", "Aggregates", "Conditions", "Function")
                        if k in info
                    ),
                    "",
                )
                out.append(
                    {
                        "depth": depth,
                        "name": node["operator_type"],
                        "seconds": node.get("operator_timing", 0.0),
                        "rows": node.get("operator_cardinality", 0),
                        "detail": " ".join(detail.split())[:90],
                    }
                )
                depth += 1
            for child in node.get("children", []):
                walk(child, depth, out)

        walk(json.loads(profile.read_text(encoding="utf-8")), 0, operators)
        plans[label] = {"seconds": seconds, "sql": prefix + sql, "operators": operators}

    if metric.quantiles:
        # As metrics.compute does: facts with quantiles are built once, then read by the
        # cells and by each quantile.
        profiled("facts (cached)", facts, "CREATE TEMP TABLE bench_facts AS ")
        facts = engine.backend.table("bench_facts")
    profiled("cells", facts.group_by(group).aggregate(**metric.measures(facts)))
    for out, (column, q) in metric.quantiles.items():
        profiled(out, nearest_rank(facts, group, column, q, out))
    engine.close()
    return {"plans": plans}


CHILDREN = {
    "job": job,
    "baseline": baseline,
    "report": report,
    "metrics": each_metric,
    "explain": explain,
}


def measure(kind: str, root: str, options: str) -> None:
    """Child process: run one measurement and print a JSON line."""
    cpu_started = cpu_seconds()
    result = CHILDREN[kind](Path(root), json.loads(options))
    result["peak_rss_mb"] = peak_mb()
    result["cpu_total"] = cpu_seconds() - cpu_started
    print(json.dumps(result))


def run_child(kind: str, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(root), json.dumps(options)],
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"{kind} run failed (exit {proc.returncode}) after "
            f"{time.perf_counter() - started:.0f} s"
        )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def header() -> None:
    head = subprocess.run(
        ["git", "-C", str(BENCH), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(BENCH), "status", "--porcelain", "--", "../src"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {head or '?'}"
        f"{' + uncommitted changes in src/' if dirty else ''}, "
        f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)",
        flush=True,
    )


def print_baseline(when: str, base: dict[str, Any]) -> None:
    print(
        f"raw DuckDB pass {when} (per event and month: count, distinct contacts; "
        f"materialised): warm "
        + ", ".join(f"{s:.2f}" for s in base["warm_seconds"])
        + f" s (cold {base['cold_seconds']:.2f} s; median CPU {base['cpu']:.1f} s), "
        f"peak {base['peak_rss_mb']:,.0f} MB; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def print_job(run: dict[str, Any]) -> None:
    steps = run["steps"]
    writes = {k: v for k, v in steps.items() if k != "compute"}
    slow = sorted(writes.items(), key=lambda kv: -kv[1])[:6]
    print(
        f"main job (published {run['version']}, DuckDB memory_limit "
        f"{run['memory_limit'] or 'default (80% of RAM)'}): {run['seconds']:.1f} s = compute "
        f"{steps.get('compute', 0.0):.1f} s + writing {sum(writes.values()):.1f} s + row "
        f"counts (CPU {run['cpu_total']:.0f} s); peak RSS {run['peak_rss_mb']:,.0f} MB",
        flush=True,
    )
    print("    slowest writes: " + ", ".join(f"{k} {v:.1f} s" for k, v in slow))
    print("    rows: " + ", ".join(f"{k} {v:,}" for k, v in run["rows"].items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspace", type=Path, default=DEFAULT_WORKSPACE)
    parser.add_argument(
        "--memory-limit",
        default="",
        help="DuckDB memory_limit of the readers and the raw pass, e.g. 1.5GB "
        "(default: DuckDB's, 80%% of RAM)",
    )
    parser.add_argument(
        "--run-job",
        action="store_true",
        help="run and publish the main job first (done anyway when nothing has 'activity')",
    )
    parser.add_argument(
        "--job-memory-limit", default="", help="DuckDB memory_limit of the main job, e.g. 1.5GB"
    )
    parser.add_argument("--baseline-runs", type=int, default=3, help="warm raw passes (median)")
    parser.add_argument("--report-runs", type=int, default=1, help="whole-report runs (median)")
    parser.add_argument("--skip-report", action="store_true", help="no whole-report run")
    parser.add_argument("--skip-metrics", action="store_true", help="no metric-by-metric run")
    parser.add_argument("--only", nargs="+", default=[], help="time only these metrics")
    parser.add_argument(
        "--explain", metavar="METRIC", help="profile one metric's queries in DuckDB, then stop"
    )
    parser.add_argument(
        "--explain-all",
        action="store_true",
        help="with --explain: every operator, not only "
        "those taking at least 5%% of the query's time",
    )
    parser.add_argument("--keep", type=Path, help="copy the rendered report.html here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(*args.child)
        return

    header()
    root = args.workspace.resolve()
    if not (root / "landed" / "events").is_dir():
        raise SystemExit(f"{root} has no landed events; land them with bench/ingest.py")
    out = Path(tempfile.mkdtemp(prefix="metrics-", dir=root / "tmp"))
    options: dict[str, Any] = {
        "memory_limit": args.memory_limit,
        "job_memory_limit": args.job_memory_limit,
        "baseline_runs": max(1, args.baseline_runs),
        "only": args.only,
        "explain": args.explain,
        "out": str(out),
    }
    try:
        if args.run_job or published_activity(root) is None:
            print("running the main job (as of the demo world's end)...", flush=True)
            print_job(run_child("job", root, options))
        if args.explain:
            plans = run_child("explain", root, options)["plans"]
            for label, plan in plans.items():
                print(f"--- {args.explain}: {label} ({plan['seconds']:.1f} s)\n{plan['sql']}")
                print("    operator (indented by depth)           s (all threads)        rows")
                for op in plan["operators"]:
                    if op["seconds"] >= 0.05 * plan["seconds"] or args.explain_all:
                        name = "  " * op["depth"] + op["name"]
                        print(
                            f"    {name:<40} {op['seconds']:8.1f} {op['rows']:>15,}  {op['detail']}"
                        )
            return

        before = run_child("baseline", root, options)
        print(
            f"published activity ({before['version']}): {before['rows']:,} rows, "
            f"{before['bytes'] / 1e6:,.0f} MB of Parquet; {before['cells']:,} (event, month) "
            f"cells"
        )
        print_baseline("before", before)
        reports: list[dict[str, Any]] = []
        for i in range(0 if args.skip_report else max(1, args.report_runs)):
            reports.append(run_child("report", root, options))
            rep = reports[-1]
            print(
                f"whole HTML report, run {i + 1} ({len(rep['per_metric'])} metrics, "
                f"{rep['bytes'] / 1e6:.1f} MB of HTML): {rep['seconds']:.1f} s (CPU "
                f"{rep['cpu']:.1f} s), peak RSS {rep['peak_rss_mb']:,.0f} MB (DuckDB "
                f"memory_limit {rep['memory_limit'] or 'default (80% of RAM)'}); load average "
                f"{os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if args.keep and i == 0:
                args.keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out / "report.html", args.keep)
        each: dict[str, Any] = {}
        if not args.skip_metrics:
            each = run_child("metrics", root, options)
            print(
                f"every metric on its own (default Query(), one reader engine): "
                f"{sum(m['seconds'] for m in each['metrics'].values()):.1f} s in all, "
                f"peak RSS {each['peak_rss_mb']:,.0f} MB",
                flush=True,
            )
        after = run_child("baseline", root, options)
        print_baseline("after", after)

        # The raw pass compared: the median of every warm run, before and after.
        raw = statistics.median([*before["warm_seconds"], *after["warm_seconds"]])
        print(
            f"raw pass compared: {raw:.2f} s (median of the "
            f"{len(before['warm_seconds']) + len(after['warm_seconds'])} warm runs)"
        )
        # CPU seconds move less with the VM's load than wall time: the same ratio in CPU time.
        raw_cpu = statistics.median([*before["warm_cpu"], *after["warm_cpu"]])
        print(f"raw pass CPU: {raw_cpu:.2f} s (median of the same runs)")
        rep = {}
        if reports:
            seconds = statistics.median(r["seconds"] for r in reports)
            cpu = statistics.median(r["cpu"] for r in reports)
            rep = min(reports, key=lambda r: abs(r["seconds"] - seconds))
            ratio = seconds / raw
            verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
            print(
                f"whole HTML report: {seconds:.1f} s"
                + (f" (median of {len(reports)} runs)" if len(reports) > 1 else "")
                + f" = {ratio:.1f}x the raw pass (target <= {TARGET_RATIO:.0f}x: {verdict}); "
                f"in CPU time {cpu:.1f} s = {cpu / raw_cpu:.1f}x the raw pass's; "
                f"peak RSS {max(r['peak_rss_mb'] for r in reports):,.0f} MB"
            )
        names = list(dict.fromkeys([*each.get("metrics", {}), *rep.get("per_metric", {})]))
        names.sort(
            key=lambda n: (
                -each.get("metrics", {}).get(n, {}).get("seconds", 0.0),
                -rep.get("per_metric", {}).get(n, 0.0),
            )
        )
        if names:
            print(
                "    metric                     alone s  x raw   CPU s  rows   peak MB  in report s"
            )
        for name in names:
            m = each.get("metrics", {}).get(name)
            r = rep.get("per_metric", {}).get(name)
            alone = (
                f"{m['seconds']:7.1f} {m['seconds'] / raw:6.1f} {m['cpu']:7.1f} "
                f"{m['rows'] if isinstance(m['rows'], int) else 'err':>5} "
                f"{m['peak_rss_mb']:8,.0f}"
                if m
                else f"{'-':>7} {'-':>6} {'-':>7} {'-':>5} {'-':>8}"
            )
            inside = f"{r:10.1f}" if r is not None else "  (not in it)"
            print(f"    {name:<26} {alone}  {inside}")
        if rep:
            print(f"    (report: the HTML after the last metric {rep['after_metrics']:.1f} s)")
        for name, m in each.get("metrics", {}).items():
            if not isinstance(m["rows"], int):
                print(f"    {name}: {m['rows']}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
