"""Landing throughput on the demo world: events/second, ratio to raw DuckDB, peak memory.

    .venv/bin/python bench/ingest.py --contacts 770000 --workers 2    # ≈ 20 million events

The demo world is generated once into bench/out/ (reused when the same size exists). The
baseline is DuckDB's own JSON reader making one pass over the same files (read_json_objects +
one aggregate): the least work any landing could do. Peak memory is this process's maximum RSS
(DuckDB runs in-process), measured in a child so generation does not count.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def generate(contacts: int, workers: int) -> Path:
    from clientela.datasets.demo import DemoSpec, generate

    folder = OUT / f"world-{contacts}"
    marker = folder / "done.json"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    summary = generate(folder, DemoSpec(contacts=contacts, shards=max(workers, 1)), workers=workers)
    marker.write_text(
        json.dumps({"events": summary.events, "seconds": time.perf_counter() - started})
    )
    return folder


def measure(kind: str, folder: str) -> None:
    """Child process: run one measurement and print a JSON line."""
    files = sorted(str(p) for p in (Path(folder) / "events").glob("events-*.jsonl*"))
    started = time.perf_counter()
    if kind == "baseline":
        import duckdb

        con = duckdb.connect()
        row = con.execute(
            "SELECT count(*), count(DISTINCT json_extract_string(json, '$.messageId')) "
            "FROM read_json_objects(?, format = 'newline_delimited', ignore_errors = true)",
            [files],
        ).fetchone()
        result = {"events": row[0] if row else 0}
    else:
        from clientela.ingest.files import ingest_files
        from clientela.workspace import init_workspace

        ws_root = Path(folder) / "bench-workspace"
        shutil.rmtree(ws_root, ignore_errors=True)
        ws = init_workspace(ws_root)
        report = ingest_files(ws, [Path(f) for f in files])
        result = {
            "events": report.accepted,
            "duplicates": report.duplicates,
            "quarantined": report.quarantined,
        }
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(kind: str, folder: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=770_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(*args.child)
        return
    folder = generate(args.contacts, args.workers)
    size = sum(p.stat().st_size for p in (folder / "events").glob("events-*")) / 1e9
    baseline = run_child("baseline", folder)
    landing = run_child("landing", folder)
    rate = landing["events"] / landing["seconds"]
    print(
        f"demo world: {args.contacts:,} contacts, {landing['events']:,} events, {size:.2f} GB JSONL"
    )
    print(
        f"raw DuckDB pass (read_json_objects + aggregate): {baseline['seconds']:.1f} s, "
        f"peak {baseline['peak_rss_mb']:.0f} MB"
    )
    print(
        f"clientela landing: {landing['seconds']:.1f} s = {rate:,.0f} events/s, "
        f"{landing['seconds'] / baseline['seconds']:.1f}x the raw pass, "
        f"peak {landing['peak_rss_mb']:.0f} MB; quarantined {landing['quarantined']:,}"
    )


if __name__ == "__main__":
    main()
