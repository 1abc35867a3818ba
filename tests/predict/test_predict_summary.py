"""The purchase summary and the published prediction tables, through the main job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clientela.errors import ConfigError
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys

DAY0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
AS_OF = DAY0 + timedelta(days=28, hours=3)  # day 28, 12:00


def _orders() -> Journeys:
    j = Journeys()
    # ann: four orders on three days, the value in each place clientela reads it from.
    j.identify(user_id="ann", traits={"email": "ann@mail.example"}, at=DAY0)
    j.track("Order Completed", user_id="ann", properties={"revenue": 10}, at=DAY0)
    j.track(
        "Order Completed",
        user_id="ann",
        properties={"total": "5.00"},
        at=DAY0 + timedelta(hours=9),  # 18:00 the same day: the same transaction
    )
    j.track(
        "Order Completed",
        user_id="ann",
        properties={
            "products": [
                {"product_id": "yarn", "price": 4, "quantity": 2},
                {"product_id": "hook", "price": 2},  # no quantity: one
            ]
        },
        at=DAY0 + timedelta(days=7),
    )
    j.track(
        "Order Completed",
        user_id="ann",
        properties={"revenue": 12.5, "total": 99},  # revenue wins
        at=DAY0 + timedelta(days=21, hours=5),
    )
    # bob: one order, then one after the as-of date (not seen).
    j.track("Order Completed", anonymous_id="anon-bob", properties={"revenue": 7}, at=DAY0)
    j.identify(anonymous_id="anon-bob", user_id="bob", at=DAY0 + timedelta(hours=1))
    j.track(
        "Order Completed", user_id="bob", properties={"revenue": 9}, at=AS_OF + timedelta(hours=1)
    )
    # cat: an employee (own domain), whose test orders are not sales.
    j.identify(user_id="cat", traits={"email": "cat@shop.example"}, at=DAY0)
    for k in range(3):
        j.track(
            "Order Completed", user_id="cat", properties={"revenue": 1}, at=DAY0 + timedelta(days=k)
        )
    # dan: an order with a value, then one without any.
    j.track("Order Completed", user_id="dan", properties={"revenue": 20}, at=DAY0)
    j.track(
        "Order Completed", user_id="dan", properties={"coupon": "X"}, at=DAY0 + timedelta(days=14)
    )
    # Not an order, whatever its properties.
    j.track("Product Viewed", user_id="eve", properties={"revenue": 50}, at=DAY0)
    return j


def test_summary_and_predictions_through_the_job(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", '[audience]\nown_domains = ["shop.example"]\n')
    land(ws, _orders())
    published = run_job(ws, as_of=AS_OF)
    rows = {r["contact_id"]: r for r in published["predictions"]}
    assert sorted(rows) == ["ann", "bob", "dan"]  # cat is an employee; eve never ordered
    ann = rows["ann"]
    # Days 0 (10 + 5 = 15), 7 (4·2 + 2·1 = 10) and 21 (12.5): three transactions.
    # frequency = 3 − 1 = 2; recency = 21/7 = 3 weeks; age = 28/7 = 4 weeks;
    # monetary value = mean of the repeats = (10 + 12.5)/2 = 11.25; revenue = 37.5.
    assert (ann["orders"], ann["transactions"], ann["frequency"]) == (4, 3, 2)
    assert (ann["recency"], ann["age"], ann["time_unit"]) == (3.0, 4.0, "week")
    assert (ann["monetary_value"], ann["revenue"]) == (11.25, 37.5)
    assert ann["first_order_at"] == DAY0
    assert ann["last_order_at"] == DAY0 + timedelta(days=21, hours=5)
    bob = rows["bob"]
    # One order (anonymous, then identified): no repeat, age 28/7 = 4, no monetary value.
    assert (bob["orders"], bob["frequency"], bob["recency"], bob["age"]) == (1, 0, 0.0, 4.0)
    assert bob["monetary_value"] is None and bob["revenue"] == 7.0
    dan = rows["dan"]
    # The second order has no value: a transaction all the same, with no monetary value.
    assert (dan["frequency"], dan["recency"], dan["monetary_value"]) == (1, 2.0, None)

    # Three customers are too few: both models say so, and nothing is predicted.
    models = {r["model"]: r for r in published["prediction_models"]}
    assert models["bgnbd"]["status"] == "failed"
    assert models["bgnbd"]["message"] == "BG/NBD: 3 customers is too few to fit (at least 20)"
    assert models["gamma_gamma"]["status"] == "failed"
    assert "1 repeat buyers" in models["gamma_gamma"]["message"]
    assert all(r["p_alive"] is None and r["clv"] is None for r in rows.values())


def test_order_events_values_and_days_come_from_the_settings(tmp_path: Path) -> None:
    settings = """
[predict]
order_events = ["Purchase"]
value_properties = ["amount.gross"]
time_unit = "day"
min_customers = 2
min_repeat_customers = 2
"""
    ws = make_workspace(tmp_path / "ws", settings)
    j = Journeys()
    j.track("Purchase", user_id="u1", properties={"amount": {"gross": 30}}, at=DAY0)
    j.track(
        "Purchase", user_id="u1", properties={"amount": {"gross": 10}}, at=DAY0 + timedelta(days=3)
    )
    j.track(
        "Order Completed", user_id="u1", properties={"revenue": 500}, at=DAY0 + timedelta(days=4)
    )
    j.track("Purchase", user_id="u2", properties={"revenue": 8}, at=DAY0 + timedelta(days=1))
    land(ws, j)
    rows = {r["contact_id"]: r for r in run_job(ws, as_of=AS_OF)["predictions"]}
    # u1: days 0 and 3 (Order Completed is not an order here): x = 1, t_x = 3, T = 28 days.
    assert (rows["u1"]["frequency"], rows["u1"]["recency"], rows["u1"]["age"]) == (1, 3.0, 28.0)
    assert rows["u1"]["monetary_value"] == 10.0 and rows["u1"]["time_unit"] == "day"
    # u2's purchase has no amount.gross and no products: no value, still a customer (T = 27).
    assert (rows["u2"]["age"], rows["u2"]["revenue"]) == (27.0, None)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[predict]\ntime_unit = "month"', "predict.time_unit"),
        ("[predict]\norder_events = []", "predict.order_events"),
        ('[predict]\nvalue_properties = ["a b"]', "predict.value_properties"),
        ("[predict]\nmargin = 0", "predict.margin"),
    ],
)
def test_bad_predict_settings_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    (tmp_path / "ws").mkdir()
    from clientela.config import load_settings

    path = tmp_path / "ws" / "clientela.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"setting '{key}'"):
        load_settings(path)
