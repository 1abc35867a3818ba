"""Cross-sell and up-sell on the demo world: the back-test's figures against the most-popular
baseline, and the time of the recommendation step beside a raw DuckDB co-purchase query over
the same landed Parquet, in the same run.

    .venv/bin/python bench/recommend.py                     # 20,000 demo contacts
    .venv/bin/python bench/recommend.py --contacts 2000 --keep /tmp/recs-demo
    .venv/bin/python bench/recommend.py --keep /tmp/recs-demo --reuse   # the same world again

Steps: generate the demo world (seed 7), land it, run the main job at the demo's as-of time
(its ``prediction_backtests`` rows are printed), then time on their own, on DuckDB:

* **clientela**: :func:`clientela.predict.recommend.recommend` from the published identities,
  audience and traits (order lines from the landed JSON, rules, suggestions for every
  eligible customer written to Arrow, and the back-test, which learns a second time);
* with ``--spark``, the same step on Spark in local mode (session start timed apart);
* **raw DuckDB**: one SQL statement over the landed events: order lines unnested, distinct
  (person, product), the per-person self-join and the pair counts (no identity stitching,
  classes, opt-outs, ranking or back-test: a floor, not the same work).

Figures are wall seconds of single runs; the load average is printed with them because the
machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from clientela import pipeline  # noqa: E402
from clientela.datasets.demo import DemoSpec, generate, write_demo_settings  # noqa: E402
from clientela.engine import connect  # noqa: E402
from clientela.engine.core import scratch_duckdb  # noqa: E402
from clientela.identity import contact_of_events  # noqa: E402
from clientela.ingest.crm import import_file  # noqa: E402
from clientela.ingest.files import ingest_files  # noqa: E402
from clientela.predict import recommend  # noqa: E402
from clientela.workspace import Workspace, init_workspace, open_workspace  # noqa: E402

RAW_PAIRS = """
WITH lines AS (
    SELECT coalesce(user_id, anonymous_id) AS person,
           unnest(json_extract_string(properties, '$.products[*].product_id')) AS product
    FROM read_parquet({files}, union_by_name = true)
    WHERE type = 'track' AND event = 'Order Completed'
), owned AS (
    SELECT DISTINCT person, product FROM lines WHERE product IS NOT NULL
)
SELECT a.product AS x, b.product AS y, count(*) AS co_buyers
FROM owned a JOIN owned b ON a.person = b.person AND a.product <> b.product
GROUP BY ALL
"""


def build(root: Path, contacts: int) -> tuple[Workspace, float]:
    """The demo world landed in a fresh workspace at ``root``; seconds it took."""
    started = time.perf_counter()
    init_workspace(root)
    write_demo_settings(root / "clientela.toml")
    ws = open_workspace(root)
    data = root / "input"
    generate(data, DemoSpec(contacts=contacts, seed=7))
    ingest_files(ws, [data / "events"])
    import_file(ws, "contacts", data / "crm" / "contacts.csv")
    import_file(ws, "accounts", data / "crm" / "accounts.csv")
    return ws, time.perf_counter() - started


def time_step(engine: Any, ws: Workspace, as_of: datetime, split: bool) -> tuple[float, int, float]:
    """Seconds of the recommendation step on ``engine`` from the published tables, the
    suggestions it made and the load average before it; with ``split``, then print the
    back-test by segment."""
    engine.set_as_of(as_of)
    settings = ws.settings
    identities = engine.cache(engine.published("identities"))
    audience = engine.cache(engine.published("audience"))
    traits = engine.cache(engine.published("contact_traits"))
    landed = engine.landed("events").select(
        "message_id", "type", "event", "user_id", "anonymous_id", "timestamp"
    )
    events = engine.cache(contact_of_events(landed, identities, settings.identity.all_junk_ids()))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = recommend.recommend(engine, settings, identities, audience, traits, events, as_of)
    made = engine.to_arrow(result.recommendations).num_rows
    seconds = time.perf_counter() - started
    if split:
        segments(engine, settings, identities, audience, traits, events, as_of)
    return seconds, made, load


def segments(
    engine: Any,
    settings: Any,
    identities: Any,
    audience: Any,
    traits: Any,
    events: Any,
    as_of: datetime,
) -> None:
    """The back-test split by segment: loom owners (B2C: own the home kit at T) and SaaS
    customers (B2B: own a plan at T), each beside the overall most-popular baseline and the
    most popular products *within the segment*, a baseline that already knows B2C from B2B."""
    options = settings.predict.recommend
    k = options.k
    lines = recommend.teaching_lines(engine, settings, identities, audience)
    allowed = recommend.eligible(audience, traits, events, options)
    data = recommend.backtest_lists(engine, lines, allowed, as_of, options)
    rows = engine.to_arrow(recommend.owned(lines, data.cut).select("contact_id", "product_id"))
    owned: dict[str, set[str]] = {}
    for contact, product in zip(
        rows.column("contact_id").to_pylist(), rows.column("product_id").to_pylist(), strict=True
    ):
        owned.setdefault(contact, set()).add(product)
    plans = {"loom-team", "loom-business", "loom-enterprise"}
    for name, member in (
        ("B2C (own the home kit)", lambda items: "home-kit" in items),
        ("B2B (own a plan)", lambda items: bool(items & plans)),
    ):
        inside = {c for c, items in owned.items() if member(items)}
        popular = Counter(p for c in inside for p in owned[c])
        judged = {c: v for c, v in data.bought.items() if c in inside}
        overall = {
            c: recommend.most_popular(data.popularity, data.have.get(c, set()), k) for c in judged
        }
        local = {c: recommend.most_popular(popular, data.have.get(c, set()), k) for c in judged}
        ours = recommend.ranking_metrics(data.suggested, judged, k)
        print(f"  {name}: {ours.customers} judged customers")
        for label, figures in (
            ("model", ours),
            ("most popular overall", recommend.ranking_metrics(overall, judged, k)),
            ("most popular in segment", recommend.ranking_metrics(local, judged, k)),
        ):
            print(
                f"    {label:<24} hit rate@{k} {figures.hit_rate:.3f}  recall@{k} "
                f"{figures.recall:.3f}  precision@{k} {figures.precision:.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="build the workspace here and keep it")
    parser.add_argument(
        "--reuse", action="store_true", help="with --keep: use the workspace already there"
    )
    parser.add_argument(
        "--spark", action="store_true", help="also time the step on Spark (local mode)"
    )
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="clientela-recs-"))
    try:
        if args.reuse and args.keep and (root / "clientela.toml").exists():
            ws = open_workspace(root)
            print(f"demo world: reusing {root}")
        else:
            if args.keep and root.exists():
                shutil.rmtree(root)
            ws, built = build(root, args.contacts)
            print(f"demo world: {args.contacts:,} contacts, generated and landed in {built:.1f} s")
        as_of = DemoSpec().end
        engine = connect(ws, "duckdb")
        try:
            started = time.perf_counter()
            pipeline.run(engine, ws, as_of=as_of)
            job = time.perf_counter() - started
            print(f"main job: {job:.1f} s (load average {os.getloadavg()[0]:.1f})")
            rows = engine.to_arrow(engine.published("prediction_backtests")).to_pylist()
            for row in rows:
                if row["model"] != recommend.MODEL_NAME:
                    continue
                value, base = row["value"], row["baseline"]
                figures = (
                    f"{value:.3f} vs {base:.3f} ({row['baseline_name']})"
                    if value is not None
                    else "-"
                )
                print(f"  {row['metric']:<16} k={row['bin']} {figures}  rows={row['rows']}")
                print(f"    {row['note']}")
            published = engine.to_arrow(engine.published("recommendations"))
            kinds = published.column("kind").to_pylist()
            print(
                f"recommendations: {published.num_rows:,} rows for "
                f"{len(set(published.column('contact_id').to_pylist())):,} customers "
                f"({kinds.count('cross_sell'):,} cross-sell, {kinds.count('up_sell'):,} up-sell)"
            )
            for row in published.slice(0, 6).to_pylist():
                print(f"    {row['contact_id']} #{row['rank']} {row['kind']}: {row['reason']}")

            step, made, load = time_step(engine, ws, as_of, split=True)
        finally:
            engine.close()
        files = [str(p) for p in ws.segments(ws.events_dir)]
        con = scratch_duckdb()
        started = time.perf_counter()
        pairs = len(con.sql(RAW_PAIRS.format(files=files)).fetchall())
        raw = time.perf_counter() - started
        print(
            f"recommendation step (clientela, DuckDB): {step:.2f} s for {made:,} "
            f"suggestions, back-test included (load average {load:.1f})"
        )
        print(
            f"raw DuckDB co-purchase pairs: {raw:.2f} s for {pairs:,} pairs "
            f"(load average {os.getloadavg()[0]:.1f}); ratio {step / raw:.1f}x"
        )
        if args.spark:
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            started = time.perf_counter()
            spark = connect(ws, "spark")
            print(f"Spark session: {time.perf_counter() - started:.1f} s")
            try:
                on_spark, made, load = time_step(spark, ws, as_of, split=False)
            finally:
                spark.close()
            print(
                f"recommendation step (clientela, Spark local): {on_spark:.2f} s for {made:,} "
                f"suggestions, back-test included (load average {load:.1f})"
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
