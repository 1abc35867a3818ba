"""What activation (loyalty, segments, the playbook and the policy) adds to the main job, on
the demo world, beside a raw DuckDB pass over the same landed events, in the same run.

    .venv/bin/python bench/activation.py                     # 20,000 demo contacts
    .venv/bin/python bench/activation.py --contacts 2000 --keep /tmp/act-demo
    .venv/bin/python bench/activation.py --keep /tmp/act-demo --reuse   # the same world again

Steps: generate the demo world (seed 7, with its segments and file destination), land it, then
on DuckDB, alternating so that load drifts hit both alike:

* **job without activation**: ``pipeline.run`` with the activation step replaced by empty
  tables of the published shapes;
* **job**: ``pipeline.run`` as it ships (activation included);
* **raw DuckDB**: one GROUP BY over the landed events (per contact key: count, latest time),
  the floor any per-contact pass costs.

Activation's cost is the difference of the two jobs. Figures are CPU seconds of this process
(user + system, DuckDB's threads included), the best of ``--repeat`` runs, with the load
average, because the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from clientela import pipeline  # noqa: E402
from clientela.activation import job as activation_job  # noqa: E402
from clientela.activation import tables as shapes  # noqa: E402
from clientela.datasets.demo import DemoSpec  # noqa: E402
from clientela.engine import connect  # noqa: E402
from clientela.engine.core import scratch_duckdb  # noqa: E402
from clientela.workspace import Workspace, open_workspace  # noqa: E402
from recommend import build  # noqa: E402

RAW_PASS = """
SELECT coalesce(user_id, anonymous_id) AS person, count(*) AS events, max(timestamp) AS latest
FROM read_parquet({files}, union_by_name = true)
GROUP BY ALL
"""

EMPTY = {
    "loyalty_ledger": shapes.LOYALTY_LEDGER_SCHEMA,
    "loyalty": shapes.LOYALTY_SCHEMA,
    "referrals": shapes.REFERRALS_SCHEMA,
    "segments": shapes.SEGMENTS_SCHEMA,
    "segment_members": shapes.SEGMENT_MEMBERS_SCHEMA,
    "segment_history": shapes.SEGMENT_HISTORY_SCHEMA,
    "consent": shapes.CONSENT_SCHEMA,
    "actions": shapes.ACTIONS_SCHEMA,
}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(work: Callable[[], Any]) -> float:
    started = cpu()
    work()
    return cpu() - started


def job(ws: Workspace, with_activation: bool) -> None:
    real = activation_job.build
    if not with_activation:
        activation_job.build = lambda *_a, **_k: {  # type: ignore[assignment]
            name: ibis.memtable(shape.empty_table()) for name, shape in EMPTY.items()
        }
    engine = connect(ws)
    try:
        pipeline.run(engine, ws, as_of=DemoSpec().as_of)
    finally:
        engine.close()
        activation_job.build = real  # type: ignore[assignment]


def raw_pass(ws: Workspace) -> None:
    files = [str(p) for p in ws.segments(ws.events_dir)]
    con = scratch_duckdb()
    con.execute(RAW_PASS.format(files=files)).fetchall()
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="build the world here and keep it")
    parser.add_argument("--reuse", action="store_true", help="use the world already at --keep")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="clientela-act-")) / "ws"
    try:
        if args.reuse:
            ws = open_workspace(root)
        else:
            if root.exists():
                shutil.rmtree(root)
            ws, seconds = build(root, args.contacts)
            print(f"world: {args.contacts:,} contacts built and landed in {seconds:.1f} s")
        best = {"without": float("inf"), "with": float("inf"), "raw": float("inf")}
        for _ in range(args.repeat):
            best["without"] = min(best["without"], timed(lambda: job(ws, False)))
            best["with"] = min(best["with"], timed(lambda: job(ws, True)))
            best["raw"] = min(best["raw"], timed(lambda: raw_pass(ws)))
        engine = connect(ws)
        try:
            rows = {
                name: int(engine.to_arrow(engine.published(name).count()).as_py()) for name in EMPTY
            }
        finally:
            engine.close()
        added = best["with"] - best["without"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("activation rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
        print(f"raw DuckDB pass           {best['raw']:8.2f} s CPU")
        print(f"job without activation    {best['without']:8.2f} s CPU")
        print(f"job                       {best['with']:8.2f} s CPU")
        print(
            f"activation adds           {added:8.2f} s CPU  "
            f"({added / best['with']:.0%} of the job, {added / best['raw']:.1f}x the raw pass)"
        )
        print(f"peak RSS of this process  {peak:8.0f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
