"""Hand-made prediction tables written over a published version, for the tests of what shows
them (CLI, API, report) while the churn, propensity and recommendation models are not built.

Contacts of the customer world (tests/worlds.py): a, c and e have a CLV, a churn risk and
(a) recommendations; b has orders but no CLV; h has a purchase propensity only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clientela.predict.published import SCHEMAS
from clientela.workspace import Workspace

T = datetime(2025, 3, 1, tzinfo=UTC)


def prediction_row(cid: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(SCHEMAS["predictions"].names)
    row.update(contact_id=cid, orders=1, transactions=1, frequency=0, time_unit="week")
    row.update(first_order_at=T, last_order_at=T, recency=0.0, age=8.0, revenue=10.0)
    row.update(values)
    return row


PREDICTIONS = [
    prediction_row(
        "a",
        orders=4,
        transactions=4,
        frequency=3,
        recency=10.0,
        age=16.0,
        p_alive=0.9,
        expected_purchases=3.5,
        expected_order_value=40.0,
        clv=120.5,
        churn_risk=0.1,
        churn_band="low",
        churn_reasons="visited 3 times in the last 30 days; renewed twice",
    ),
    prediction_row(
        "c",
        p_alive=0.5,
        expected_purchases=1.2,
        expected_order_value=30.0,
        clv=40.0,
        churn_risk=0.7,
        churn_band="high",
        churn_reasons="no visit in 45 days; one order only",
    ),
    prediction_row(
        "e",
        p_alive=0.2,
        expected_purchases=0.3,
        expected_order_value=25.0,
        clv=10.0,
        churn_risk=0.4,
        churn_band="medium",
        churn_reasons="left a 2.6-star review",
    ),
    prediction_row("b"),
    prediction_row(
        "h",
        purchase_propensity=0.65,
        purchase_band="high",
        purchase_reasons="was referred; visited the shop",
    ),
]

MODELS = [
    {
        "model": "bgnbd",
        "status": "fitted",
        "message": None,
        "customers": 482,
        "log_likelihood": -3074.62,
        "parameter": name,
        "value": value,
        "se": se,
    }
    for name, value, se in (
        ("r", 0.28, 0.03),
        ("alpha", 8.14, 1.31),
        ("a", 0.26, 0.64),
        ("b", 12.1, 33.2),
    )
] + [
    {
        "model": "gamma_gamma",
        "status": "failed",
        "message": "Gamma-Gamma: 3 repeat buyers is too few to fit (at least 10)",
        "customers": 482,
        "log_likelihood": None,
        "parameter": None,
        "value": None,
        "se": None,
    }
]


def backtest_row(
    model: str, metric: str | None, value: float | None, baseline: float | None, **kw: Any
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(SCHEMAS["prediction_backtests"].names)
    row.update(model=model, metric=metric, value=value, baseline=baseline, **kw)
    return row


BACKTESTS = [
    backtest_row("churn", "auc", 0.81, 0.62, baseline_name="days since last order", rows=300),
    backtest_row(
        "churn", "lift_top_decile", 2.4, 1.5, baseline_name="days since last order", rows=300
    ),
    backtest_row("churn", "brier", 0.15, 0.21, baseline_name="days since last order", rows=300),
    *[
        backtest_row("churn", "calibration", observed, predicted, bin=i, rows=60)
        for i, (predicted, observed) in enumerate(
            ((0.05, 0.04), (0.2, 0.25), (0.4, 0.38), (0.6, 0.55), (0.85, 0.9))
        )
    ],
    backtest_row(
        "conversion",
        None,
        None,
        None,
        note="too few prospects converted to train (3, at least 20)",
    ),
    backtest_row(
        "recommendations", "hit_rate_at_k", 0.31, 0.12, baseline_name="most popular", rows=150
    ),
]

RECOMMENDATIONS = [
    {
        "contact_id": "a",
        "rank": rank,
        "kind": kind,
        "product_id": pid,
        "product_name": name,
        "category": "yarn",
        "score": score,
        "support": 0.1,
        "confidence": 0.4,
        "lift": 2.0,
        "because_of": "p1",
        "reason": reason,
    }
    for rank, kind, pid, name, score, reason in (
        (1, "cross_sell", "p7", "Merino needles", 0.8, "bought with Merino yarn by 40 % of buyers"),
        (2, "up_sell", "p9", "Alpaca yarn", 0.5, "the next tier of the yarn they buy"),
    )
]


def publish(
    ws: Workspace,
    predictions: list[dict[str, Any]] | None = None,
    models: list[dict[str, Any]] | None = None,
    backtests: list[dict[str, Any]] | None = None,
    recommendations: list[dict[str, Any]] | None = None,
) -> None:
    """Write the given rows (default: the tables above) as the current version's prediction
    tables, each with its published schema."""
    version = (ws.results_dir / "CURRENT").read_text(encoding="utf-8").strip()
    folder = ws.results_dir / version
    for name, rows in (
        ("predictions", PREDICTIONS if predictions is None else predictions),
        ("prediction_models", MODELS if models is None else models),
        ("prediction_backtests", BACKTESTS if backtests is None else backtests),
        ("recommendations", RECOMMENDATIONS if recommendations is None else recommendations),
    ):
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[name]), folder / f"{name}.parquet")
