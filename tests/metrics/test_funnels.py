"""Funnels: ordered, strict and unordered steps, windows, conversion bases, time to convert."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from clientela.engine import connect
from clientela.errors import ClientelaError
from clientela.metrics import Query, who
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, metric_rows, run_job
from journeys import Journeys

AS_OF = datetime(2025, 5, 31, 23, 59, tzinfo=UTC)
STEPS = "Signed Up,page:/pricing,Order Completed"
LABELS = ["1 Signed Up", "2 page:/pricing", "3 Order Completed"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def query(**options: str) -> Query:
    return Query(
        start=date(2025, 3, 1),
        end=date(2025, 5, 31),
        period="month",
        options={"steps": STEPS, **options},
    )


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Six contacts going through sign-up → pricing page → order in March and April."""
    ws = make_workspace(tmp_path_factory.mktemp("funnels") / "ws")
    j = Journeys()

    def pricing(user: str, when: str) -> None:
        j.page(user_id=user, properties={"path": "/pricing"}, at=at(when))

    # u1: all three steps in order, nothing in between (pricing +1 h, order +24 h).
    j.track("Signed Up", user_id="u1", at=at("2025-03-02 10:00"))
    pricing("u1", "2025-03-02 11:00")
    j.track("Order Completed", user_id="u1", at=at("2025-03-03 10:00"))
    # u2: in order, but a log-in between sign-up and pricing (pricing +2 h, order +26 h);
    # a second order on 8 March (+74 h).
    j.track("Signed Up", user_id="u2", at=at("2025-03-05 10:00"))
    j.track("Logged In", user_id="u2", at=at("2025-03-05 10:30"))
    pricing("u2", "2025-03-05 12:00")
    j.track("Order Completed", user_id="u2", at=at("2025-03-06 12:00"))
    j.track("Order Completed", user_id="u2", at=at("2025-03-08 12:00"))
    # u3: orders (+1 h) before looking at pricing (+3 h).
    j.track("Signed Up", user_id="u3", at=at("2025-03-07 10:00"))
    j.track("Order Completed", user_id="u3", at=at("2025-03-07 11:00"))
    pricing("u3", "2025-03-07 13:00")
    # u4: an email open (passive) between sign-up and pricing (+10 min); orders 41 days on.
    j.track("Signed Up", user_id="u4", at=at("2025-03-10 10:00"))
    j.track("Email Opened", user_id="u4", at=at("2025-03-10 10:05"))
    pricing("u4", "2025-03-10 10:10")
    j.track("Order Completed", user_id="u4", at=at("2025-04-20 10:00"))
    # u5: signs up, nothing else.
    j.track("Signed Up", user_id="u5", at=at("2025-03-12 10:00"))
    # u6 (April): sign-up and pricing in the same second.
    j.track("Signed Up", user_id="u6", at=at("2025-04-02 10:00:00"))
    pricing("u6", "2025-04-02 10:00:00")
    land(ws, j)
    run_job(ws, AS_OF)
    return ws


def table(rows: list[dict[str, Any]], period: str, *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in ("step", *columns)) for r in rows if r["period"] == period]


def test_ordered_funnel_counts_each_step_after_the_previous_one(ws: Workspace) -> None:
    """Ordered: a step counts at or after the previous one, whatever happens in between."""
    rows = metric_rows(ws, "funnel", query())
    # Step 2 (pricing after sign-up): u1, u2, u3, u4 → 4 of 5 = 80 %; step 3 (an order
    # after pricing, within 30 days): u1, u2 (u3 ordered before pricing, u4 after 41 days)
    # → 2 of 5 = 40 %; dropped = previous step − this step.
    assert table(rows, "2025-03", "contacts", "conversion", "dropped") == [
        (LABELS[0], 5, 100.0, 0),
        (LABELS[1], 4, 80.0, 1),
        (LABELS[2], 2, 40.0, 2),
    ]


def test_conversion_against_the_previous_step(ws: Workspace) -> None:
    """against=previous divides each step by the step before it instead of step 1."""
    rows = metric_rows(ws, "funnel", query(against="previous"))
    # 4 of 5 reach pricing → 80 %; 2 of those 4 order → 50 %
    assert table(rows, "2025-03", "contacts", "conversion") == [
        (LABELS[0], 5, 100.0),
        (LABELS[1], 4, 80.0),
        (LABELS[2], 2, 50.0),
    ]


def test_time_to_convert_is_nearest_rank_median_and_p90_in_hours(ws: Workspace) -> None:
    """Median and p90 hours from step 1 use the nearest rank, ceil(q × n)."""
    rows = metric_rows(ws, "funnel", query())
    # Step 2 hours: u4 1/6, u1 1, u2 2, u3 3 → median rank ceil(2) = 2 → 1 h;
    # p90 rank ceil(3.6) = 4 → 3 h. Step 3: u1 24, u2 26 → median rank 1 → 24 h;
    # p90 rank ceil(1.8) = 2 → 26 h. Step 1 is 0 h by definition.
    assert table(rows, "2025-03", "median_hours", "p90_hours") == [
        (LABELS[0], 0.0, 0.0),
        (LABELS[1], 1.0, 3.0),
        (LABELS[2], 24.0, 26.0),
    ]


def test_strict_funnel_breaks_on_any_other_action_but_not_on_passive_events(
    ws: Workspace,
) -> None:
    """Strict: each step must be the very next action; an email open does not break it."""
    rows = metric_rows(ws, "funnel", query(mode="strict"))
    # Step 2: u1 (pricing right after sign-up) and u4 (only an email open between);
    # u2 logged in between, u3 ordered between → 2 of 5 = 40 %.
    # Step 3: u1 only (u4's order is 41 days on) → 1 of 5 = 20 %.
    assert table(rows, "2025-03", "contacts", "conversion", "dropped") == [
        (LABELS[0], 5, 100.0, 0),
        (LABELS[1], 2, 40.0, 3),
        (LABELS[2], 1, 20.0, 1),
    ]


def test_unordered_funnel_takes_later_steps_in_any_order(ws: Workspace) -> None:
    """Unordered: after step 1, the steps may come in any order; time = the last of them."""
    rows = metric_rows(ws, "funnel", query(mode="unordered"))
    # Step 3 now also counts u3 (order at +1 h, pricing at +3 h) → 3 of 5 = 60 %.
    # Hours to step 3: u3 max(3, 1) = 3, u1 24, u2 26 → median rank 2 → 24; p90 rank 3 → 26.
    assert table(rows, "2025-03", "contacts", "conversion", "median_hours", "p90_hours") == [
        (LABELS[0], 5, 100.0, 0.0, 0.0),
        (LABELS[1], 4, 80.0, 1.0, 3.0),
        (LABELS[2], 3, 60.0, 24.0, 26.0),
    ]


def test_window_is_measured_from_step_1(ws: Workspace) -> None:
    """A step later than the window after step 1 does not count; minutes and days parse."""
    short = metric_rows(ws, "funnel", query(window="90m"))
    # Within 90 minutes of sign-up: pricing for u1 (60 min) and u4 (10 min); no order.
    assert table(short, "2025-03", "contacts") == [(LABELS[0], 5), (LABELS[1], 2), (LABELS[2], 0)]
    long = metric_rows(ws, "funnel", query(window="60d"))
    # Within 60 days, u4's order 41 days on counts too: u1, u2, u4 → 3.
    assert table(long, "2025-03", "contacts") == [(LABELS[0], 5), (LABELS[1], 4), (LABELS[2], 3)]


def test_entries_belong_to_their_period_and_ties_count_in_ordered_mode(ws: Workspace) -> None:
    """u6 enters in April; pricing in the same second as sign-up counts; May is empty."""
    rows = metric_rows(ws, "funnel", query())
    assert table(rows, "2025-04", "contacts", "conversion", "dropped") == [
        (LABELS[0], 1, 100.0, 0),
        (LABELS[1], 1, 100.0, 0),  # same second as step 1: 0 h
        (LABELS[2], 0, 0.0, 1),
    ]
    nobody = "n/a (nobody entered the funnel)"
    assert table(rows, "2025-05", "contacts", "conversion") == [
        (LABELS[0], 0, nobody),
        (LABELS[1], 0, nobody),
        (LABELS[2], 0, nobody),
    ]


def test_a_step_listed_twice_needs_two_events(ws: Workspace) -> None:
    """Order Completed twice: the second step needs a second, later order."""
    steps = "Signed Up,Order Completed,Order Completed"
    labels = ["1 Signed Up", "2 Order Completed", "3 Order Completed"]
    for mode in ("ordered", "unordered"):
        rows = metric_rows(ws, "funnel", query(steps=steps, mode=mode))
        # First order within 30 days: u1, u2, u3 → 3; a second order: u2 (+74 h) → 1.
        assert table(rows, "2025-03", "contacts", "median_hours") == [
            (labels[0], 5, 0.0),
            (labels[1], 3, 24.0),  # u3 1 h, u1 24 h, u2 26 h → rank 2
            (labels[2], 1, 74.0),
        ], mode


def test_who_lists_the_contacts_who_reached_a_step(ws: Workspace) -> None:
    """The facts carry reached = 1/0 per entry and step, so who can list either side."""
    engine = connect(ws)
    try:
        cell = {"period": "2025-03", "step": "3 Order Completed"}
        reached = who(engine, ws.settings, "funnel", {**cell, "reached": "1"}, query())
        missed = who(engine, ws.settings, "funnel", {**cell, "reached": "0"}, query())
    finally:
        engine.close()
    assert reached.column("contact_id").to_pylist() == ["u1", "u2"]
    assert missed.column("contact_id").to_pylist() == ["u3", "u4", "u5"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "sideways"}, "option 'mode' must be one of ordered, strict, unordered"),
        ({"window": "30 days"}, "option 'window' must be a positive whole number"),
        ({"window": "0d"}, "option 'window' must be a positive whole number"),
        ({"against": "last"}, "option 'against' must be one of first, previous"),
        ({"steps": "Signed Up"}, "option 'steps': a funnel needs at least two steps"),
        ({"steps": "Signed Up,,Order Completed"}, "option 'steps': an empty event name"),
        ({"steps": "Signed Up,page:"}, "option 'steps': 'page:' needs a path"),
    ],
)
def test_bad_options_name_the_option_and_what_is_expected(
    ws: Workspace, options: dict[str, str], message: str
) -> None:
    """Each bad option fails with a ClientelaError saying which option and what it takes."""
    with pytest.raises(ClientelaError, match=message):
        metric_rows(ws, "funnel", query(**options))
