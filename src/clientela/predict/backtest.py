"""Back-test figures of a probability model on held-out rows: pure functions on arrays.

* :func:`auc`: the area under the ROC curve, the probability that a random positive is
  ranked above a random negative (ties count one half), from the rank-sum statistic;
* :func:`lift_top_decile`: the positive rate among the 10 % highest-scored rows over the
  overall positive rate (1.0 is no better than random);
* :func:`brier`: the mean squared difference between probability and outcome (lower is
  better; a constant at the base rate p scores p(1 − p));
* :func:`calibration`: per probability bin, the mean predicted probability beside the
  observed rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata


def _arrays(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"{y.shape[0]} labels but {s.shape[0]} scores")
    return y, s


def auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """ROC AUC (NaN without both a positive and a negative)."""
    y, s = _arrays(labels, scores)
    positives = int(y.sum())
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(s)  # ties share their average rank
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def lift_top_decile(labels: ArrayLike, scores: ArrayLike) -> float:
    """Positive rate of the top 10 % by score (at least one row) over the overall rate.

    Rows tied with the last one taken share its place: the top decile's rate counts them
    in proportion, so a model that gives everyone the same score gets a lift of 1.0."""
    y, s = _arrays(labels, scores)
    base = y.mean() if y.size else 0.0
    if base == 0:
        return float("nan")
    k = max(1, int(np.ceil(y.size / 10)))
    threshold = np.sort(s)[::-1][k - 1]
    above = s > threshold
    at = s == threshold
    taken = int(above.sum())
    rest = k - taken
    positives = y[above].sum() + (y[at].mean() * rest if rest else 0.0)
    return float(positives / k / base)


def brier(labels: ArrayLike, probabilities: ArrayLike) -> float:
    """Mean squared error of the probabilities."""
    y, p = _arrays(labels, probabilities)
    return float(np.mean((p - y) ** 2)) if y.size else float("nan")


@dataclass(frozen=True)
class Bin:
    """One calibration bin: rows with predicted probability in [low, high)."""

    number: int
    rows: int
    predicted: float
    observed: float


def calibration(labels: ArrayLike, probabilities: ArrayLike, bins: int = 10) -> list[Bin]:
    """Equal-width bins of predicted probability (the last one includes 1.0); empty bins are
    left out. ``number`` is 1 for [0, 0.1) .. 10 for [0.9, 1.0] with 10 bins."""
    y, p = _arrays(labels, probabilities)
    which = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for number in range(bins):
        mask = which == number
        if mask.any():
            out.append(
                Bin(number + 1, int(mask.sum()), float(p[mask].mean()), float(y[mask].mean()))
            )
    return out
