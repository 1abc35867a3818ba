"""Churn risk of customers and purchase propensity of prospects, learnt from the workspace's
own history, with the back-test published beside the rule-based grade.

**Rows.** :mod:`clientela.predict.features` gives one row per (contact, cut-off): what the
contact had done by the cut-off T and what happened in (T, T + N]. The *test* cut-off is N
days before the as-of date; the training cut-offs end N days before the test cut-off, so
nothing the model learns from happened after the test cut-off.

**Model.** A transparent one: the features (counts and day spans through ``log1p``, as they
are skewed; fit, engagement and the mean rating as they are), standardised, into a
scikit-learn logistic regression (L2, C = 0.1). Its probabilities
are calibrated with Platt scaling fitted on 3-fold cross-validated scores of the training rows
(``CalibratedClassifierCV(method="sigmoid", ensemble=False)``: one regression on all the rows,
so every contact's contributions come from one set of coefficients). A feature's
*contribution* for a contact is its coefficient × its standardised value: the amount it moves
the log-odds from an average contact. The top positive contributions, in words, are the
contact's reasons. A gradient-boosting classifier is fitted on the same rows for comparison
only; its AUC is published (``auc_gradient_boosting``) so the choice stays checked.

**Back-test** on the test cut-off's rows: AUC, lift in the top decile, Brier score and a
calibration table, beside the baseline on the same rows: the rule-based grade *at the test
cut-off* (fit letter and the engagement replayed at T), turned into a probability by the
positive rate of each grade in the training rows (so its Brier score is fair too).

**Scoring.** The model is fitted again on the training and the test rows and scores the
customers and prospects at the as-of date. Bands: ``high`` at or above ``high_band``,
``medium`` at or above ``medium_band``, else ``low``.

Too little history is no error: the model's columns stay NULL and a back-test row
(``metric = 'not_trained'``) says what is missing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from clientela.config import PropensitySettings, Settings
from clientela.engine import Engine
from clientela.errors import ClientelaError
from clientela.predict import backtest
from clientela.predict import features as feature_rows
from clientela.predict.tables import BACKTESTS_SCHEMA, PROPENSITY_SCHEMA

DIGITS = 6
"""Probabilities and figures are published with 6 decimals (the same on every engine)."""

# model name -> (population, label column, what a positive is, in words)
MODELS: dict[str, tuple[str, str, str]] = {
    "churn": ("customer", "churned", "customers at the training cut-offs churned"),
    "conversion": ("prospect", "purchased", "prospects at the training cut-offs bought"),
}
BASELINE_NAME = "grade at the cut-off"
REGULARISATION = 0.1
"""The logistic regression's C (inverse L2 strength): strong, as there are some 40 features
for a few hundred to a few thousand rows; it also keeps correlated features' weights small."""
REASON_MIN = 0.05
"""A contribution below this many log-odds is not told as a reason."""


def _count(value: float, one: str, many: str) -> str:
    n = round(value)
    return f"{n} {one if n == 1 else many}"


WORDS: dict[str, Callable[[float], str]] = {
    "days_since_activity": lambda v: "last active " + _count(v, "day", "days") + " ago",
    "days_since_purchase": lambda v: "last purchase " + _count(v, "day", "days") + " ago",
    "tenure_days": lambda v: "first seen " + _count(v, "day", "days") + " ago",
    "days_in_stage": lambda v: "in this stage for " + _count(v, "day", "days"),
    "events_30d": lambda v: _count(v, "action", "actions") + " in the last 30 days",
    "events_90d": lambda v: _count(v, "action", "actions") + " in the last 90 days",
    "active_days_90d": lambda v: "active on " + _count(v, "day", "days") + " of the last 90",
    "orders": lambda v: _count(v, "order", "orders") + " in all",
    "orders_90d": lambda v: _count(v, "order", "orders") + " in the last 90 days",
    "tickets_90d": lambda v: (
        _count(v, "support ticket", "support tickets") + " in the last 90 days"
    ),
    "unanswered_tickets": lambda v: _count(v, "ticket", "tickets") + " waiting for a reply",
    "response_hours": lambda v: (
        "support took " + _count(v, "hour", "hours") + " to answer on average"
    ),
    "community_90d": lambda v: (
        _count(v, "community action", "community actions") + " in the last 90 days"
    ),
    "ratings": lambda v: _count(v, "rating", "ratings") + " given",
    "mean_rating": lambda v: f"rated us {v:.1f} on average",
    "low_ratings": lambda v: _count(v, "low rating", "low ratings") + " (2 or less)",
    "fit": lambda v: f"fit {v:.0f}",
    "engagement": lambda v: f"engagement {v:.0f} of 100",
}
MISSING_WORDS: dict[str, str] = {
    "days_since_activity": "no activity recorded",
    "days_since_purchase": "never purchased",
    "mean_rating": "no rating given",
    "response_hours": "no support tickets lately",
    "fit": "fit unknown",
    "engagement": "not scored",
}


def describe(feature: str, value: float) -> str:
    """A feature's value in words (``no purchase in 142 days``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_WORDS.get(feature, f"{feature.replace('_', ' ')} unknown")
    if feature in WORDS:
        return WORDS[feature](value)
    if feature.startswith("signal_"):
        name = feature.removeprefix("signal_").replace("_", " ")
        return f"{name}: {value:.1f} engagement points"
    return f"{feature.replace('_', ' ')} {value:g}"


# --------------------------------------------------------------------------------------------
# The model, on numpy arrays
# --------------------------------------------------------------------------------------------


LINEAR_FEATURES = frozenset({"fit", "engagement", "mean_rating"})
"""Features already on a bounded scale: the model sees them as they are (the rest through
``log1p``, since counts and day spans are skewed)."""


def _log_some(x: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """``log1p`` (sign kept) of the given columns, the others unchanged."""
    out = np.array(x, dtype=float, copy=True)
    picked = list(columns)
    out[:, picked] = np.sign(out[:, picked]) * np.log1p(np.abs(out[:, picked]))
    return out


def prepare(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The feature matrix the model sees: a missing *days since* is the contact's tenure
    plus a day (it never happened in the history), a missing rating, wait or engagement 0."""
    x = np.array(values, dtype=float, copy=True)
    index = {name: i for i, name in enumerate(names)}
    tenure = x[:, index["tenure_days"]] if "tenure_days" in index else None
    for name, i in index.items():
        gaps = np.isnan(x[:, i])
        if not gaps.any():
            continue
        if name.startswith("days_since_") and tenure is not None:
            x[gaps, i] = np.nan_to_num(tenure[gaps], nan=0.0) + 1.0
        elif name != "fit":
            x[gaps, i] = 0.0
    return x


@dataclass
class Trained:
    """A fitted, calibrated logistic regression and what it was fitted on."""

    names: list[str]
    model: Any
    """``CalibratedClassifierCV`` around the pipeline (log1p, impute, scale, regression)."""
    pipeline: Any
    """The pipeline fitted on all the rows (its coefficients give the contributions)."""

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(x)[:, 1], dtype=float)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per row and feature: coefficient × standardised value (log-odds moved)."""
        transformed = self.pipeline[:-1].transform(x)
        coef = self.pipeline[-1].coef_[0]
        return np.asarray(transformed * coef, dtype=float)


def train(x: np.ndarray, y: np.ndarray, names: Sequence[str]) -> Trained:
    """Fit the calibrated logistic regression on ``x`` (prepared) and 0/1 labels ``y``."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    logged = [i for i, name in enumerate(names) if name not in LINEAR_FEATURES]
    pipeline = make_pipeline(
        FunctionTransformer(partial(_log_some, columns=logged)),
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=REGULARISATION, max_iter=3000),
    )
    model = CalibratedClassifierCV(pipeline, method="sigmoid", cv=3, ensemble=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    fitted = model.calibrated_classifiers_[0].estimator
    return Trained(names=list(names), model=model, pipeline=fitted)


def gradient_boosting_auc(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> float:
    """The AUC a gradient-boosting classifier reaches on the same split (for comparison)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    booster = HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_leaf_nodes=15, random_state=0
    )
    booster.fit(x_train, y_train)
    return backtest.auc(y_test, booster.predict_proba(x_test)[:, 1])


def reasons(
    contributions: np.ndarray, raw: np.ndarray, names: Sequence[str], top: int
) -> list[str]:
    """Per row, its ``top`` positive contributions in words, strongest first, ``; ``-joined."""
    out = []
    for row, values in zip(contributions, raw, strict=True):
        order = [i for i in np.argsort(-row, kind="stable") if row[i] > REASON_MIN][:top]
        out.append("; ".join(describe(names[i], float(values[i])) for i in order))
    return out


def band(probability: float, options: PropensitySettings) -> str:
    """``high``, ``medium`` or ``low``."""
    if probability >= options.high_band:
        return "high"
    if probability >= options.medium_band:
        return "medium"
    return "low"


def grade_baseline(
    train_grades: Sequence[str | None], train_labels: np.ndarray, grades: Sequence[str | None]
) -> np.ndarray:
    """The grade as a probability: each grade's positive rate in the training rows, shrunk
    towards the overall rate by 5 pseudo-rows (a grade not seen in training gets that rate)."""
    overall = float(np.mean(train_labels)) if len(train_labels) else 0.0
    totals: dict[str | None, list[float]] = {}
    for grade, label in zip(train_grades, train_labels, strict=True):
        entry = totals.setdefault(grade, [0.0, 0.0])
        entry[0] += float(label)
        entry[1] += 1.0
    prior = 5.0
    rates = {g: (pos + prior * overall) / (n + prior) for g, (pos, n) in totals.items()}
    return np.array([rates.get(g, overall) for g in grades], dtype=float)


def single_threaded() -> Any:
    """BLAS and OpenMP limited to one thread while fitting: the fits are small (thousands of
    rows, some 40 features), and on a shared machine, or beside the engine's own threads,
    more threads only wait for each other (10x slower measured on 2 busy cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


# --------------------------------------------------------------------------------------------
# One model: back-test, refit, score
# --------------------------------------------------------------------------------------------


@dataclass
class Split:
    """The rows of one model: features, labels and grades of train, test and score."""

    names: list[str]
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    grades: dict[str, list[str | None]]
    contacts: list[str]
    """The contacts of the score rows."""


@dataclass
class Outcome:
    """One model's back-test rows and, if it could be trained, its scores."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    probabilities: np.ndarray | None = None
    reasons: list[str] = field(default_factory=list)


def _day(secs: int) -> str:
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%d")


def _r(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), DIGITS)


def fit_model(
    model: str, split: Split, options: PropensitySettings, cutoffs: feature_rows.Cutoffs
) -> Outcome:
    """Check there is enough history, back-test, refit on all labelled rows and score."""
    outcome = Outcome()
    _population, _label, positives_word = MODELS[model]
    y_train, y_test = split.y["train"], split.y["test"]
    train_rows, positives = len(y_train), int(y_train.sum())

    def note(message: str, rows: int) -> Outcome:
        outcome.rows.append(
            {"model": model, "metric": "not_trained", "rows": rows, "note": f"{model}: {message}"}
        )
        return outcome

    if positives < options.min_positives:
        return note(
            f"{positives} of {train_rows} {positives_word} within {options.horizon_days} "
            f"days ({len(cutoffs.train)} cut-offs; a contact counts at each), at least "
            f"{options.min_positives} needed",
            train_rows,
        )
    if train_rows < options.min_rows:
        return note(
            f"{train_rows} rows at the training cut-offs, at least {options.min_rows} needed",
            train_rows,
        )
    if positives == train_rows:
        return note("every training row is positive: nothing to tell apart", train_rows)
    names = split.names
    x_train = prepare(split.x["train"], names)
    x_test = prepare(split.x["test"], names)
    described = (
        f"trained on {train_rows} rows at {len(cutoffs.train)} cut-offs "
        f"({_day(cutoffs.train[0])} to {_day(cutoffs.train[-1])}), tested at "
        f"{_day(cutoffs.test)}, {options.horizon_days}-day horizon"
    )
    test_positives = int(y_test.sum())
    if test_positives == 0 or test_positives == len(y_test):
        outcome.rows.append(
            {
                "model": model,
                "metric": "not_tested",
                "rows": len(y_test),
                "note": f"{model}: the test cut-off ({_day(cutoffs.test)}) has "
                f"{test_positives} positive of {len(y_test)} rows; the back-test needs both "
                "outcomes",
            }
        )
    else:
        trained = train(x_train, y_train, names)
        p = trained.probabilities(x_test)
        base = grade_baseline(split.grades["train"], y_train, split.grades["test"])
        n = len(y_test)
        common = {"model": model, "baseline_name": BASELINE_NAME, "rows": n}
        lr_auc = backtest.auc(y_test, p)
        figures = [
            ("auc", lr_auc, backtest.auc(y_test, base), described),
            (
                "lift_top_decile",
                backtest.lift_top_decile(y_test, p),
                backtest.lift_top_decile(y_test, base),
                "",
            ),
            ("brier", backtest.brier(y_test, p), backtest.brier(y_test, base), ""),
            ("base_rate", float(np.mean(y_test)), float(np.mean(y_train)), ""),
        ]
        for metric, value, baseline, text in figures:
            outcome.rows.append(
                {
                    **common,
                    "metric": metric,
                    "value": _r(value),
                    "baseline": _r(baseline),
                    "note": text,
                    **({"baseline_name": "training rows"} if metric == "base_rate" else {}),
                }
            )
        for bin_ in backtest.calibration(y_test, p):
            outcome.rows.append(
                {
                    "model": model,
                    "metric": "calibration",
                    "bin": bin_.number,
                    "value": _r(bin_.observed),
                    "baseline": _r(bin_.predicted),
                    "baseline_name": "mean predicted probability",
                    "rows": bin_.rows,
                    "note": "",
                }
            )
        booster = gradient_boosting_auc(x_train, y_train, x_test, y_test)
        earns = booster - lr_auc > 0.02
        outcome.rows.append(
            {
                "model": model,
                "metric": "auc_gradient_boosting",
                "value": _r(booster),
                "baseline": _r(lr_auc),
                "baseline_name": "logistic regression",
                "rows": n,
                "note": (
                    "gradient boosting beats the logistic regression by more than 0.02 AUC"
                    if earns
                    else "the logistic regression is kept: gradient boosting does not beat it "
                    "by more than 0.02 AUC"
                ),
            }
        )
    # The published model: fitted on every labelled row.
    x_all = np.vstack([x_train, x_test])
    y_all = np.concatenate([y_train, y_test])
    if len(split.contacts):
        final = train(x_all, y_all, names)
        x_score = prepare(split.x["score"], names)
        outcome.probabilities = np.round(final.probabilities(x_score), DIGITS)
        outcome.reasons = reasons(
            final.contributions(x_score), split.x["score"], names, options.reasons
        )
    return outcome


# --------------------------------------------------------------------------------------------
# The main job's step
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Propensities:
    """The published propensity and back-test tables, as Ibis expressions."""

    propensities: ir.Table
    backtests: ir.Table


def _split(
    rows: pa.Table, population: str, label: str, cutoffs: feature_rows.Cutoffs, names: list[str]
) -> Split:
    columns = rows.to_pydict()
    which: dict[str, list[int]] = {"train": [], "test": [], "score": []}
    train = set(cutoffs.train)
    for i, (cut, pop) in enumerate(zip(columns["cutoff"], columns["population"], strict=True)):
        if pop != population:
            continue
        if cut == cutoffs.score:
            which["score"].append(i)
        elif cut == cutoffs.test and columns[label][i] is not None:
            which["test"].append(i)
        elif cut in train and columns[label][i] is not None:
            which["train"].append(i)
    matrix = (
        np.column_stack(
            [np.array([np.nan if v is None else v for v in columns[n]], dtype=float) for n in names]
        )
        if rows.num_rows
        else np.zeros((0, len(names)))
    )
    labels = np.array([0 if v is None else v for v in columns[label]], dtype=float)
    return Split(
        names=names,
        x={k: matrix[v] if v else np.zeros((0, len(names))) for k, v in which.items()},
        y={k: labels[v] for k, v in which.items()},
        grades={k: [columns["grade"][i] for i in v] for k, v in which.items()},
        contacts=[columns["contact_id"][i] for i in which["score"]],
    )


def predict(
    engine: Engine,
    settings: Settings,
    events: ir.Table,
    history: ir.Table,
    primary: ir.Table,
    audience: ir.Table,
    as_of: datetime,
    contact_traits: ir.Table | None = None,
) -> Propensities:
    """Build the rows, back-test and fit both models, score the contacts as of ``as_of``.

    With ``[predict.propensity] label_trait`` set, a model of that trait is also trained on
    ``contact_traits`` (:func:`clientela.predict.traits.train_on_traits`, back-test rows with
    model ``churn_traits``); it gives the churn risk of the contacts whose label is negative
    and who have none from the event history."""
    options = settings.predict.propensity
    backtest_rows: list[dict[str, Any]] = []
    per_contact: dict[str, dict[str, Any]] = {}
    if options.label_trait and contact_traits is not None:
        _from_traits(engine, options, contact_traits, backtest_rows, per_contact)
    try:
        feature_rows.roles(settings)
    except ClientelaError as exc:
        for model in MODELS:
            backtest_rows.append(
                {"model": model, "metric": "not_trained", "rows": 0, "note": f"{model}: {exc}"}
            )
        return _tables(per_contact, backtest_rows)
    cutoffs = feature_rows.plan(settings, as_of)
    table = feature_rows.build(settings, events, history, primary, cutoffs.all, as_of)
    excluded = settings.predict.exclude_classes
    if excluded:
        table = table.anti_join(
            audience.filter(audience.audience_class.isin(excluded)).select("contact_id"),
            "contact_id",
        )
    names = [*feature_rows.NUMERIC_FEATURES, *feature_rows.signal_features(settings)]
    rows = engine.to_arrow(table.order_by("cutoff", "population", "contact_id"))
    for model, (population, label, _word) in MODELS.items():
        split = _split(rows, population, label, cutoffs, names)
        try:
            with single_threaded():
                outcome = fit_model(model, split, options, cutoffs)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            # The job never fails because a model could not be fitted (e.g. too few of one
            # outcome for 3-fold calibration with a low min_positives).
            outcome = Outcome(
                rows=[
                    {
                        "model": model,
                        "metric": "not_trained",
                        "rows": len(split.y["train"]),
                        "note": f"{model}: the model could not be fitted ({exc})",
                    }
                ]
            )
        backtest_rows.extend(outcome.rows)
        if outcome.probabilities is None:
            continue
        prefix = "churn" if model == "churn" else "purchase"
        value_column = "churn_risk" if model == "churn" else "purchase_propensity"
        for contact, p, why in zip(
            split.contacts, outcome.probabilities, outcome.reasons, strict=True
        ):
            entry = per_contact.setdefault(contact, {"contact_id": contact})
            entry[value_column] = float(p)
            entry[f"{prefix}_band"] = band(float(p), options)
            entry[f"{prefix}_reasons"] = why
    return _tables(per_contact, backtest_rows)


def _from_traits(
    engine: Engine,
    options: PropensitySettings,
    contact_traits: ir.Table,
    backtest_rows: list[dict[str, Any]],
    per_contact: dict[str, dict[str, Any]],
) -> None:
    """The label-trait model's back-test rows and churn risks (added in place)."""
    from clientela.predict.traits import train_on_traits

    traits = engine.to_arrow(
        contact_traits.select("contact_id", "trait", "value").order_by("contact_id", "trait")
    )
    fitted = train_on_traits(traits, options.label_trait, options)
    backtest_rows.extend(fitted.rows)
    if fitted.probabilities is None:
        return
    for contact, p, why in zip(fitted.contacts, fitted.probabilities, fitted.reasons, strict=True):
        per_contact[contact] = {
            "contact_id": contact,
            "churn_risk": float(p),
            "churn_band": band(float(p), options),
            "churn_reasons": why,
        }


def _tables(per_contact: dict[str, dict[str, Any]], rows: list[dict[str, Any]]) -> Propensities:
    people = [per_contact[c] for c in sorted(per_contact)]
    return Propensities(
        propensities=ibis.memtable(pa.Table.from_pylist(people, schema=PROPENSITY_SCHEMA)),
        backtests=ibis.memtable(pa.Table.from_pylist(rows, schema=BACKTESTS_SCHEMA)),
    )
