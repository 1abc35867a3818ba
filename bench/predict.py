"""Fitting speed of BG/NBD and Gamma-Gamma: clientela's own fit against ``lifetimes``, on the
same summaries in the same run.

    .venv/bin/python bench/predict.py                        # CDNOW + 770,000 simulated customers
    .venv/bin/python bench/predict.py --customers 100000     # a smaller simulated population
    .venv/bin/python bench/predict.py --skip-lifetimes

Summaries:

* **CDNOW**: the 2,357-customer sample (39 weeks from 1997-01-01), from the data files of the
  ``lifetimes`` package (the dev extra), summarised by clientela's engine summary on DuckDB;
* **simulated**: N customers drawn from the BG/NBD story with CDNOW's published parameters
  (ages uniform over 26-39 weeks, day-level times: recency and age in whole days / 7) and
  Gamma-Gamma spend with p = 6.25, q = 3.74, gamma = 15.44: the size of the 770k-contact demo
  world, without running its main job.

Timed: ``BetaGeometricNBD().fit`` and ``GammaGamma().fit`` (standard errors included), the
per-customer predictions the main job publishes (P(alive), expected purchases and CLV over
12 months, discounted monthly), then ``lifetimes``' ``BetaGeoFitter`` and
``GammaGammaFitter`` on the same arrays (when it imports). Each runs once; the figures are
wall seconds on this machine.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from clientela.predict import BetaGeometricNBD, FitError, GammaGamma  # noqa: E402


def cdnow_summary() -> dict[str, np.ndarray]:
    import ibis
    import pyarrow as pa

    from clientela.predict.summary import summarize

    spec = find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the CDNOW sample comes with lifetimes: pip install 'clientela[dev]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_sample.txt"
    ids, times, values = [], [], []
    for line in path.read_text(encoding="ascii").splitlines():
        _, sample_id, day, _, value = line.split()
        ids.append(sample_id)
        times.append(datetime(int(day[:4]), int(day[4:6]), int(day[6:]), 12, tzinfo=UTC))
        values.append(float(value))
    orders = pa.table(
        {
            "contact_id": ids,
            "timestamp": pa.array(times, pa.timestamp("us", "UTC")),
            "value": values,
        }
    )
    end = datetime(1997, 9, 30, 23, 59, 59, tzinfo=UTC)
    table = ibis.duckdb.connect().to_pyarrow(summarize(ibis.memtable(orders), end, "week"))
    return {
        c: table[c].to_numpy(zero_copy_only=False) for c in table.column_names if c != "contact_id"
    }


def simulated_summary(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """N customers from BG/NBD (r, alpha, a, b of CDNOW) and Gamma-Gamma spend, vectorised."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.243, 1 / 4.414, n)
    drop = rng.beta(0.793, 2.426, n)
    age = np.floor(rng.uniform(26, 39, n) * 7) / 7
    x = np.zeros(n)
    last = np.zeros(n)
    clock = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        clock[idx] += rng.exponential(1 / rate[idx])
        bought = clock[idx] <= age[idx]
        buyers = idx[bought]
        x[buyers] += 1
        last[buyers] = clock[buyers]
        alive[idx[~bought]] = False
        alive[buyers[rng.random(buyers.size) < drop[buyers]]] = False
    recency = np.floor(last * 7) / 7
    nu = rng.gamma(3.74, 1 / 15.44, n)
    spend = np.where(x > 0, rng.gamma(6.25 * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), np.nan)
    return {"frequency": x, "recency": recency, "age": age, "monetary_value": spend}


def timed(label: str, fit: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    try:
        result = fit()
    except (FitError, Exception) as exc:  # report, do not stop the bench
        print(f"  {label:<30} failed: {exc}")
        return time.perf_counter() - started, None
    seconds = time.perf_counter() - started
    return seconds, result


def bench(name: str, summary: dict[str, np.ndarray], skip_lifetimes: bool) -> None:
    n = summary["frequency"].size
    repeat = summary["frequency"] > 0
    print(f"{name}: {n:,} customers, {int(repeat.sum()):,} repeat buyers")
    s, bg = timed("clientela BG/NBD", lambda: BetaGeometricNBD().fit(summary))
    if bg is not None:
        params = ", ".join(f"{k} {v:.4g}" for k, v in bg.params_.items())
        print(f"  clientela BG/NBD        {s:7.2f} s   {params}  LL {bg.log_likelihood_:.1f}")
    s, gg = timed("clientela Gamma-Gamma", lambda: GammaGamma().fit(summary))
    if gg is not None:
        params = ", ".join(f"{k} {v:.4g}" for k, v in gg.params_.items())
        print(f"  clientela Gamma-Gamma   {s:7.2f} s   {params}")
    if bg is not None and gg is not None:
        from clientela.config import PredictSettings
        from clientela.predict import clv

        fitted = clv.Fitted(bg, gg, {})
        s, values = timed(
            "clientela predictions",
            lambda: clv.customer_values(summary, PredictSettings(), fitted),
        )
        if values is not None:
            total = float(np.sum(values["clv"]))
            print(f"  clientela predictions   {s:7.2f} s   P(alive), 12-month purchases and CLV")
            print(f"                                     (total CLV {total:,.0f})")
    if skip_lifetimes:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pandas as pd
            from lifetimes import BetaGeoFitter, GammaGammaFitter
    except Exception as exc:
        print(f"  lifetimes does not import here: {exc}")
        return
    frame = pd.DataFrame(summary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, lbg = timed(
            "lifetimes BetaGeoFitter",
            lambda: BetaGeoFitter().fit(frame["frequency"], frame["recency"], frame["age"]),
        )
        if lbg is not None:
            params = ", ".join(f"{k} {v:.4g}" for k, v in lbg.params_.items())
            print(f"  lifetimes BetaGeoFitter {s:7.2f} s   {params}")
        buyers = frame[frame["frequency"] > 0]
        s, lgg = timed(
            "lifetimes GammaGammaFitter",
            lambda: GammaGammaFitter().fit(buyers["frequency"], buyers["monetary_value"]),
        )
        if lgg is not None:
            params = ", ".join(f"{k} {v:.4g}" for k, v in lgg.params_.items())
            print(f"  lifetimes GammaGamma    {s:7.2f} s   {params}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=770_000)
    parser.add_argument("--skip-lifetimes", action="store_true")
    args = parser.parse_args()
    bench("CDNOW", cdnow_summary(), args.skip_lifetimes)
    bench(f"simulated {args.customers:,}", simulated_summary(args.customers), args.skip_lifetimes)


if __name__ == "__main__":
    main()
