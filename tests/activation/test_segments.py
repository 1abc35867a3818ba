"""Segments: membership for every kind of condition, history carried across runs, replay at
an earlier as-of, saved segments, and definition errors that name segment and field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import pytest
from facts_tables import events, facts

from clientela.activation import segments
from clientela.activation.settings import SegmentDefinition
from clientela.config import Settings
from clientela.engine import Engine, connect
from clientela.errors import ClientelaError, ConfigError
from conftest import make_workspace

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    ws = make_workspace(tmp_path_factory.mktemp("seg") / "ws")
    eng = connect(ws, "duckdb")
    yield eng
    eng.close()


def _settings(**defs: dict[str, Any]) -> Settings:
    return Settings.model_validate({"segments": defs})


def _members(
    engine: Engine, settings: Settings, fact_rows: Any, event_rows: Any, **kw: Any
) -> dict[str, list[str]]:
    got = segments.evaluate(
        engine, settings, kw.get("saved", {}), fact_rows, event_rows, None, AS_OF
    )
    out: dict[str, list[str]] = {name: [] for name in settings.segments}
    for row in engine.to_arrow(got.members).to_pylist():
        out.setdefault(row["segment"], []).append(row["contact_id"])
    return {k: sorted(v) for k, v in out.items()}


PEOPLE = facts(
    [
        {"contact_id": "a", "stage": "prospect", "grade": "A1", "fit": 80.0, "orders": 0.0},
        {
            "contact_id": "b",
            "stage": "customer",
            "grade": "B2",
            "fit": 55.0,
            "orders": 3.0,
            "churn_risk": 0.9,
            "first_purchase_at": ago(400),
        },
        {
            "contact_id": "c",
            "stage": "customer",
            "grade": None,
            "fit": 30.0,
            "orders": 1.0,
            "first_purchase_at": ago(10),
        },
        {"contact_id": "d", "stage": "stranger", "audience_class": "student"},
    ],
    plan={"a": "pro", "b": "free", "c": "12"},
)

EVENTS = events(
    [
        # b: Order Completed 3 times, at 10, 50 and 100 days ago -> 2 in the last 90 days.
        ("b", "track", "Order Completed", ago(10), {"plan": "pro"}),
        ("b", "track", "Order Completed", ago(50), {"plan": "free"}),
        ("b", "track", "Order Completed", ago(100), None),
        # c: one order 5 days ago, visited /pricing 3 days ago.
        ("c", "track", "Order Completed", ago(5), None),
        ("c", "page", "/pricing", ago(3), None),
        # a: visited /pricing 2 days ago and /pricing/teams 8 days ago, never bought.
        ("a", "page", "/pricing", ago(2), None),
        ("a", "page", "/pricing/teams", ago(8), None),
        # d: an order after the as-of never counts.
        ("d", "track", "Order Completed", AS_OF + timedelta(days=1), None),
    ]
)


def test_field_comparisons(engine: Engine) -> None:
    """=, !=, in, not in, >, >=, <, <=, is null on facts; a null never passes != / not in."""
    s = _settings(
        eq={"all": [{"field": "stage", "equals": "customer"}]},
        ne={"all": [{"field": "grade", "not_equals": "A1"}]},  # c's grade is null: out
        isin={"all": [{"field": "stage", "in": ["prospect", "stranger"]}]},
        notin={"all": [{"field": "stage", "not_in": ["customer"]}]},
        gt={"all": [{"field": "fit", "gt": 55}]},  # a 80
        gte={"all": [{"field": "fit", "gte": 55}]},  # a 80, b 55
        lt={"all": [{"field": "fit", "lt": 55}]},  # c 30 (d's fit is null)
        lte={"all": [{"field": "fit", "lte": 55}]},  # b 55, c 30
        null={"all": [{"field": "grade", "is_null": True}]},  # c, d
        older={"all": [{"field": "first_purchase_at", "lt": ago(30)}]},  # b (400 days ago)
    )
    got = _members(engine, s, PEOPLE, EVENTS)
    assert got == {
        "eq": ["b", "c"],
        "ne": ["b"],
        "isin": ["a", "d"],
        "notin": ["a", "d"],
        "gt": ["a"],
        "gte": ["a", "b"],
        "lt": ["c"],
        "lte": ["b", "c"],
        "null": ["c", "d"],
        "older": ["b"],
    }


def test_traits_membership_and_nesting(engine: Engine) -> None:
    """Traits compare as text (or as numbers with gt...), segment membership, all/any/not."""
    s = _settings(
        pro={"all": [{"field": "trait.plan", "equals": "pro"}]},
        numeric={"all": [{"field": "trait.plan", "gte": 10}]},  # only c's "12" is a number
        customers={"all": [{"field": "stage", "equals": "customer"}]},
        risky={"all": [{"segment": "customers"}, {"field": "churn_risk", "gte": 0.5}]},
        either={"any": [{"segment": "pro"}, {"segment": "risky"}]},
        neither={"not": {"any": [{"segment": "pro"}, {"segment": "risky"}]}},
    )
    got = _members(engine, s, PEOPLE, EVENTS)
    assert got == {
        "pro": ["a"],
        "numeric": ["c"],
        "customers": ["b", "c"],
        "risky": ["b"],
        "either": ["a", "b"],
        "neither": ["c", "d"],
    }


def test_behaviour_in_a_window(engine: Engine) -> None:
    """did at least/at most N times within N days, page paths (exact, prefix), property
    filters, did_not; events after the as-of never count."""
    s = _settings(
        # b: 2 orders in 90 days (10, 50); c: 1 (5) -> only b.
        twice90={"all": [{"did": "Order Completed", "at_least": 2, "within_days": 90}]},
        # at most 1 in 90 days, at least 0: a (0), c (1), d (0: its order is after the as-of).
        atmost1={"all": [{"did": "Order Completed", "at_most": 1, "within_days": 90}]},
        # "visited /pricing in the last 7 days and did not buy": a (c bought 5 days ago).
        pricing_not_bought={
            "all": [
                {"did": "page", "path": "/pricing", "within_days": 7},
                {"did_not": "Order Completed", "within_days": 7},
            ]
        },
        # prefix within 10 days: a (2 and 8 days ago), c (3 days ago).
        prefix={"all": [{"did": "page", "path": "/pricing*", "within_days": 10}]},
        # b's order with plan=pro (10 days ago).
        pro_order={"all": [{"did": "Order Completed", "where": {"plan": "pro"}}]},
        ever={"all": [{"did": ["Order Completed", "Refund Issued"]}]},  # b, c
    )
    got = _members(engine, s, PEOPLE, EVENTS)
    assert got == {
        "twice90": ["b"],
        "atmost1": ["a", "c", "d"],
        "pricing_not_bought": ["a"],
        "prefix": ["a", "c"],
        "pro_order": ["b"],
        "ever": ["b", "c"],
    }


def _run(engine: Engine, s: Settings, people: Any, previous: Any, at: datetime) -> Any:
    got = segments.evaluate(engine, s, {}, people, EVENTS, previous, at)
    history = ibis.memtable(engine.to_arrow(got.history))
    members = engine.to_arrow(got.members).to_pylist()
    return history, members, engine.to_arrow(got.definitions).to_pylist()


def _rows(engine: Engine, history: Any) -> list[tuple[str, str, int]]:
    return sorted(
        (r["contact_id"], r["change"], (r["at"] - AS_OF).days)
        for r in engine.to_arrow(history).to_pylist()
    )


def test_history_enter_stay_leave_reenter_and_replay(engine: Engine) -> None:
    """Four runs: x enters (day 0), stays (1), leaves (2), re-enters (3); members' ``since``
    is the entry that opened the membership; a replay at day 1 sees only the first entry."""
    s = _settings(hot={"all": [{"field": "fit", "gte": 50}]})

    def people(fit: float) -> Any:
        return facts([{"contact_id": "x", "fit": fit}, {"contact_id": "y", "fit": 10.0}])

    h0, _m0, d0 = _run(engine, s, people(60), None, AS_OF)
    h1, m1, _ = _run(engine, s, people(70), h0, AS_OF + timedelta(days=1))
    h2, m2, d2 = _run(engine, s, people(20), h1, AS_OF + timedelta(days=2))
    h3, m3, _ = _run(engine, s, people(90), h2, AS_OF + timedelta(days=3))
    assert _rows(engine, h3) == [
        ("x", "entered", 0),
        ("x", "entered", 3),
        ("x", "left", 2),
    ]
    assert [(m["contact_id"], (m["since"] - AS_OF).days) for m in m1] == [("x", 0)]
    assert m2 == []
    assert [(m["contact_id"], (m["since"] - AS_OF).days) for m in m3] == [("x", 3)]
    assert d0[0]["members"] == 1 and d2[0]["members"] == 0
    assert d0[0]["source"] == "config"
    # "Who joined this week" is one filter on the history.
    joined = h3.filter((h3.change == "entered") & (h3.at > AS_OF + timedelta(days=2)))
    assert engine.to_arrow(joined.contact_id).to_pylist() == ["x"]
    # Replay at day 1 over the history of day 3: later changes are not seen.
    replay, members, _ = _run(engine, s, people(70), h3, AS_OF + timedelta(days=1))
    assert _rows(engine, replay) == [("x", "entered", 0)]
    assert [m["contact_id"] for m in members] == ["x"]
    # Re-running the same as-of gives the same history (nothing doubled).
    again, _, _ = _run(engine, s, people(90), h3, AS_OF + timedelta(days=3))
    assert _rows(engine, again) == _rows(engine, h3)


def test_definition_errors_name_segment_and_field(tmp_path: Path) -> None:
    """A bad definition fails with the segment's name, the field and what was expected."""
    with pytest.raises(ConfigError) as caught:
        make_workspace(
            tmp_path / "ws",
            '[segments.hot]\nall = [{ field = "stage", gt = 3 }]\n',
        )
    text = str(caught.value)
    assert "segments.hot" in text and "'stage'" in text and "expected text" in text
    with pytest.raises(segments.SegmentError, match=r"segment 'late'.*within_days.*greater than 0"):
        segments.parse("late", {"all": [{"did": "Signed Up", "within_days": 0}]})
    with pytest.raises(segments.SegmentError, match=r"segment 'odd'.*one of field, did"):
        segments.parse("odd", {"all": [{"feild": "stage", "equals": "x"}]})
    with pytest.raises(segments.SegmentError, match=r"'orderz'.*one of contact_id"):
        segments.parse("typo", {"any": [{"field": "orderz", "gte": 1}]})


def test_saved_segments(tmp_path: Path, engine: Engine) -> None:
    """Saved segments persist in state/, are evaluated as ``saved``, may not shadow a
    configured one, and an unknown segment reference is refused."""
    ws = make_workspace(tmp_path / "ws", '[segments.hot]\nall = [{ field = "fit", gte = 50 }]\n')
    cold = SegmentDefinition.model_validate({"all": [{"field": "fit", "lt": 50}]})
    segments.save(ws, "cold", cold)
    assert segments.saved(ws) == {"cold": cold}
    assert (ws.state_dir / "segments.json").exists()
    with pytest.raises(segments.SegmentError, match=r"'hot' is defined in clientela.toml"):
        segments.save(ws, "hot", cold)
    with pytest.raises(ClientelaError, match="'nope' is not a segment"):
        segments.save(ws, "x", SegmentDefinition.model_validate({"all": [{"segment": "nope"}]}))
    got = segments.evaluate(engine, ws.settings, segments.saved(ws), PEOPLE, EVENTS, None, AS_OF)
    rows = {r["segment"]: r for r in engine.to_arrow(got.definitions).to_pylist()}
    # fit < 50: c (30); d's fit is null.
    assert rows["cold"]["source"] == "saved" and rows["cold"]["members"] == 1
    assert rows["hot"]["members"] == 2  # a 80, b 55
