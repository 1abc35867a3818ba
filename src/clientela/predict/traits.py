"""A churn (or any yes/no outcome) model from CRM traits alone: a team with a CRM export and
a churn flag gets a model and its back-test without any event history.

Set ``[predict.propensity] label_trait`` to the trait holding the outcome (after import, trait
names are snake_case: a ``Churn`` column becomes ``churn``). Every other trait becomes
features:

* **numeric** when at least 95 % of its non-blank values read as numbers (blanks and the rest
  are imputed with the median);
* **categorical** otherwise, one-hot, when it has at most :data:`MAX_CATEGORIES` values (ids,
  names and e-mails have more and are left out); a missing value is a category of its own.

The label reads ``1``/``true``/``yes``/``y``/``t`` as positive and ``0``/``false``/``no``/
``n``/``f`` as negative (case-insensitive); contacts with anything else are left out. The
back-test holds out a stratified quarter of the labelled contacts
(``train_test_split(test_size=0.25, stratify=labels, random_state=0)``), fits the same
calibrated logistic regression as the event-based models on the rest and reports AUC, top-
decile lift, Brier score and calibration beside the base rate (a constant: AUC 0.5). Then the
model is fitted on every labelled contact and scores the contacts whose label is negative
(the ones still to be kept).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from clientela.config import PropensitySettings
from clientela.predict import backtest
from clientela.predict.propensity import DIGITS, REASON_MIN, single_threaded, train

MAX_CATEGORIES = 30
POSITIVE = frozenset({"1", "true", "yes", "y", "t", "1.0"})
NEGATIVE = frozenset({"0", "false", "no", "n", "f", "0.0"})
TEST_SHARE = 0.25


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass
class TraitMatrix:
    """Contacts, their features (numeric, then one column per category) and labels."""

    contacts: list[str]
    x: np.ndarray
    y: np.ndarray
    """1.0 positive, 0.0 negative, NaN unknown."""
    names: list[str]
    """Feature names: the trait, or ``trait=value`` for a category."""


def matrix(traits: pa.Table, label: str) -> TraitMatrix:
    """The feature matrix of the ``contact_traits`` rows (contact_id, trait, value)."""
    by_contact: dict[str, dict[str, str | None]] = {}
    for contact, trait, value in zip(
        traits.column("contact_id").to_pylist(),
        traits.column("trait").to_pylist(),
        traits.column("value").to_pylist(),
        strict=True,
    ):
        text = None if value is None or not str(value).strip() else str(value).strip()
        by_contact.setdefault(contact, {})[trait] = text
    contacts = sorted(by_contact)
    names_of_traits = sorted({t for row in by_contact.values() for t in row} - {label})
    columns: list[np.ndarray] = []
    names: list[str] = []
    for trait in names_of_traits:
        values = [by_contact[c].get(trait) for c in contacts]
        present = [v for v in values if v is not None]
        if not present:
            continue
        numbers = [_number(v) for v in values]
        readable = sum(n is not None for n in numbers)
        if readable >= 0.95 * len(present):
            columns.append(np.array([np.nan if n is None else n for n in numbers], dtype=float))
            names.append(trait)
            continue
        categories = sorted({v or "" for v in values})
        if len(categories) > MAX_CATEGORIES or len(categories) < 2:
            continue
        for category in categories:
            columns.append(np.array([(v or "") == category for v in values], dtype=float))
            names.append(f"{trait}={category or '(none)'}")
    x = np.column_stack(columns) if columns else np.zeros((len(contacts), 0))
    y = np.array(
        [
            1.0
            if (by_contact[c].get(label) or "").lower() in POSITIVE
            else 0.0
            if (by_contact[c].get(label) or "").lower() in NEGATIVE
            else np.nan
            for c in contacts
        ],
        dtype=float,
    )
    return TraitMatrix(contacts=contacts, x=x, y=y, names=names)


def split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) of the labelled rows: a stratified quarter held out, seed 0."""
    from sklearn.model_selection import train_test_split

    labelled = np.flatnonzero(~np.isnan(y))
    train_rows, test_rows = train_test_split(
        labelled, test_size=TEST_SHARE, stratify=y[labelled], random_state=0
    )
    return np.sort(train_rows), np.sort(test_rows)


def describe(name: str, value: float) -> str:
    """A trait feature in words (``contract: Month-to-month``, ``tenure 2``)."""
    if "=" in name:
        trait, category = name.split("=", 1)
        return f"{trait.replace('_', ' ')}: {category}"
    if math.isnan(value):
        return f"{name.replace('_', ' ')} unknown"
    return f"{name.replace('_', ' ')} {value:g}"


@dataclass
class TraitModel:
    """The back-test rows and the scores of the contacts whose label is negative."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    probabilities: np.ndarray | None = None
    reasons: list[str] = field(default_factory=list)
    auc: float = float("nan")


def train_on_traits(
    traits: pa.Table, label: str, options: PropensitySettings, model: str = "churn_traits"
) -> TraitModel:
    """Back-test and fit a model of ``label`` on the other traits (see the module doc)."""
    out = TraitModel()
    data = matrix(traits, label)
    known = ~np.isnan(data.y)
    positives = int(np.nansum(data.y))
    negatives = int(known.sum()) - positives

    def note(message: str) -> TraitModel:
        out.rows.append(
            {
                "model": model,
                "metric": "not_trained",
                "rows": int(known.sum()),
                "note": f"{model}: {message}",
            }
        )
        return out

    if not known.any():
        return note(f"no contact has a yes/no value in the trait '{label}'")
    if positives < options.min_positives or negatives < options.min_positives:
        return note(
            f"{positives} contacts with '{label}' yes and {negatives} with no, at least "
            f"{options.min_positives} of each needed"
        )
    if not data.names:
        return note(f"no trait besides '{label}' to learn from")
    try:
        with single_threaded():
            return _fit(out, data, label, options, model)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        out.rows = []
        out.probabilities = None
        return note(f"the model could not be fitted ({exc})")


def _fit(
    out: TraitModel, data: TraitMatrix, label: str, options: PropensitySettings, model: str
) -> TraitModel:
    """Back-test on a held-out quarter, refit on every labelled contact, score the rest."""
    known = ~np.isnan(data.y)
    train_rows, test_rows = split(data.y)
    fitted = train(data.x[train_rows], data.y[train_rows], data.names)
    y_test = data.y[test_rows]
    p = fitted.probabilities(data.x[test_rows])
    base = np.full(len(test_rows), float(data.y[train_rows].mean()))
    out.auc = backtest.auc(y_test, p)
    common = {"model": model, "baseline_name": "base rate", "rows": len(test_rows)}
    described = (
        f"label trait '{label}': trained on {len(train_rows)} contacts, tested on a stratified "
        f"{TEST_SHARE:.0%} ({len(test_rows)})"
    )
    for metric, value, baseline, text in (
        ("auc", out.auc, 0.5, described),
        ("lift_top_decile", backtest.lift_top_decile(y_test, p), 1.0, ""),
        ("brier", backtest.brier(y_test, p), backtest.brier(y_test, base), ""),
    ):
        out.rows.append(
            {
                **common,
                "metric": metric,
                "value": round(value, DIGITS),
                "baseline": round(baseline, DIGITS),
                "note": text,
            }
        )
    for bin_ in backtest.calibration(y_test, p):
        out.rows.append(
            {
                "model": model,
                "metric": "calibration",
                "bin": bin_.number,
                "value": round(bin_.observed, DIGITS),
                "baseline": round(bin_.predicted, DIGITS),
                "baseline_name": "mean predicted probability",
                "rows": bin_.rows,
                "note": "",
            }
        )
    final = train(data.x[known], data.y[known], data.names)
    keep = np.flatnonzero(data.y == 0)
    x_keep = data.x[keep]
    out.contacts = [data.contacts[i] for i in keep]
    out.probabilities = np.round(final.probabilities(x_keep), DIGITS)
    contributions = final.contributions(x_keep)
    for row, values in zip(contributions, x_keep, strict=True):
        order = [
            i
            for i in np.argsort(-row, kind="stable")
            if row[i] > REASON_MIN and ("=" not in data.names[i] or values[i] == 1.0)
        ][: options.reasons]
        out.reasons.append("; ".join(describe(data.names[i], float(values[i])) for i in order))
    return out
