"""Cohorts: retention matrix, lifecycle statuses, stickiness (DAU, WAU, MAU)."""

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

MONTHS = Query(start=date(2025, 2, 1), end=date(2025, 4, 30), period="month")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def months_query(**options: str) -> Query:
    return Query(MONTHS.start, MONTHS.end, MONTHS.period, options=options)


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Seven contacts logging in over December–April (shown: February–April)."""
    ws = make_workspace(tmp_path_factory.mktemp("cohorts") / "ws")
    j = Journeys()
    active = {
        "a": ["2024-12-10", "2025-02-10", "2025-04-10"],  # active before the range
        "b": ["2025-02-05", "2025-03-05"],
        "c": ["2025-02-15"],
        "d": ["2025-03-10", "2025-04-12"],
        "e": ["2025-01-20", "2025-03-20"],  # first active in the lead-in month
        "f": ["2025-04-20"],  # an email open in March does not make f active
        "g": ["2025-04-25"],
    }
    for user, days in active.items():
        for day in days:
            j.track("Logged In", user_id=user, at=at(f"{day} 10:00"))
    j.track("Signed Up", user_id="b", at=at("2025-02-05 09:00"))
    j.track("Email Opened", user_id="f", at=at("2025-03-15 10:00"))
    land(ws, j)
    run_job(ws, datetime(2025, 4, 30, 23, 59, tzinfo=UTC))
    return ws


def matrix(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["period"], r["offset"], r["cohort_size"], r["retained"], r["retention"]) for r in rows
    ]


LATER = "n/a (period not reached yet)"


def test_first_time_retention_puts_each_contact_in_the_cohort_of_their_first_activity(
    months: Workspace,
) -> None:
    """first_time: one cohort per contact, the period of their first ever start event."""
    rows = metric_rows(months, "retention", months_query())
    # February cohort: b, c (a started in December, e in January: earlier cohorts).
    # March cohort: d. April cohort: f, g (f's March email open is passive).
    assert matrix(rows) == [
        ("2025-02", 0, 2, 2, 100.0),
        ("2025-02", 1, 2, 1, 50.0),  # b came back in March: 1 / 2
        ("2025-02", 2, 2, 0, 0.0),
        ("2025-03", 0, 1, 1, 100.0),
        ("2025-03", 1, 1, 1, 100.0),  # d came back in April
        ("2025-03", 2, 1, LATER, LATER),  # May has not started at the as-of
        ("2025-04", 0, 2, 2, 100.0),
        ("2025-04", 1, 2, LATER, LATER),
        ("2025-04", 2, 2, LATER, LATER),
    ]


def test_recurring_retention_counts_every_period_a_contact_started_in(
    months: Workspace,
) -> None:
    """recurring: every period with a start event is a cohort entry of that period."""
    rows = metric_rows(months, "retention", months_query(cohort="recurring"))
    # February: a, b, c → March: b (1 / 3 = 33.33 %), April: a (1 / 3).
    # March: b, d, e → April: d (1 / 3). April: a, d, f, g.
    third = 100 / 3
    assert matrix(rows) == [
        ("2025-02", 0, 3, 3, 100.0),
        ("2025-02", 1, 3, 1, third),
        ("2025-02", 2, 3, 1, third),
        ("2025-03", 0, 3, 3, 100.0),
        ("2025-03", 1, 3, 1, third),
        ("2025-03", 2, 3, LATER, LATER),
        ("2025-04", 0, 4, 4, 100.0),
        ("2025-04", 1, 4, LATER, LATER),
        ("2025-04", 2, 4, LATER, LATER),
    ]


def test_an_empty_cohort_has_no_retention_and_says_why(months: Workspace) -> None:
    """A cohort with nobody in it gives n/a (not 0 %); a named start event picks the cohort."""
    rows = metric_rows(months, "retention", months_query(start_event="Signed Up"))
    empty = "n/a (empty cohort: nobody started in this period)"
    # Only b signs up (February); b logs in in February and March, not April.
    assert matrix(rows)[:5] == [
        ("2025-02", 0, 1, 1, 100.0),
        ("2025-02", 1, 1, 1, 100.0),
        ("2025-02", 2, 1, 0, 0.0),
        ("2025-03", 0, 0, 0, empty),
        ("2025-03", 1, 0, 0, empty),
    ]


def test_offsets_after_the_end_of_the_range_are_not_counted(months: Workspace) -> None:
    """With --to before the as-of, a cohort's periods past the range are n/a, not 0 %."""
    rows = metric_rows(
        months, "retention", Query(start=date(2025, 2, 1), end=date(2025, 3, 31), period="month")
    )
    beyond = "n/a (after the end of the range)"
    assert matrix(rows) == [
        ("2025-02", 0, 2, 2, 100.0),
        ("2025-02", 1, 2, 1, 50.0),
        ("2025-03", 0, 1, 1, 100.0),
        ("2025-03", 1, 1, beyond, beyond),  # April is in the past, but outside the range
    ]


def test_lifecycle_splits_active_contacts_into_new_returning_resurrecting_and_dormant(
    months: Workspace,
) -> None:
    """Each period: new, returning, resurrecting, and dormant as a positive count (all four
    always listed, in that order)."""
    rows = metric_rows(months, "lifecycle", MONTHS)
    assert [(r["period"], r["status"], r["contacts"]) for r in rows] == [
        # February: b, c new; a back after December (resurrecting); e, active in January
        # only, is dormant; nobody was active in both January and February.
        ("2025-02", "new", 2),
        ("2025-02", "returning", 0),
        ("2025-02", "resurrecting", 1),
        ("2025-02", "dormant", 1),
        # March: d new; b returning; e back after January (resurrecting); a, c dormant.
        ("2025-03", "new", 1),
        ("2025-03", "returning", 1),
        ("2025-03", "resurrecting", 1),
        ("2025-03", "dormant", 2),
        # April: f, g new (f's March email open is passive); d returning; a resurrecting;
        # b, e dormant.
        ("2025-04", "new", 2),
        ("2025-04", "returning", 1),
        ("2025-04", "resurrecting", 1),
        ("2025-04", "dormant", 2),
    ]


def test_bad_cohort_option_names_the_option(months: Workspace) -> None:
    """An unknown cohort kind fails with a message naming the option and its choices."""
    with pytest.raises(ClientelaError, match="option 'cohort' must be one of first_time, recurr"):
        metric_rows(months, "retention", months_query(cohort="weekly"))


# -- stickiness: a hand-built week, Monday 3 to Friday 7 March 2025 (the as-of) ----------------

WEEK = Query(start=date(2025, 3, 3), end=date(2025, 3, 9), period="week")
DAYS = Query(start=date(2025, 3, 3), end=date(2025, 3, 9), period="day")


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """p on Mon and Wed, q on Tue; r, s, t only before the week; u only opens an email."""
    ws = make_workspace(tmp_path_factory.mktemp("stickiness") / "ws")
    j = Journeys()
    active = {
        "p": ["2025-03-03 09:00", "2025-03-05 09:00", "2025-03-05 17:00"],
        "q": ["2025-03-04 12:00"],
        "r": ["2025-02-10 12:00"],  # in MAU until 11 March
        "s": ["2025-02-02 12:00"],  # 29 days before Monday: in Monday's MAU only
        "t": ["2025-02-27 12:00"],  # in WAU until Wednesday 5 March
    }
    for user, moments in active.items():
        for moment in moments:
            j.track("Product Used", user_id=user, at=at(moment))
    j.track("Email Opened", user_id="u", at=at("2025-03-05 10:00"))
    land(ws, j)
    run_job(ws, datetime(2025, 3, 7, 23, 59, tzinfo=UTC))
    return ws


def test_stickiness_averages_dau_wau_mau_over_the_days_up_to_the_as_of(week: Workspace) -> None:
    """Per week: averages over Mon–Fri (the as-of is Friday); stickiness = ΣDAU / ΣMAU."""
    rows = metric_rows(week, "stickiness", WEEK)
    # DAU Mon–Fri: 1 (p), 1 (q), 1 (p), 0, 0 → Σ 3 → 3 / 5 = 0.6
    # WAU: Mon p, t = 2; Tue p, q, t = 3; Wed 3; Thu p, q = 2; Fri 2 → Σ 12 → 2.4
    # MAU: Mon p, r, s, t = 4; Tue p, q, r, t = 4; Wed–Fri 4 → Σ 20 → 4.0
    # stickiness = 3 / 20 × 100 = 15 %
    assert rows == [
        {
            "period": "2025-03-03",
            "days": 5,
            "avg_dau": 0.6,
            "avg_wau": 2.4,
            "avg_mau": 4.0,
            "active_contacts": 2,  # p and q were active in the week
            "stickiness": 15.0,
        }
    ]


def test_stickiness_per_day_counts_activity_before_the_range(week: Workspace) -> None:
    """Per day: trailing 7 and 30 days reach back before the range; days after the as-of
    are n/a."""
    rows = metric_rows(week, "stickiness", DAYS)
    later = "n/a (period not reached yet)"
    assert [
        (r["period"], r["avg_dau"], r["avg_wau"], r["avg_mau"], r["stickiness"]) for r in rows
    ] == [
        ("2025-03-03", 1.0, 2.0, 4.0, 25.0),  # 1 / 4
        ("2025-03-04", 1.0, 3.0, 4.0, 25.0),
        ("2025-03-05", 1.0, 3.0, 4.0, 25.0),  # p twice on Wednesday counts once
        ("2025-03-06", 0.0, 2.0, 4.0, 0.0),  # t's 27 February has left the 7 days
        ("2025-03-07", 0.0, 2.0, 4.0, 0.0),
        ("2025-03-08", later, later, later, later),
        ("2025-03-09", later, later, later, later),
    ]


def test_stickiness_who_lists_the_contacts_in_the_periods_mau(week: Workspace) -> None:
    """who: one row per contact counted in the period, with the days they count in each."""
    engine = connect(week)
    try:
        facts = who(engine, week.settings, "stickiness", {"period": "2025-03-03"}, WEEK)
    finally:
        engine.close()
    got = [
        (r["contact_id"], r["active_days"], r["wau_days"], r["mau_days"]) for r in facts.to_pylist()
    ]
    assert got == [
        ("p", 2, 5, 5),  # active Mon, Wed; in WAU and MAU every day from Monday
        ("q", 1, 4, 4),  # Tue: Tue–Fri
        ("r", 0, 0, 5),
        ("s", 0, 0, 1),  # Monday only (2 February + 29 days)
        ("t", 0, 3, 5),  # WAU Mon–Wed
    ]


def test_stickiness_calendar_reading_is_average_dau_over_the_months_users(week: Workspace) -> None:
    """-o mau=calendar: stickiness = average DAU / contacts active in the calendar month."""
    query = Query(date(2025, 3, 1), date(2025, 3, 31), "month", options={"mau": "calendar"})
    rows = metric_rows(week, "stickiness", query)
    # March up to the as-of (Friday 7): 7 days. DAU: p on the 3rd and 5th, q on the 4th →
    # Σ 3, average 3 / 7; active in March: p and q → 2. Stickiness = 3 / (7 × 2) × 100.
    assert [(r["period"], r["days"], r["active_contacts"]) for r in rows] == [("2025-03", 7, 2)]
    assert rows[0]["avg_dau"] == pytest.approx(3 / 7)
    assert rows[0]["stickiness"] == pytest.approx(300 / 14)
