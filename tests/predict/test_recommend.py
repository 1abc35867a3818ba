"""Cross-sell and up-sell: rules, suggestions, reasons, who gets none, and the back-test."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clientela.predict.recommend import most_popular, ranking_metrics
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys

DAY0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

# product_id, name, category, price
KIT = ("kit", "Loom Kit", "Looms", 100.0)
YARN = ("yarn", "Merino Yarn", "Yarn", 10.0)
BOOK = ("book", "Pattern Book", "Books", 20.0)
HEDDLE = ("heddle", "Heddle", "Accessories", 15.0)
BOARD = ("board", "Warping Board", "Accessories", 42.5)
SHUTTLE = ("shuttle", "Shuttle", "Accessories", 20.0)

SETTINGS = """
[audience]
own_domains = ["shop.example"]

[predict.recommend]
k = 2
min_co_buyers = 2
"""


def _order(j: Journeys, user: str, day: float, *items: tuple[str, str, str, float]) -> None:
    lines = [{"product_id": p, "name": n, "category": c, "price": v} for p, n, c, v in items]
    j.track(
        "Order Completed",
        user_id=user,
        properties={"products": lines},
        at=DAY0 + timedelta(days=day),
    )


def _shop() -> Journeys:
    """Eight customers (N = 8) and an employee whose test orders teach nothing.

    Buyers: kit 7, yarn 3, heddle 3, book 2, board 2, shuttle 1; Accessories buyers 4
    (c4, c5, c6, c8)."""
    j = Journeys()
    _order(j, "c1", 0, KIT, YARN)
    _order(j, "c1", 10, BOOK)  # a later order: rules are over customers, not baskets
    _order(j, "c2", 1, KIT, YARN, BOOK)
    _order(j, "c3", 2, KIT, YARN)
    _order(j, "c4", 3, KIT, HEDDLE, BOARD)
    _order(j, "c5", 4, KIT, HEDDLE)
    _order(j, "c5", 5, BOARD)
    _order(j, "c6", 6, KIT, HEDDLE)
    _order(j, "c7", 7, KIT)
    _order(j, "c8", 8, SHUTTLE)
    j.identify(user_id="emp", traits={"email": "emp@shop.example"}, at=DAY0)
    _order(j, "emp", 9, SHUTTLE, BOARD, YARN, BOOK)
    return j


def _by_contact(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["contact_id"], r["rank"])):
        out.setdefault(row["contact_id"], []).append(row)
    return out


def test_suggestions_rules_and_reasons(tmp_path: Path) -> None:
    """Each suggestion's product, kind, figures and reason follow the hand-computed rules."""
    ws = make_workspace(tmp_path / "ws", SETTINGS)
    land(ws, _shop())
    published = run_job(ws, as_of=DAY0 + timedelta(days=14))
    got = _by_contact(published["recommendations"])
    assert "emp" not in got  # an employee: not a buyer
    picks = {
        c: [(r["kind"], r["product_id"], r["because_of"]) for r in rows] for c, rows in got.items()
    }
    # c3 owns kit, yarn. yarn→book: n(yarn, book) = 2 (c1, c2), confidence 2/3,
    # lift = 2·8 / (3·2) = 2.67. kit→heddle: 3/7 = 0.43 (lift 3·8/(7·3) = 1.14) beats
    # kit→board 2/7. (kit→book 2/7 loses to yarn→book for the same product.)
    assert picks["c3"] == [("cross_sell", "book", "yarn"), ("cross_sell", "heddle", "kit")]
    book = got["c3"][0]
    assert book["rank"] == 1 and book["product_name"] == "Pattern Book"
    assert book["score"] == pytest.approx(2 / 3) and book["confidence"] == pytest.approx(2 / 3)
    assert book["support"] == pytest.approx(2 / 8) and book["lift"] == pytest.approx(8 / 3)
    assert book["reason"] == (
        "bought Merino Yarn; 67 % of Merino Yarn buyers also bought Pattern Book, "
        "2.7× the base rate"
    )
    assert got["c3"][1]["reason"] == (
        "bought Loom Kit; 43 % of Loom Kit buyers also bought Heddle, 1.1× the base rate"
    )
    # c7 owns only kit: kit→heddle and kit→yarn both 3/7; the tie goes by product id.
    assert picks["c7"] == [("cross_sell", "heddle", "kit"), ("cross_sell", "yarn", "kit")]
    # c6 owns kit, heddle: heddle→board 2/3 as a cross-sell beats the board up-sell
    # (2 of 4 Accessories buyers = 1/2); then kit→yarn 3/7.
    assert picks["c6"] == [("cross_sell", "board", "heddle"), ("cross_sell", "yarn", "kit")]
    # c8 owns only the shuttle (20 €): no rule has 2 co-buyers; the board (42.50 €) is the
    # Accessories step up, bought by 2 of 4 Accessories buyers: share 1/2, base rate 2/8,
    # lift 2. The heddle (15 €) is cheaper: not an up-sell.
    assert picks["c8"] == [("up_sell", "board", "shuttle")]
    up = got["c8"][0]
    assert (up["score"], up["support"], up["lift"]) == pytest.approx((0.5, 0.25, 2.0))
    assert up["category"] == "Accessories"
    assert up["reason"] == (
        "buys Accessories; Warping Board is the step up at 42.50 €, "
        "bought by 50 % of Accessories buyers"
    )
    # c1 and c2 own kit, yarn, book: kit→heddle 3/7, kit→board 2/7.
    assert (
        picks["c1"]
        == picks["c2"]
        == [
            ("cross_sell", "heddle", "kit"),
            ("cross_sell", "board", "kit"),
        ]
    )
    # Too early for a back-test (the default split, 90 days, is before every order).
    (backtest,) = [r for r in published["prediction_backtests"] if r["model"] == "recommendations"]
    assert backtest["value"] is None and backtest["note"].startswith("not back-tested: 0 customers")


def test_non_buyers_and_opted_out_contacts_get_nothing(tmp_path: Path) -> None:
    """A student, an opted-out trait and a latest Unsubscribed event leave a customer out;
    an Unsubscribed followed by Resubscribed does not."""
    j = _shop()
    at = DAY0 + timedelta(days=11)
    j.identify(user_id="stu", traits={"occupation": "Student"}, at=at)
    j.identify(user_id="off", traits={"marketing_opt_out": "TRUE"}, at=at)
    j.identify(user_id="quiet", traits={"email_opt_in": False}, at=at)
    j.track("Unsubscribed", user_id="gone", at=at)
    j.track("Unsubscribed", user_id="back", at=at)
    j.track("Resubscribed", user_id="back", at=at + timedelta(hours=1))
    for user in ("stu", "off", "quiet", "gone", "back"):
        _order(j, user, 12, KIT)
    ws = make_workspace(tmp_path / "ws", SETTINGS)
    land(ws, j)
    published = run_job(ws, as_of=DAY0 + timedelta(days=14))
    got = _by_contact(published["recommendations"])
    assert sorted(got) == ["back", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"]


def test_backtest_beats_the_most_popular_baseline(tmp_path: Path) -> None:
    """The back-test's figures, model and baseline, on a hand-computed split."""
    j = _shop()
    # After the split (day 15): c3 buys the book, c6 the board, c7 the book.
    _order(j, "c3", 20, BOOK)
    _order(j, "c6", 21, BOARD)
    _order(j, "c7", 22, BOOK)
    toml = SETTINGS + "backtest_days = 15\nmin_backtest_customers = 3\n"
    ws = make_workspace(tmp_path / "ws", toml)
    land(ws, j)
    published = run_job(ws, as_of=DAY0 + timedelta(days=30))
    # As of day 30 c3 has the book (day 20), first on day 14: no longer suggested. With c6's
    # board, kit→board is 3/7 like kit→heddle (same lift 8/7): the tie goes by id.
    c3 = [r["product_id"] for r in _by_contact(published["recommendations"])["c3"]]
    assert c3 == ["board", "heddle"]
    rows = {
        r["metric"]: r for r in published["prediction_backtests"] if r["model"] == "recommendations"
    }
    assert sorted(rows) == ["coverage_at_k", "hit_rate_at_k", "precision_at_k", "recall_at_k"]
    # Model (as in the first test): c3 [book, heddle] hit, c6 [board, yarn] hit, c7
    # [heddle, yarn] miss. Most popular not owned (kit 7, heddle 3, yarn 3, board 2,
    # book 2; ties by id): c3 [heddle, board] miss, c6 [yarn, board] hit, c7 [heddle, yarn]
    # miss. Hit rate 2/3 vs 1/3; recall (1 + 1 + 0)/3 vs 1/3; precision (½ + ½ + 0)/3 vs ⅙.
    expected = {
        "hit_rate_at_k": (2 / 3, 1 / 3),
        "recall_at_k": (2 / 3, 1 / 3),
        "precision_at_k": (1 / 3, 1 / 6),
        "coverage_at_k": (1.0, 1.0),
    }
    for metric, (value, baseline) in expected.items():
        row = rows[metric]
        assert (row["value"], row["baseline"]) == pytest.approx((value, baseline)), metric
        assert (row["bin"], row["rows"], row["baseline_name"]) == (2, 3, "most_popular")


def test_ranking_metrics_by_hand() -> None:
    """Hit rate, recall and precision at k on two customers, and a customer with no list."""
    suggested = {"a": ["x", "y", "z"], "b": ["p", "q"]}
    bought = {"a": {"y", "w"}, "b": {"r"}, "c": {"x"}, "d": set()}
    m = ranking_metrics(suggested, bought, k=2)
    # Judged: a, b, c (d bought nothing new). a: top 2 [x, y] finds y of {y, w}: hit,
    # recall 1/2, precision 1/2. b: no hit. c: no list. Hit rate 1/3, recall (½)/3 = 1/6,
    # precision (½)/3 = 1/6, coverage 2/3.
    assert m.customers == 3
    assert (m.hit_rate, m.recall, m.precision, m.coverage) == pytest.approx(
        (1 / 3, 1 / 6, 1 / 6, 2 / 3)
    )
    assert math.isnan(ranking_metrics({}, {"a": set()}, 3).hit_rate)


def test_most_popular_skips_what_the_customer_has() -> None:
    """The most-bought products not owned, ties by id."""
    buyers = {"kit": 7, "yarn": 3, "heddle": 3, "book": 2, "board": 2}
    assert most_popular(buyers, {"kit", "yarn"}, 2) == ["heddle", "board"]
    assert most_popular(buyers, set(buyers), 2) == []


def test_no_orders_no_backtest_row_and_orders_without_lines_say_so(tmp_path: Path) -> None:
    """A workspace without orders publishes no back-test row; orders without product lines
    give one whose note says what is missing, and no suggestions."""
    ws = make_workspace(tmp_path / "empty")
    land(ws, Journeys().identify(user_id="ann", at=DAY0))
    published = run_job(ws, as_of=DAY0 + timedelta(days=1))
    ours = [r for r in published["prediction_backtests"] if r["model"] == "recommendations"]
    assert published["recommendations"] == [] and ours == []
    ws = make_workspace(tmp_path / "bare")
    j = Journeys()
    for user in ("ann", "bob"):
        j.track("Order Completed", user_id=user, properties={"revenue": 10}, at=DAY0)
    land(ws, j)
    published = run_job(ws, as_of=DAY0 + timedelta(days=1))
    assert published["recommendations"] == []
    (row,) = [r for r in published["prediction_backtests"] if r["model"] == "recommendations"]
    assert row["value"] is None
    assert "no order has product lines" in row["note"]


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[predict.recommend]\nk = 0", "predict.recommend.k"),
        ("[predict.recommend]\nmin_co_buyers = 0", "predict.recommend.min_co_buyers"),
        ("[predict.recommend]\nbacktest_days = -1", "predict.recommend.backtest_days"),
        ("[predict.recommend]\nopt_out = 1", "predict.recommend.opt_out"),
    ],
)
def test_bad_recommend_settings_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    """A wrong ``[predict.recommend]`` setting is refused with its full key."""
    from clientela.config import load_settings
    from clientela.errors import ConfigError

    path = tmp_path / "clientela.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"setting '{key}'"):
        load_settings(path)
