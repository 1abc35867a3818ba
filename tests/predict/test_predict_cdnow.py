"""BG/NBD and Gamma-Gamma on the CDNOW sample against the published numbers.

Fader, Hardie & Lee (2005): r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4 on the
2,357 customers' first 39 weeks from 1997-01-01; Fader & Hardie (2013): p = 6.25, q = 3.74,
γ = 15.44. Checked on the summary the engine computes, and through clientela's own path
(Segment events landed, the main job run, the published tables read back).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
import pytest
from cdnow_data import (
    BGNBD,
    BGNBD_LL,
    CALIBRATION_END,
    GAMMA_GAMMA,
    HOLDOUT_END,
    HOLDOUT_WEEKS,
    as_events,
    data_dir,
    orders,
)

from clientela.predict import BetaGeometricNBD, GammaGamma
from clientela.predict.summary import summarize
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import run_job


def _three_digits(value: float) -> float:
    return float(f"{value:.3g}")


def _assert_published(fitted: dict[str, float], published: dict[str, float]) -> None:
    for name, expected in published.items():
        assert _three_digits(fitted[name]) == _three_digits(expected), (name, fitted[name])


@pytest.fixture(scope="module")
def summaries() -> dict[str, pa.Table]:
    """The engine's purchase summary of the CDNOW orders (DuckDB), at the end of the
    calibration period and at the end of the holdout period."""
    rows = orders()
    table = pa.table(
        {
            "contact_id": [o.customer for o in rows],
            "timestamp": pa.array([o.when for o in rows], pa.timestamp("us", "UTC")),
            "value": [o.value for o in rows],
        }
    )
    con = ibis.duckdb.connect()
    expr = ibis.memtable(table)
    return {
        "calibration": con.to_pyarrow(
            summarize(expr, CALIBRATION_END, "week").order_by("contact_id")
        ),
        "holdout": con.to_pyarrow(summarize(expr, HOLDOUT_END, "week").order_by("contact_id")),
    }


def test_the_summary_is_the_papers_data(summaries: dict[str, pa.Table]) -> None:
    """Frequency, recency, T and the mean repeat value of every customer equal the summary
    published with the papers (to its two decimals)."""
    ours = {r["contact_id"]: r for r in summaries["calibration"].to_pylist()}
    assert len(ours) == 2357
    path = data_dir() / "cdnow_customers_summary_with_transactions.csv"
    with path.open(encoding="ascii") as handle:
        published = list(csv.DictReader(handle))
    assert len(published) == 2357
    for row in published:
        mine = ours[f"cdnow-{int(row['ID']):04d}"]
        assert mine["frequency"] == int(row["x"]), row
        assert mine["recency"] == pytest.approx(float(row["t_x"]), abs=0.006), row
        assert mine["age"] == pytest.approx(float(row["T"]), abs=0.006), row
        if int(row["x"]):
            assert mine["monetary_value"] == pytest.approx(float(row["zbar"]), abs=0.006), row
        else:
            assert mine["monetary_value"] is None


def test_bgnbd_matches_the_paper(summaries: dict[str, pa.Table]) -> None:
    model = BetaGeometricNBD().fit(summaries["calibration"])
    _assert_published(model.params_, BGNBD)
    assert round(model.log_likelihood_, 1) == BGNBD_LL
    assert model.customers_ == 2357
    # Standard errors: finite and small next to the estimates (2,357 customers).
    for name, se in model.standard_errors_.items():
        assert 0 < se < model.params_[name], name


def test_gamma_gamma_matches_the_paper(summaries: dict[str, pa.Table]) -> None:
    model = GammaGamma().fit(summaries["calibration"])
    _assert_published(model.params_, GAMMA_GAMMA)
    assert model.customers_ == 946  # the repeat buyers
    for name, se in model.standard_errors_.items():
        assert 0 < se < model.params_[name], name


def holdout_by_frequency(
    model: BetaGeometricNBD, calibration: Any, holdout: pa.Table
) -> list[tuple[str, int, float, float]]:
    """(calibration frequency, customers, expected, actual) repeat purchases in weeks 40-78,
    for frequencies 0..6 and 7+, then the total. ``calibration`` has contact_id, frequency,
    recency and age; actual = buying days after week 39 (the holdout frequency minus the
    calibration one)."""
    ids = list(calibration["contact_id"])
    ids = [c.as_py() if isinstance(c, pa.Scalar) else c for c in ids]
    later = dict(
        zip(holdout["contact_id"].to_pylist(), holdout["frequency"].to_pylist(), strict=True)
    )
    x = np.asarray(calibration["frequency"], dtype=float)
    actual = np.array([later[c] for c in ids], dtype=float) - x
    expected = model.predict(HOLDOUT_WEEKS, calibration)
    rows = []
    for k in range(8):
        chosen = x == k if k < 7 else x >= 7
        label = str(k) if k < 7 else "7+"
        rows.append((label, int(chosen.sum()), expected[chosen].sum(), actual[chosen].sum()))
    rows.append(("all", len(ids), expected.sum(), actual.sum()))
    return rows


def test_holdout_expected_against_actual_repeat_purchases(
    summaries: dict[str, pa.Table],
) -> None:
    """Weeks 40-78: the model's conditional expectations track the actual repeat purchases
    by calibration frequency (the paper's figure 4) and in total (docs/predict.md)."""
    model = BetaGeometricNBD().fit(summaries["calibration"])
    rows = holdout_by_frequency(model, summaries["calibration"], summaries["holdout"])
    *groups, (_, customers, expected, actual) = rows
    assert customers == 2357
    assert actual == 1882  # buying days in weeks 40-78, counted from the raw file
    # BG/NBD under-forecasts this holdout: 1,653.4 expected against 1,882 (docs/predict.md).
    assert 0.85 < expected / actual < 0.92
    for label, n, exp, act in groups:
        per_customer_expected, per_customer_actual = exp / n, act / n
        assert per_customer_expected == pytest.approx(per_customer_actual, rel=0.3), label
    means = [exp / n for _, n, exp, _ in groups]
    assert means == sorted(means)  # more past purchases, more future ones


# -- through clientela's own path ------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace with the CDNOW orders landed as Segment ``Order Completed`` events."""
    from clientela.ingest.files import ingest_files

    root: Path = tmp_path_factory.mktemp("cdnow")
    ws = make_workspace(root / "ws")
    ingest_files(ws, [as_events(orders()).write(root / "cdnow.jsonl")])
    return ws


@pytest.mark.slow
def test_cdnow_through_the_main_job(cdnow_workspace: Workspace, summaries: Any) -> None:
    """Land the orders, run the job as of the end of week 39, read the published tables:
    the parameters are the paper's, and the predictions agree with the model."""
    published = run_job(cdnow_workspace, as_of=CALIBRATION_END)
    models = published["prediction_models"]
    assert {r["status"] for r in models} == {"fitted"}, models
    params = {
        m: {r["parameter"]: r["value"] for r in models if r["model"] == m}
        for m in ("bgnbd", "gamma_gamma")
    }
    _assert_published(params["bgnbd"], BGNBD)
    _assert_published(params["gamma_gamma"], GAMMA_GAMMA)
    ll = {r["model"]: r["log_likelihood"] for r in models}
    assert round(ll["bgnbd"], 1) == BGNBD_LL

    predictions = sorted(published["predictions"], key=lambda r: r["contact_id"])
    assert len(predictions) == 2357
    assert {r["time_unit"] for r in predictions} == {"week"}
    # Never bought again: alive for sure under BG/NBD.
    assert all(r["p_alive"] == 1.0 for r in predictions if r["frequency"] == 0)
    assert all(0 <= r["p_alive"] <= 1 for r in predictions)
    # Sample customer 1 bought on 1 Jan, 18 Jan and 2 Aug 1997: x = 2, t_x = 213 / 7 = 30.43,
    # T = 272 / 7 = 38.86 weeks. P(alive) = 1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
    # = 1 / (1 + 0.7929/3.4260 · (43.2736/34.8436)^2.2426) = 1 / (1 + 0.2314 · 1.6256) = 0.727
    (first,) = [r for r in predictions if r["contact_id"] == "cdnow-0001"]
    assert (first["frequency"], first["recency"], first["age"]) == (2, 213 / 7, 272 / 7)
    assert first["p_alive"] == pytest.approx(0.727, abs=0.002)
    assert all(r["clv"] > 0 and r["expected_order_value"] > 0 for r in predictions)

    # The holdout, from the published predictions and parameters.
    columns = {
        k: [r[k] for r in predictions] for k in ("contact_id", "frequency", "recency", "age")
    }
    model = BetaGeometricNBD.from_parameters(params["bgnbd"])
    *_, (_, _, expected, actual) = holdout_by_frequency(model, columns, summaries["holdout"])
    assert actual == 1882
    assert 0.85 < expected / actual < 0.92
