"""Scoring speed on the demo world: the main job's scoring part against raw DuckDB and pandas.

    .venv/bin/python bench/score.py                    # the landed 770,000-contact world
    .venv/bin/python bench/score.py --contacts 80000   # a smaller world, for quick runs
    .venv/bin/python bench/score.py --memory-limit 1.5GB --skip-pandas   # DuckDB capped

The default workspace is the one bench/ingest.py lands (bench/out/world-770000/bench-workspace,
≈ 19.8 million events); ``--contacts N`` generates and lands ``world-N`` the same way instead
(reused when it exists). The CRM files of the world are imported first if they are not yet.

Three children run one after the other, each measuring its own peak RSS:

* **baseline**: plain DuckDB (no Ibis) making one aggregate pass over the landed events
  Parquet (per ``coalesce(user_id, anonymous_id)``: count, last time, meetings, page views),
  materialised as a temporary table. The least work any scoring could do.
* **clientela**: the real ``pipeline.compute``, with its step functions wrapped to note when
  each is called, then every table it returns written to Parquet as ``Engine.publish`` does. A
  step's time is its compute phase (from its call to the next step's call, so the caches
  ``compute`` makes between steps count for the step before) plus writing the published tables
  it produced; "peak RSS then" is the peak at the end of its compute phase. *Identity +
  profiles* (``identity.resolve``, ``profiles.build``, their tables) is timed apart; *scoring*
  is everything after it: prepare events, audience classes, scores (every model of the
  settings: the b2b and b2c presets), stages, account scores, lifecycle.
* **pandas**: what an analyst would write without heroics for the b2b preset only: read the
  same Parquet (needed columns), key events by ``coalesce(user_id, anonymous_id)`` (no identity
  resolution), filter each signal's events, daily caps with groupby/cumsum, decay, total caps
  newest first, sum per contact; fit rules on the CRM CSV files; grade. pandas is needed for
  this benchmark only (it is not a clientela dependency): ``.venv/bin/pip install pandas``.

Settings: the workspace's ``clientela.toml`` (all defaults: the b2b and b2c models, the
relationship stages) with the ``[audience]`` section ``clientela demo`` writes (Northwind
Loom's own, competitor, vendor and school domains and competitor names;
``--audience-domains none`` keeps the workspace's). As-of time: the demo world's end,
2026-06-30T23:59:59Z. The baseline runs twice (cold from disk, then warm); the warm run is
compared, as every later run reads the files from the page cache too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
DEFAULT_WORKSPACE = OUT / "world-770000" / "bench-workspace"
AS_OF = "2026-06-30T23:59:59+00:00"
TARGET_RATIO = 2.0
TARGET_SPEEDUP = 8.0
TARGET_RSS_MB = 2048

# The steps of pipeline.compute, in its order; checked against its source before a run.
STEPS = (
    "identity.resolve",
    "profiles.build",
    "audience.classify",
    "scoring.score",
    "stages.build",
    "scoring.account_scores",
    "lifecycle.build",
)
# Pulling the JSON fields out of the landed events happens while profiles caches the events of
# each contact, so it counts in "identity + profiles", not in scoring.
SCORING_STEPS = ("audience", "score", "stages", "accounts", "lifecycle")
# Which step produces each published table (a table not listed counts as scoring, "other").
TABLE_STEP = {
    "identities": "identity",
    "identity_conflicts": "identity",
    "contacts": "profiles",
    "contact_traits": "profiles",
    "accounts": "profiles",
    "account_traits": "profiles",
    "memberships": "profiles",
    "audience": "audience",
    "audience_evidence": "audience",
    "score_ledger": "score",
    "scores": "score",
    "stage_history": "stages",
    "account_scores": "accounts",
    "lifecycle": "lifecycle",
    "run_info": "lifecycle",
}


# --------------------------------------------------------------------------------------------
# The workspace: landed events and imported CRM
# --------------------------------------------------------------------------------------------


def landed_workspace(contacts: int | None, workspace: Path, workers: int) -> Path:
    """The workspace to score: ``world-N`` generated and landed as bench/ingest.py does, or the
    given one; the world's CRM files are imported when the workspace has none."""
    from clientela.workspace import init_workspace

    if contacts is not None:
        sys.path.insert(0, str(BENCH))
        from ingest import generate  # bench/ingest.py: the same world, in the same place

        folder = generate(contacts, workers)
        workspace = folder / "bench-workspace"
        ws = init_workspace(workspace)
        if not ws.segments(ws.events_dir):
            from clientela.ingest.files import ingest_files

            files = sorted((folder / "events").glob("events-*.jsonl*"))
            started = time.perf_counter()
            report = ingest_files(ws, files)
            print(
                f"landed {report.accepted:,} events in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
    ws = init_workspace(workspace)
    if not ws.segments(ws.events_dir):
        raise SystemExit(f"{workspace} has no landed events; land them with bench/ingest.py")
    crm = ws.root.parent / "crm"
    for kind in ("contacts", "accounts"):
        folder = ws.contacts_dir if kind == "contacts" else ws.accounts_dir
        if not ws.segments(folder):
            from clientela.ingest.crm import import_file

            report = import_file(ws, kind, crm / f"{kind}.csv")
            print(f"imported {report.accepted:,} CRM {kind} from {crm / kind}.csv", flush=True)
    return ws.root


def bench_settings(root: Path, audience_domains: str, memory_limit: str = "") -> Any:
    """The workspace, with the ``[audience]`` that ``clientela demo`` writes (the demo world's
    own, competitor, vendor and school domains and competitor names), or left as it is; and
    DuckDB's ``memory_limit`` when one is given."""
    from clientela.config import DEFAULT_TOML, load_settings
    from clientela.datasets.demo import write_demo_settings
    from clientela.workspace import Workspace, open_workspace

    ws = open_workspace(root)
    update: dict[str, Any] = {}
    if memory_limit:
        update["engine"] = ws.settings.engine.model_copy(update={"memory_limit": memory_limit})
    if audience_domains == "demo":
        with tempfile.TemporaryDirectory() as tmp:
            demo_toml = Path(tmp) / "clientela.toml"
            demo_toml.write_text(DEFAULT_TOML, encoding="utf-8")
            write_demo_settings(demo_toml)
            update["audience"] = load_settings(demo_toml).audience
    return Workspace(root=ws.root, settings=ws.settings.model_copy(update=update))


def check_pipeline() -> list[str]:
    """The step calls of pipeline.compute, in order (the benchmark times their boundaries)."""
    import inspect

    from clientela import pipeline

    calls = "|".join(re.escape(s) for s in STEPS)
    return re.findall(rf"\b({calls})\(", inspect.getsource(pipeline.compute))


# --------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------


def baseline(root: Path, as_of: datetime) -> dict[str, Any]:
    """One plain-DuckDB aggregate pass over the landed events, materialised. Run twice: the
    first reads the files from disk, the second (the one compared) from the page cache, as
    every later run does."""
    import duckdb

    files = [str(p) for p in sorted((root / "landed" / "events").glob("*.parquet"))]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    result: dict[str, Any] = {}
    for run in ("cold", "warm"):
        started, cpu_started = time.perf_counter(), cpu_seconds()
        con.execute(
            "CREATE OR REPLACE TEMP TABLE agg AS SELECT coalesce(user_id, anonymous_id) AS k, "
            "count(*) AS n, min(timestamp) AS first_seen, max(timestamp) AS last_seen, "
            "sum(CASE WHEN event = 'Meeting Held' THEN 1 ELSE 0 END) AS meetings, "
            "sum(CASE WHEN type = 'page' THEN 1 ELSE 0 END) AS pages "
            "FROM read_parquet(?, union_by_name = true) WHERE timestamp <= ? GROUP BY k",
            [files, as_of],
        )
        row = con.execute("SELECT count(*), sum(n) FROM agg").fetchone()
        assert row is not None
        result[f"{run}_seconds"] = time.perf_counter() - started
        result[f"{run}_cpu"] = cpu_seconds() - cpu_started
        result.update(keys=row[0], events=int(row[1]))
    result["seconds"], result["cpu"] = result["warm_seconds"], result["warm_cpu"]
    return result


def clientela(root: Path, as_of: datetime, out: Path, options: dict[str, str]) -> dict[str, Any]:
    """The real ``pipeline.compute``, its steps timed at their boundaries, then every table it
    returns written to Parquet as ``Engine.publish`` does.

    A step's time is from its call to the next step's call (so the caches ``compute`` makes
    between steps count for the step before them), plus writing the published tables it
    produced (see :data:`TABLE_STEP`).
    """
    import pyarrow.parquet as pq

    from clientela import audience, identity, lifecycle, pipeline, profiles, scoring, stages
    from clientela.engine import connect

    ws = bench_settings(root, options["audience_domains"], options["memory_limit"])
    engine = connect(ws)
    out.mkdir(parents=True, exist_ok=True)
    marks: list[tuple[str, float, float]] = []
    peak: dict[str, float] = {}
    returned: dict[str, Any] = {}

    def timed(step: str, module: Any, name: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if marks:
                peak[marks[-1][0]] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            marks.append((step, time.perf_counter(), cpu_seconds()))
            result = original(*args, **kwargs)
            returned[step] = result
            return result

        setattr(module, name, wrapper)

    for step, module, name in (
        ("identity", identity, "resolve"),
        ("profiles", profiles, "build"),
        ("audience", audience, "classify"),
        ("score", scoring, "score"),
        ("stages", stages, "build"),
        ("accounts", scoring, "account_scores"),
        ("lifecycle", lifecycle, "build"),
    ):
        timed(step, module, name)

    started, cpu_started = time.perf_counter(), cpu_seconds()
    tables = pipeline.compute(engine, ws, as_of.astimezone(UTC))
    marks.append(("end", time.perf_counter(), cpu_seconds()))
    peak[marks[-2][0]] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Compute phase of each step: from its call to the next step's call.
    seconds = {s: marks[i + 1][1] - t for i, (s, t, _) in enumerate(marks[:-1])}
    cpu = {s: marks[i + 1][2] - c for i, (s, _, c) in enumerate(marks[:-1])}
    seconds["identity"] += marks[0][1] - started  # engine.set_as_of, before identity.resolve
    cpu["identity"] += marks[0][2] - cpu_started
    compute_seconds = dict(seconds)

    rows: dict[str, int] = {}
    for name, expr in tables.items():
        step = TABLE_STEP.get(name, "other")
        began, cpu_began = time.perf_counter(), cpu_seconds()
        path = out / f"{name}.parquet"
        engine.backend.to_parquet(expr, str(path))
        seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - began
        cpu[step] = cpu.get(step, 0.0) + cpu_seconds() - cpu_began
        rows[name] = pq.read_metadata(path).num_rows
    engine.close()
    return {
        "seconds": seconds,
        "compute_seconds": compute_seconds,
        "cpu_seconds": cpu,
        "rows": rows,
        "models": ws.settings.model_order(),
        "memory_limit": ws.settings.engine.memory_limit,
        "peak_rss_after_mb": peak,
    }


def pandas_b2b(root: Path, as_of: datetime, out: Path) -> dict[str, Any]:
    """The b2b preset's engagement and fit, the way an analyst would write it in pandas."""
    import numpy as np
    import pandas as pd

    from clientela.config import load_preset

    model = load_preset("b2b")
    crm = root.parent / "crm"
    started, cpu_started = time.perf_counter(), cpu_seconds()

    columns = ["user_id", "anonymous_id", "type", "event", "timestamp", "properties"]
    ev = pd.read_parquet(root / "landed" / "events", columns=columns)
    ev = ev[ev["timestamp"] <= pd.Timestamp(as_of)]
    ev["contact"] = ev["user_id"].fillna(ev["anonymous_id"])
    ev["age_days"] = (pd.Timestamp(as_of) - ev["timestamp"]).dt.total_seconds() / 86400
    ev["day"] = ev["timestamp"].dt.floor("D")
    pages = ev["type"] == "page"
    ev["path"] = ev["properties"].where(pages).str.extract(r'"path":"([^"]*)"', expand=False)
    forms = ev["event"] == "Form Submitted"
    ev["form_id"] = ev["properties"].where(forms).str.extract(r'"form_id":"([^"]*)"', expand=False)
    ev = ev.drop(columns=["properties", "user_id", "anonymous_id"])

    per_signal = []
    for signal in model["signals"]:
        kind = signal.get("type", "track")
        hit = ev["type"] == kind
        if "event" in signal:
            names = signal["event"] if isinstance(signal["event"], list) else [signal["event"]]
            hit &= ev["event"].isin(names)
        if "path" in signal:
            hit &= ev["path"].str.contains(signal["path"], regex=True, na=False)
        if "form_id" in signal.get("where", {}):
            hit &= ev["form_id"] == signal["where"]["form_id"]
        rows = ev.loc[hit, ["contact", "timestamp", "day", "age_days"]]
        rows = rows.sort_values(["contact", "timestamp"])
        points = pd.Series(float(signal["points"]), index=rows.index)
        if "cap_per_day" in signal:
            before = points.groupby([rows["contact"], rows["day"]]).cumsum() - points
            points = (signal["cap_per_day"] - before).clip(lower=0).clip(upper=points)
        decayed = points * 0.5 ** (rows["age_days"] / signal["half_life_days"])
        if "cap_total" in signal:
            newest_first = decayed[::-1]
            before = newest_first.groupby(rows["contact"][::-1]).cumsum() - newest_first
            decayed = (signal["cap_total"] - before).clip(lower=0).clip(upper=newest_first)
        per_signal.append(decayed.groupby(rows["contact"]).sum())
    engagement = pd.concat(per_signal).groupby(level=0).sum().rename("engagement_points")

    people = pd.read_csv(crm / "contacts.csv", dtype=str)
    companies = pd.read_csv(crm / "accounts.csv", dtype=str)
    df = people.dropna(subset=["Account ID"]).merge(
        companies, on="Account ID", how="left", suffixes=("", " (account)")
    )
    employees = pd.to_numeric(df["Employees"], errors="coerce")
    revenue = pd.to_numeric(df["Annual Revenue"], errors="coerce")
    founded = pd.to_numeric(df["Founded"].str[:4], errors="coerce")
    centres = pd.to_numeric(df["Service Centers"], errors="coerce")
    country = df["Country (account)"].fillna(df["Country"]).str.strip().str.upper()
    title = df["Job Title"].fillna("")
    industries = [v.lower() for v in model["fit"][6]["values"]]
    fit = (
        np.where(employees >= 50, 25, 0)
        + np.where((employees >= 10) & (employees < 50), 10, 0)
        + np.where(employees < 10, -10, 0)
        + np.where(revenue >= 5_000_000, 20, 0)
        + np.where(as_of.year - founded >= 10, 15, 0)
        + np.where(centres >= 2, 10, 0)
        + np.where(df["Industry"].str.strip().str.lower().isin(industries), 10, 0)
        + np.where(country.isin(["ES", "PT", "FR", "DE", "IT", "GB", "NL"]), 5, 0)
        + np.where(df["Minority Owned"].str.strip().str.lower() == "true", 5, 0)
        + np.where(title.str.contains(model["fit"][9]["pattern"], case=False, regex=True), 10, 0)
        + np.where(df["Email Address"].fillna("").str.strip() == "", -10, 0)
    )
    scores = pd.DataFrame({"contact_id": df["Contact ID"], "fit": np.clip(fit, 0, 100)})
    scores = scores.merge(engagement, left_on="contact_id", right_index=True, how="left")
    scores["engagement_points"] = scores["engagement_points"].fillna(0.0)
    scores["engagement"] = 100 * (1 - 0.5 ** (scores["engagement_points"] / model["saturation"]))
    cut = model["fit_cutoffs"]
    letter = np.select(
        [scores.fit >= cut["A"], scores.fit >= cut["B"], scores.fit >= cut["C"]],
        ["A", "B", "C"],
        "D",
    )
    dig = model["engagement_cutoffs"]
    digit = np.select(
        [
            scores.engagement >= dig["1"],
            scores.engagement >= dig["2"],
            scores.engagement >= dig["3"],
        ],
        ["1", "2", "3"],
        "4",
    )
    scores["grade"] = pd.Series(letter, index=scores.index) + digit
    out.mkdir(parents=True, exist_ok=True)
    scores.to_parquet(out / "pandas_scores.parquet", index=False)
    return {
        "seconds": time.perf_counter() - started,
        "cpu": cpu_seconds() - cpu_started,
        "events": len(ev),
        "engaged_keys": len(engagement),
        "scored": len(scores),
    }


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(kind: str, root: str, out: str, options: str) -> None:
    """Child process: run one measurement and print a JSON line."""
    as_of = datetime.fromisoformat(AS_OF)
    cpu_started = cpu_seconds()
    if kind == "baseline":
        result = baseline(Path(root), as_of)
    elif kind == "clientela":
        result = clientela(Path(root), as_of, Path(out) / "clientela", json.loads(options))
    else:
        result = pandas_b2b(Path(root), as_of, Path(out) / "pandas")
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["cpu_total"] = cpu_seconds() - cpu_started
    print(json.dumps(result))


def run_child(kind: str, root: Path, out: Path, options: str = "{}") -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(root), str(out), options],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(
            f"{kind} run failed (exit {proc.returncode}) after "
            f"{time.perf_counter() - started:.0f} s"
        )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def agreement(out: Path) -> str:
    """How far the pandas b2b scores agree with clientela's, on contacts both scored."""
    import duckdb

    row = duckdb.sql(
        f"SELECT count(*), "
        f"avg(CASE WHEN abs(c.engagement_points - p.engagement_points) < 0.01 THEN 1 ELSE 0 END), "
        f"avg(CASE WHEN c.fit = p.fit THEN 1 ELSE 0 END), "
        f"avg(CASE WHEN c.grade = p.grade THEN 1 ELSE 0 END) "
        f"FROM '{out / 'clientela' / 'scores.parquet'}' c "
        f"JOIN '{out / 'pandas' / 'pandas_scores.parquet'}' p USING (contact_id) "
        f"WHERE c.model = 'b2b' AND c.scored"
    ).fetchone()
    if not row or not row[0]:
        return "no contact scored by both"
    return (
        f"{row[0]:,} contacts scored b2b by both: engagement points equal (±0.01) for "
        f"{row[1]:.1%}, fit for {row[2]:.1%}, grade for {row[3]:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspace", type=Path, default=DEFAULT_WORKSPACE)
    parser.add_argument(
        "--contacts", type=int, help="generate and land world-N instead (as bench/ingest.py)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--audience-domains", choices=["demo", "none"], default="demo")
    parser.add_argument(
        "--memory-limit",
        default="",
        help="DuckDB memory_limit for the clientela run, e.g. 1.5GB (default: the workspace's)",
    )
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(*args.child)
        return

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
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    calls = check_pipeline()
    if tuple(calls) != STEPS:
        print(
            "warning: pipeline.compute now calls " + ", ".join(calls) + "; this benchmark "
            "times the boundaries of " + ", ".join(STEPS) + ": update bench/score.py",
            file=sys.stderr,
        )
    root = landed_workspace(args.contacts, args.workspace, args.workers)
    segments = sorted((root / "landed" / "events").glob("*.parquet"))
    size = sum(p.stat().st_size for p in segments) / 1e9
    out = Path(tempfile.mkdtemp(prefix="score-", dir=root / "tmp"))
    try:
        base = run_child("baseline", root, out)
        print(
            f"landed events: {base['events']:,} as of {AS_OF} ({len(segments)} Parquet "
            f"segments, {size:.2f} GB), {base['keys']:,} distinct user/anonymous ids",
            flush=True,
        )
        print(
            "(the target is stated for 1 million contacts / 20 million events; the demo world "
            "of 770,000 people has the same ~20 million events)"
            if root == DEFAULT_WORKSPACE.resolve()
            else "(a smaller world than the target's 1 million contacts / 20 million events)"
        )
        print(
            f"raw DuckDB pass (one GROUP BY over the landed Parquet, materialised): "
            f"{base['seconds']:.1f} s (CPU {base['cpu']:.1f} s; cold from disk "
            f"{base['cold_seconds']:.1f} s), peak {base['peak_rss_mb']:,.0f} MB",
            flush=True,
        )
        options = {"audience_domains": args.audience_domains, "memory_limit": args.memory_limit}
        run = run_child("clientela", root, out, json.dumps(options))
        secs, cpu, rows = run["seconds"], run["cpu_seconds"], run["rows"]
        computing, peaks = run["compute_seconds"], run["peak_rss_after_mb"]
        identity_profiles = secs.get("identity", 0.0) + secs.get("profiles", 0.0)
        steps = [s for s in (*SCORING_STEPS, "other") if s in secs]
        scoring_total = sum(secs[s] for s in steps)
        scoring_cpu = sum(cpu[s] for s in steps)
        ratio = scoring_total / base["seconds"]
        where = "as clientela demo writes" if args.audience_domains == "demo" else "the workspace's"
        print(
            f"clientela contacts: {rows.get('contacts', 0):,}; "
            f"models {', '.join(run['models'])}; "
            f"[audience] {where}"
            f"; DuckDB memory_limit: {run['memory_limit'] or 'the default (80% of RAM)'}"
        )
        print(
            f"clientela identity + profiles: {identity_profiles:.1f} s (identity "
            f"{secs.get('identity', 0.0):.1f} s, profiles {secs.get('profiles', 0.0):.1f} s, "
            f"both with writing their tables), peak RSS when profiles were built "
            f"{peaks.get('profiles', 0.0):,.0f} MB"
        )
        print(
            f"clientela scoring: {scoring_total:.1f} s (CPU {scoring_cpu:.1f} s) = "
            f"{ratio:.2f}x the raw pass "
            f"(target <= {TARGET_RATIO:.1f}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'})"
        )
        print("    step            seconds  share       CPU s  (compute + write)  peak RSS then")
        for step in steps:
            done = computing.get(step, 0.0)
            print(
                f"    {step:<15} {secs[step]:7.1f} {secs[step] / scoring_total:6.1%}  "
                f"{cpu[step]:10.1f}  ({done:6.1f} + {secs[step] - done:6.1f})  "
                + (f"{peaks[step]:9,.0f} MB" if step in peaks else "")
            )
        print(f"clientela whole job: {identity_profiles + scoring_total:.1f} s")
        rss = run["peak_rss_mb"]
        print(
            f"clientela peak RSS: {rss:,.0f} MB (target < {TARGET_RSS_MB:,} MB: "
            f"{'met' if rss < TARGET_RSS_MB else 'NOT met'})"
        )
        print("published rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()), flush=True)
        if args.skip_pandas:
            return
        pan = run_child("pandas", root, out)
        speedup = pan["seconds"] / scoring_total
        like = pan["seconds"] / secs.get("score", 1e-9)
        print(
            f"pandas b2b engagement + fit: {pan['seconds']:.1f} s (CPU {pan['cpu']:.1f} s), peak "
            f"{pan['peak_rss_mb']:,.0f} MB ({pan['events']:,} events, {pan['scored']:,} "
            f"contacts with an account scored)"
        )
        verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
        print(
            f"clientela speed-up vs pandas: {speedup:.1f}x with all of scoring "
            f"(target >= {TARGET_SPEEDUP:.0f}x: {verdict}); "
            f"{like:.1f}x with the score step alone"
        )
        print("agreement: " + agreement(out))
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
