"""Churn and purchase propensity: the feature rows replay the past, the model and its words."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from clientela.config import PropensitySettings
from clientela.predict import features, propensity
from conftest import make_workspace
from helpers import land, run_job
from worlds import PROPENSITY_AS_OF as AS_OF
from worlds import PROPENSITY_SETTINGS as SETTINGS
from worlds import propensity_day as day
from worlds import propensity_journeys


@pytest.fixture(scope="module")
def rows_and_tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """The feature rows (caught on their way to the model) and the published tables."""
    ws = make_workspace(tmp_path_factory.mktemp("propensity") / "ws", SETTINGS)
    land(ws, propensity_journeys())
    seen: list[pa.Table] = []
    real_split = propensity._split

    def spy(rows: pa.Table, *args: Any) -> Any:
        seen.append(rows)
        return real_split(rows, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(propensity, "_split", spy)
        tables = run_job(ws, as_of=AS_OF)
    rows = {(r["contact_id"], r["cutoff"]): r for r in seen[0].to_pylist()}
    return rows, (ws, tables)


def _secs(moment: datetime) -> int:
    return int(moment.timestamp())


def test_the_cutoffs_leave_a_horizon_between_training_and_test() -> None:
    from clientela.config import Settings

    settings = Settings.model_validate(
        {"predict": {"propensity": {"horizon_days": 60, "cutoffs": 2, "cutoff_spacing_days": 10}}}
    )
    plan = features.plan(settings, AS_OF)
    assert plan.score == _secs(AS_OF)
    assert plan.test == _secs(day(140))
    assert plan.train == [_secs(day(70)), _secs(day(80))]


def test_rows_hold_the_stage_and_labels_of_each_cutoff(rows_and_tables: Any) -> None:
    rows, _ = rows_and_tables
    at70, at80, at140 = (_secs(day(n)) for n in (70, 80, 140))
    # ann is a customer at day 80 and cancels on day 100, inside (80, 140].
    assert rows[("ann", at80)]["population"] == "customer"
    assert rows[("ann", at80)]["churned"] == 1
    assert rows[("ann", at80)]["purchased"] is None
    # bob is a prospect at day 70 and buys on day 75, inside (70, 130]; a customer at day 80.
    assert rows[("bob", at70)]["population"] == "prospect"
    assert rows[("bob", at70)]["purchased"] == 1
    assert rows[("bob", at80)]["population"] == "customer"
    assert rows[("bob", at80)]["churned"] == 0
    # ann has churned by day 140: in neither population; the score rows have no labels.
    assert ("ann", at140) not in rows
    assert rows[("bob", _secs(AS_OF))]["churned"] is None


def test_features_see_only_what_happened_by_the_cutoff(rows_and_tables: Any) -> None:
    rows, _ = rows_and_tables
    ann = rows[("ann", _secs(day(80)))]
    assert ann["days_since_purchase"] == pytest.approx(79.0)
    assert ann["orders"] == 1
    assert ann["tickets_90d"] == 2
    # t1 answered after 5 hours; t2 open for 5 days at day 80: (5 + 120) / 2 hours.
    assert ann["response_hours"] == pytest.approx(62.5)
    assert ann["unanswered_tickets"] == 1
    bob = rows[("bob", _secs(day(140)))]
    assert bob["days_since_activity"] == pytest.approx(65.0)  # the order on day 75, not day 150
    assert bob["orders"] == 1


def test_engagement_at_a_cutoff_is_the_score_a_run_at_that_time_gives(
    rows_and_tables: Any,
) -> None:
    rows, (ws, _tables) = rows_and_tables
    replay = run_job(ws, as_of=day(80))
    for contact in ("ann", "bob"):
        scored = next(r for r in replay["scores"] if r["contact_id"] == contact)
        row = rows[(contact, _secs(day(80)))]
        assert row["engagement"] == pytest.approx(scored["engagement"], abs=1e-3)
        assert row["grade"] == scored["grade"]


def test_too_little_history_publishes_a_note_and_no_probabilities(rows_and_tables: Any) -> None:
    _, (_ws, tables) = rows_and_tables
    notes = {r["model"]: r for r in tables["prediction_backtests"]}
    assert notes["churn"]["metric"] == "not_trained"
    assert notes["churn"]["note"] == (
        "churn: 2 of 3 customers at the training cut-offs churned within 60 days "
        "(2 cut-offs; a contact counts at each), at least 50 needed"
    )
    assert notes["conversion"]["note"].startswith(
        "conversion: 1 of 1 prospects at the training cut-offs bought within 60 days"
    )
    assert all(r["churn_risk"] is None for r in tables["predictions"])


# The model on arrays ------------------------------------------------------------------------


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Churn rises with days since activity and tickets; the third column is noise."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.exponential(30, n), rng.poisson(1, n).astype(float), rng.normal(50, 10, n)]
    )
    logit = -4 + 0.04 * x[:, 0] + 0.8 * x[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y


NAMES = ["days_since_activity", "tickets_90d", "fit"]


def test_the_model_ranks_and_calibrates_on_rows_it_did_not_see() -> None:
    from clientela.predict import backtest

    x, y = _synthetic(4000, 1)
    trained = propensity.train(x[:3000], y[:3000], NAMES)
    p = trained.probabilities(x[3000:])
    assert backtest.auc(y[3000:], p) > 0.75
    assert abs(p.mean() - y[3000:].mean()) < 0.03


def test_reasons_are_the_top_positive_contributions_in_words() -> None:
    x, y = _synthetic(3000, 2)
    trained = propensity.train(x, y, NAMES)
    risky = np.array([[200.0, 4.0, 50.0]])
    words = propensity.reasons(trained.contributions(risky), risky, NAMES, 2)
    assert words == ["last active 200 days ago; 4 support tickets in the last 90 days"]
    calm = np.array([[1.0, 0.0, 50.0]])
    assert propensity.reasons(trained.contributions(calm), calm, NAMES, 2) == [""]


def test_a_feature_is_told_in_words() -> None:
    assert propensity.describe("days_since_purchase", 142.0) == "last purchase 142 days ago"
    assert propensity.describe("days_since_purchase", float("nan")) == "never purchased"
    assert propensity.describe("tickets_90d", 1.0) == "1 support ticket in the last 90 days"
    assert propensity.describe("signal_page_view", 3.25) == "page view: 3.2 engagement points"


def test_bands_follow_the_thresholds() -> None:
    options = PropensitySettings(high_band=0.5, medium_band=0.2)
    assert [propensity.band(p, options) for p in (0.5, 0.49, 0.2, 0.19)] == [
        "high",
        "medium",
        "medium",
        "low",
    ]


def test_the_grade_baseline_is_each_grades_training_rate_shrunk_to_the_overall_rate() -> None:
    # Training: A1 has 3 rows, 2 positive; B4 has 1 row, 0 positive; overall 2/4 = 0.5.
    # A1: (2 + 5 * 0.5) / (3 + 5) = 4.5 / 8 = 0.5625; B4: (0 + 2.5) / 6 = 0.41667;
    # an unseen grade (C2) gets 0.5.
    rates = propensity.grade_baseline(
        ["A1", "A1", "A1", "B4"], np.array([1.0, 1.0, 0.0, 0.0]), ["A1", "B4", "C2"]
    )
    assert rates == pytest.approx([0.5625, 2.5 / 6, 0.5])
