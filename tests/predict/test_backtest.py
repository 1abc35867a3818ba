"""The back-test figures, checked against arithmetic done by hand."""

from __future__ import annotations

import math

import pytest

from clientela.predict import backtest


def test_auc_counts_the_pairs_a_positive_wins_and_half_the_ties() -> None:
    # Positives score 0.9 and 0.4, negatives 0.6, 0.4 and 0.1: the 6 (positive, negative)
    # pairs are 0.9 > 0.6, 0.9 > 0.4, 0.9 > 0.1 (3 wins), 0.4 < 0.6 (0), 0.4 = 0.4 (a half),
    # 0.4 > 0.1 (1): AUC = (3 + 0 + 0.5 + 1) / 6 = 0.75.
    labels = [1, 0, 1, 0, 0]
    scores = [0.9, 0.6, 0.4, 0.4, 0.1]
    assert backtest.auc(labels, scores) == pytest.approx(0.75)


def test_auc_of_a_perfect_and_a_reversed_ranking() -> None:
    assert backtest.auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert backtest.auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0


def test_auc_without_both_outcomes_is_nan() -> None:
    assert math.isnan(backtest.auc([1, 1], [0.2, 0.3]))


def test_lift_top_decile_is_the_top_tenth_rate_over_the_base_rate() -> None:
    # 20 rows, 4 positives: base rate 0.2. The top decile is the 2 highest scores (rows 0 and
    # 1), one of them positive: rate 0.5, lift 0.5 / 0.2 = 2.5.
    labels = [1, 0, 1, 1, 1] + [0] * 15
    scores = [0.99, 0.98] + [0.5 - i / 100 for i in range(18)]
    assert backtest.lift_top_decile(labels, scores) == pytest.approx(2.5)


def test_lift_of_a_constant_score_is_one() -> None:
    # All tied: the top decile takes the tied rows in proportion, so its rate is the base rate.
    assert backtest.lift_top_decile([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], [0.3] * 10) == 1.0


def test_brier_is_the_mean_squared_error() -> None:
    # (0.8 - 1)^2 + (0.3 - 0)^2 + (0.5 - 1)^2 + (0 - 0)^2 = 0.04 + 0.09 + 0.25 + 0 = 0.38;
    # / 4 = 0.095.
    assert backtest.brier([1, 0, 1, 0], [0.8, 0.3, 0.5, 0.0]) == pytest.approx(0.095)


def test_calibration_bins_hold_mean_predicted_and_observed_rates() -> None:
    # Bin 1 [0, 0.1): 0.05 and 0.07 (mean 0.06), labels 0, 0 -> observed 0.
    # Bin 5 [0.4, 0.5): 0.42, 0.44, 0.46 (mean 0.44), labels 1, 0, 1 -> observed 2/3.
    # Bin 10 [0.9, 1.0]: 1.0 (the last bin includes 1.0), label 1 -> observed 1.
    bins = backtest.calibration([0, 0, 1, 0, 1, 1], [0.05, 0.07, 0.42, 0.44, 0.46, 1.0])
    assert [(b.number, b.rows) for b in bins] == [(1, 2), (5, 3), (10, 1)]
    assert bins[0].predicted == pytest.approx(0.06) and bins[0].observed == 0.0
    assert bins[1].predicted == pytest.approx(0.44) and bins[1].observed == pytest.approx(2 / 3)
    assert bins[2].predicted == 1.0 and bins[2].observed == 1.0
