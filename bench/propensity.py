"""The churn and conversion back-tests on the demo world, beside the rule-based grade.

    .venv/bin/python bench/propensity.py                    # the `clientela demo` world (2,000)
    .venv/bin/python bench/propensity.py --contacts 10000

Builds the demo world (``datasets.demo``, seed 7) in a temporary workspace with the demo
settings, lands its events and CRM files, runs the main job at the demo's as-of time
(2026-06-30) and prints ``prediction_backtests``: AUC, top-decile lift and Brier score of each
model beside the grade at the test cut-off, the calibration table, and gradient boosting's AUC
beside the logistic regression's. Also the job's wall time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from clientela import pipeline  # noqa: E402
from clientela.datasets.demo import DemoSpec, generate, write_demo_settings  # noqa: E402
from clientela.engine import connect  # noqa: E402
from clientela.ingest.crm import import_file  # noqa: E402
from clientela.ingest.files import ingest_files  # noqa: E402
from clientela.workspace import init_workspace, open_workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        init_workspace(root)
        write_demo_settings(root / "clientela.toml")
        ws = open_workspace(root)
        generate(root / "input", DemoSpec(contacts=args.contacts, seed=args.seed))
        ingest_files(ws, [root / "input" / "events"])
        import_file(ws, "contacts", root / "input" / "crm" / "contacts.csv")
        import_file(ws, "accounts", root / "input" / "crm" / "accounts.csv")
        engine = connect(ws, "duckdb")
        try:
            started = time.perf_counter()
            tables = pipeline.compute(engine, ws, DemoSpec().end)
            rows = engine.to_arrow(tables["prediction_backtests"]).to_pylist()
            seconds = time.perf_counter() - started
        finally:
            engine.close()
    print(f"demo world: {args.contacts:,} contacts, seed {args.seed}; job {seconds:.1f} s\n")
    print("| model | metric | bin | model value | baseline | baseline is | rows |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            r["model"],
            r["metric"],
            "" if r["bin"] is None else str(r["bin"]),
            "" if r["value"] is None else f"{r['value']:.4f}",
            "" if r["baseline"] is None else f"{r['baseline']:.4f}",
            r["baseline_name"] or "",
            str(r["rows"]),
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    for r in rows:
        if r["note"]:
            print(f"- {r['model']} {r['metric']}: {r['note']}")


if __name__ == "__main__":
    main()
