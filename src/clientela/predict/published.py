"""Reading the published prediction tables: what the command line, the read API and the
report share.

* :func:`table`: a published prediction table, or an empty one of the right shape when the
  published version predates it;
* :func:`check_bounds`, :func:`select_predictions`, :func:`ordered`: the filters and sorts of
  ``clientela contacts list`` and ``GET /api/predictions``;
* :func:`model_report`: the fitted parameters and every back-test beside its baseline, as
  plain data (``clientela predict``, ``GET /api/predictions/models``, the report);
* :func:`missing_model`: why a propensity model has no figures yet, in words.

Nothing here computes a prediction: it only reads what the main job published.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa

from clientela.errors import ClientelaError, ConfigError, did_you_mean
from clientela.predict.clv import MODELS_SCHEMA, PREDICTIONS_SCHEMA
from clientela.predict.tables import (
    BACKTESTS_SCHEMA,
    PROPENSITY_SCHEMA,
    RECOMMENDATIONS_SCHEMA,
)

PREDICTIONS_FULL_SCHEMA = pa.schema(
    [*PREDICTIONS_SCHEMA, *(f for f in PROPENSITY_SCHEMA if f.name != "contact_id")]
)
"""``predictions`` as the main job publishes it: lifetime value and propensity columns."""

SCHEMAS: dict[str, pa.Schema] = {
    "predictions": PREDICTIONS_FULL_SCHEMA,
    "prediction_models": MODELS_SCHEMA,
    "recommendations": RECOMMENDATIONS_SCHEMA,
    "prediction_backtests": BACKTESTS_SCHEMA,
}

CONTACT_COLUMNS = (
    "p_alive",
    "expected_purchases",
    "expected_order_value",
    "clv",
    "churn_risk",
    "churn_band",
    "churn_reasons",
    "purchase_propensity",
    "purchase_band",
    "purchase_reasons",
)
"""The prediction columns a contact list carries beside the lifecycle columns."""

SORTS: dict[str, str | None] = {
    "grade": None,
    "clv": "clv",
    "p_alive": "p_alive",
    "churn_risk": "churn_risk",
    "purchase_propensity": "purchase_propensity",
}
"""Orders of a contact list: ``grade`` is best grade first (then most engaged); the others
are the highest value first, contacts without one last, then by id."""

PROPENSITY_MODELS = {
    "churn": "churn model",
    "conversion": "purchase-propensity model",
    "recommendations": "recommendation model",
}
"""The models of ``prediction_backtests`` whose output is not the lifetime-value columns."""

BACKTEST_METRICS = {
    "auc": "AUC",
    "lift_top_decile": "top-decile lift",
    "brier": "Brier score",
    "hit_rate_at_k": "hit rate@k",
    "recall_at_k": "recall@k",
    "precision_at_k": "precision@k",
    "coverage_at_k": "coverage@k",
    "base_rate": "positive rate (model: test rows; baseline: training rows)",
    "auc_gradient_boosting": "AUC of gradient boosting (baseline: the logistic regression)",
}
"""Names for people of the usual back-test metrics (others are shown as published). In the
``…@k`` ones the ``k`` is the row's ``bin``."""

NOTE_METRICS = frozenset({None, "not_trained", "not_tested"})
"""Back-test rows that carry only a note (why a model was not trained or not tested)."""

COMPARED = frozenset(
    {"auc", "lift_top_decile", "brier", "hit_rate_at_k", "recall_at_k", "precision_at_k"}
)
"""Metrics where the model beating its baseline means something (``brier``: lower wins)."""


def table(engine: Any, name: str) -> ir.Table:
    """The published prediction table ``name``; an empty table of its shape when the
    published version was written before the table existed (reads never fail on it)."""
    found: ir.Table = engine.published_or_empty(name, SCHEMAS[name])
    return found


def check_bounds(**bounds: float | None) -> None:
    """Refuse a probability bound outside [0, 1], a negative CLV bound, or a minimum above
    its maximum. Keys are the option names without dashes (``min_p_alive``)."""
    for key, value in bounds.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(flag, value, "a finite number")
        if key.endswith("_clv"):
            continue
        if not 0.0 <= value <= 1.0:
            raise ConfigError(flag, value, "a probability between 0 and 1")
    for name in ("p_alive", "churn_risk", "clv", "purchase_propensity"):
        low, high = bounds.get(f"min_{name}"), bounds.get(f"max_{name}")
        if low is not None and high is not None and low > high:
            raise ConfigError(
                f"--min-{name.replace('_', '-')}", low, f"at most --max-{name.replace('_', '-')}"
            )


def check_sort(sort: str) -> None:
    """Refuse a sort the contact list does not know, with a suggestion."""
    if sort not in SORTS:
        raise ClientelaError(
            f"unknown sort {sort!r}{did_you_mean(sort, SORTS)} (known: {', '.join(SORTS)})"
        )


def with_predictions(view: ir.Table, predictions: ir.Table) -> ir.Table:
    """``view`` (one row per contact) with the prediction columns; empty where the contact
    has no prediction."""
    preds = predictions.select(
        _prediction_contact=predictions.contact_id,
        **{name: predictions[name] for name in CONTACT_COLUMNS},
    )
    joined = view.left_join(preds, view.contact_id == preds._prediction_contact)
    return joined.drop("_prediction_contact")


def select_predictions(
    t: ir.Table,
    min_p_alive: float | None = None,
    max_p_alive: float | None = None,
    min_clv: float | None = None,
    max_clv: float | None = None,
    min_churn_risk: float | None = None,
    max_churn_risk: float | None = None,
    min_purchase_propensity: float | None = None,
) -> ir.Table:
    """Rows whose predictions are within the bounds; a row without the value fails any
    bound on it (None means no bound)."""
    for bound, column, low in (
        (min_p_alive, "p_alive", True),
        (max_p_alive, "p_alive", False),
        (min_clv, "clv", True),
        (max_clv, "clv", False),
        (min_churn_risk, "churn_risk", True),
        (max_churn_risk, "churn_risk", False),
        (min_purchase_propensity, "purchase_propensity", True),
    ):
        if bound is not None:
            t = t.filter(t[column] >= bound if low else t[column] <= bound)
    return t


def ordered(t: ir.Table, sort: str) -> ir.Table:
    """``t`` in the order ``sort`` names (see :data:`SORTS`)."""
    from clientela.lifecycle import best_first

    check_sort(sort)
    column = SORTS[sort]
    if column is None:
        return best_first(t)
    return t.order_by([t[column].desc(nulls_first=False), t.contact_id])


def reasons(text: str | None) -> list[str]:
    """A published ``; ``-joined reasons cell as a list."""
    return [part.strip() for part in (text or "").split(";") if part.strip()]


# --- the model report -----------------------------------------------------------------------


@dataclass
class FittedModel:
    """One model of ``prediction_models``: its fit and its parameters."""

    model: str
    status: str
    message: str | None
    customers: int | None
    log_likelihood: float | None
    parameters: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Backtest:
    """One model's back-test: its figures beside the baseline's, and the calibration bins."""

    model: str
    metrics: list[dict[str, Any]] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ModelReport:
    """The fitted parameters and back-tests of one published version."""

    models: list[FittedModel]
    backtests: list[Backtest]

    def backtest(self, model: str) -> Backtest | None:
        return next((b for b in self.backtests if b.model == model), None)


def model_report(
    models: Iterable[dict[str, Any]], backtests: Iterable[dict[str, Any]]
) -> ModelReport:
    """The report of the published ``prediction_models`` and ``prediction_backtests`` rows."""
    fitted: dict[str, FittedModel] = {}
    for row in models:
        item = fitted.setdefault(
            row["model"],
            FittedModel(
                model=row["model"],
                status=row["status"],
                message=row.get("message"),
                customers=row.get("customers"),
                log_likelihood=row.get("log_likelihood"),
            ),
        )
        if row.get("parameter"):
            item.parameters.append(
                {"parameter": row["parameter"], "value": row.get("value"), "se": row.get("se")}
            )
    tests: dict[str, Backtest] = {}
    for row in backtests:
        test = tests.setdefault(row["model"], Backtest(model=row["model"]))
        note = row.get("note")
        if note and note not in test.notes:
            test.notes.append(note)
        if row.get("metric") in NOTE_METRICS:
            continue
        label = BACKTEST_METRICS.get(row["metric"], row["metric"])
        at_k = row["metric"].endswith("_at_k") and row.get("bin") is not None
        figure = {
            "metric": row["metric"],
            "label": label.replace("@k", f"@{row['bin']}") if at_k else label,
            "bin": None if at_k else row.get("bin"),
            "compared": row["metric"] in COMPARED,
            "value": row.get("value"),
            "baseline": row.get("baseline"),
            "baseline_name": row.get("baseline_name"),
            "rows": row.get("rows"),
        }
        if row["metric"] == "calibration":
            test.calibration.append(figure)
        else:
            test.metrics.append(figure)
    for test in tests.values():
        test.calibration.sort(key=lambda f: (f["bin"] is None, f["bin"] or 0))
    return ModelReport(models=list(fitted.values()), backtests=list(tests.values()))


def read_model_report(engine: Any) -> ModelReport:
    """:func:`model_report` of the engine's published version."""
    models = engine.to_arrow(table(engine, "prediction_models")).to_pylist()
    tests = engine.to_arrow(table(engine, "prediction_backtests")).to_pylist()
    return model_report(models, tests)


def missing_model(report: ModelReport, model: str) -> str | None:
    """Why ``model`` (``churn``, ``conversion``, ``recommendations``) has no figures, in
    words, or None when it has some: the back-test's note when it left one."""
    test = report.backtest(model)
    if test is not None and (test.metrics or test.calibration):
        return None
    name = PROPENSITY_MODELS.get(model, f"{model} model")
    if test is not None and test.notes:
        return f"no {name} yet: {'; '.join(test.notes)}"
    return f"no {name} yet: this published version has no back-test for it"


COLUMN_MODELS = {
    "clv": "lifetime-value",
    "p_alive": "lifetime-value",
    "churn_risk": "churn",
    "purchase_propensity": "conversion",
}
"""Which model fills each prediction column a list can be filtered or sorted by."""


def missing_column(engine: Any, column: str) -> str:
    """Why no contact has ``column`` in the published version, in words."""
    model = COLUMN_MODELS[column]
    if model != "lifetime-value":
        report = read_model_report(engine)
        why = missing_model(report, model)
        if why:
            return f"no contact has a {column}: {why}"
        return f"no contact has a {column} in this published version"
    report = read_model_report(engine)
    failed = [f"{m.model}: {m.message}" for m in report.models if m.status != "fitted"]
    reason = "; ".join(failed) or "no customer has an order yet"
    return f"no contact has a {column}: {reason}"
