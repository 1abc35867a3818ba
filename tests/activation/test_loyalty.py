"""The loyalty programme: earn rules, the first-in-first-out ledger with expiry and capped
redemptions, balances as of any date, tiers and ``tier_since``, referral attribution.

Every number comes from the shop in ``tests/loyalty_world.py`` (its docstring has the
story per contact); the arithmetic is repeated next to each assertion."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from clientela.activation import loyalty
from clientela.activation.settings import EarnRule, LoyaltySettings
from clientela.activation.tables import LOYALTY_LEDGER_SCHEMA, LOYALTY_SCHEMA, REFERRALS_SCHEMA
from clientela.config import Settings
from clientela.errors import ClientelaError
from loyalty_world import AS_OF, DAY0, SETTINGS, day, published

DOCS = Path(__file__).resolve().parents[2] / "docs" / "loyalty.md"

pytestmark = pytest.mark.slow  # the shared world runs the main job twice (~40 s)

Tables = dict[str, dict[str, list[dict[str, Any]]]]


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Tables:
    built: Tables = published(tmp_path_factory)[1]
    return built


def _ledger(tables: Tables, who: str, when: str = "now") -> list[tuple[Any, ...]]:
    rows = [r for r in tables[when]["loyalty_ledger"] if r["contact_id"] == who]
    rows.sort(key=lambda r: (r["at"], r["kind"], r["message_id"]))
    return [(r["kind"], r["rule"], r["points"], r["message_id"], r["at"]) for r in rows]


def _balance(tables: Tables, who: str, when: str = "now") -> dict[str, Any]:
    (row,) = [r for r in tables[when]["loyalty"] if r["contact_id"] == who]
    return row


def test_each_earn_rule_pays_its_points(tables: Tables) -> None:
    """Value, review, answer, filtered and referral rules pay what they say, nothing else."""
    earned = {
        (r["contact_id"], r["message_id"]): (r["rule"], r["points"])
        for r in tables["now"]["loyalty_ledger"]
        if r["kind"] == "earned"
    }
    assert earned == {
        ("ann", "ann-o1"): ("purchase", 40.0),  # revenue 40 × 1
        ("ann", "ann-r1"): ("review", 50.0),
        ("ann", "ann-o2"): ("purchase", 50.0),  # no revenue/total: lines 25 × 2
        ("ann", "ann-o3"): ("purchase", 10.0),  # total 10
        ("bob", "bob-p2"): ("community answer", 10.0),  # bob-p1 answers nothing: no points
        ("bob", "bob-w1"): ("live webinar", 20.0),  # bob-w2 is 'recorded': filtered out
        ("bob", "bob-r1"): ("review", 50.0),
        ("cy", "dan-o1"): ("referral", 200.0),  # dan's first order after cy's invitation
        ("dan", "dan-o1"): ("purchase", 30.0),
        ("fay", "fay-o1"): ("purchase", 25.0),
        ("ivy", "ivy-o1"): ("purchase", 20.0),
        ("ivy", "ivy-o2"): ("purchase", 0.0),  # an order without a value: kept, 0 points
    }  # gus is an employee, no member: his order and his referral earn nothing
    reasons = {
        r["message_id"]: r["reason"]
        for r in tables["now"]["loyalty_ledger"]
        if r["kind"] == "earned"
    }
    assert reasons["ivy-o2"] == "order without a (positive) value"
    assert reasons["bob-p2"] == "10 points per Post Created (an answer to a post)"


def test_expiry_takes_what_fifo_redemption_left(tables: Tables) -> None:
    """ann redeems 60 of lots 40 (d0) and 50 (d1): the d0 lot lapses with nothing left,
    the d1 lot with 90 - 60 = 30; lots are stamped to lapse 30 days after they were earned."""
    assert _ledger(tables, "ann")[:4] == [
        ("earned", "purchase", 40.0, "ann-o1", day(0)),
        ("earned", "review", 50.0, "ann-r1", day(1)),
        ("redeemed", "redemption", -60.0, "ann-x1", day(5)),  # 40 of d0 + 20 of d1
        ("expired", "expiry", -30.0, "ann-r1", day(31)),  # the d1 lot: 50 - 20 redeemed
    ]
    (lot,) = [r for r in tables["now"]["loyalty_ledger"] if r["message_id"] == "ann-o1"]
    assert lot["expires_at"] == day(30)
    # bob redeems nothing: each lot lapses whole, 30 days on.
    assert _ledger(tables, "bob")[2:4] == [
        ("expired", "expiry", -10.0, "bob-p2", day(33)),
        ("expired", "expiry", -20.0, "bob-w1", day(34)),
    ]


def test_redemption_beyond_the_balance_is_capped(tables: Tables) -> None:
    """At d40 ann asks for 80 with 140 earned - 60 redeemed - 30 expired = 50 left: 50."""
    (row,) = [r for r in tables["now"]["loyalty_ledger"] if r["message_id"] == "ann-x2"]
    assert row["points"] == -50.0
    assert row["reason"] == "asked for 80.0, capped at the balance of 50.0"


def test_a_redemption_without_points_stays_with_its_reason(tables: Tables) -> None:
    """ivy's redemption carries no points: a row of 0 that says why, not a silent drop."""
    (row,) = [r for r in tables["now"]["loyalty_ledger"] if r["message_id"] == "ivy-x1"]
    assert (row["kind"], row["points"]) == ("redeemed", 0.0)
    assert "no valid 'points' property" in row["reason"]


def test_balances_as_of_the_run(tables: Tables) -> None:
    """balance = earned + redeemed + expired; the next expiry is the oldest lot with points."""
    ann = _balance(tables, "ann")
    # 40 + 50 + 50 + 10 = 150 earned; -60 - 50 = -110 redeemed; -30 expired; 150-110-30 = 10
    assert (ann["earned"], ann["redeemed"], ann["expired"], ann["balance"]) == (
        150.0,
        -110.0,
        -30.0,
        10.0,
    )
    # The d32 lot was used up by the capped redemption; the d45 lot (10) lapses at d75.
    assert (ann["next_expiry_at"], ann["next_expiry_points"]) == (day(75), 10.0)
    bob = _balance(tables, "bob")
    assert (bob["balance"], bob["next_expiry_at"], bob["next_expiry_points"]) == (
        50.0,  # 10 + 20 + 50 - 10 - 20
        day(96),  # the d66 review
        50.0,
    )
    cy = _balance(tables, "cy")
    assert (cy["earned"], cy["expired"], cy["balance"], cy["next_expiry_at"]) == (
        200.0,
        -200.0,  # the reward lapsed at d20 + 30 = d50
        0.0,
        None,
    )
    members = {r["contact_id"] for r in tables["now"]["loyalty"]}
    assert members == {"ann", "bob", "cy", "dan", "eve", "fay", "ivy"}  # not gus (employee)
    eve = _balance(tables, "eve")
    assert (eve["balance"], eve["tier"], eve["tier_since"]) == (0.0, "Bronze", None)


def test_a_replay_at_an_earlier_as_of_gives_the_balance_then(tables: Tables) -> None:
    """As of d50 nothing after d50 counts: ann has the same 10 (no event of hers between
    d50 and d70 moves points), bob has 30 earned and 30 expired, cy's reward lapses at
    d50 itself."""
    ann = _balance(tables, "ann", "earlier")
    assert (ann["earned"], ann["balance"], ann["rolling_points"]) == (150.0, 10.0, 150.0)
    bob = _balance(tables, "bob", "earlier")
    # d3 10 and d4 20 earned, lapsed d33 and d34; the d66 review has not happened yet.
    assert (bob["earned"], bob["expired"], bob["balance"]) == (30.0, -30.0, 0.0)
    assert _ledger(tables, "bob", "earlier") == _ledger(tables, "bob")[:4]
    cy = _balance(tables, "cy", "earlier")
    assert (cy["expired"], cy["balance"]) == (-200.0, 0.0)  # expires_at d50 <= as-of d50


def test_tiers_follow_rolling_points_and_tier_since(tables: Tables) -> None:
    """Rolling = points earned in the 60 days to the as-of. ann: 150 at d50 (Silver since
    d32, when 40 + 50 + 50 = 140 crossed 100); at d70 the d0 and d1 lots have left the
    window (d60, d61): 50 + 10 = 60, Bronze since d61."""
    then = _balance(tables, "ann", "earlier")
    assert (then["tier"], then["tier_since"]) == ("Silver", day(32))
    now = _balance(tables, "ann")
    assert (now["rolling_points"], now["tier"], now["tier_since"]) == (60.0, "Bronze", day(61))
    bob = _balance(tables, "bob")  # 50 rolling: Bronze, and was never anything else
    assert (bob["rolling_points"], bob["tier"], bob["tier_since"]) == (50.0, "Bronze", None)
    cy = _balance(tables, "cy")  # redeemed or lapsed points still count for the tier
    assert (cy["rolling_points"], cy["tier"], cy["tier_since"]) == (200.0, "Silver", day(20))


def _referrals(tables: Tables) -> dict[str, dict[str, Any]]:
    return {r["referrer_id"]: r for r in tables["now"]["referrals"]}


def test_referral_by_email_first_referrer_wins(tables: Tables) -> None:
    """dan matches cy's invitation by email (case aside) and eve's by email and code; cy's
    came first (d10 < d12) and wins; dan's first order after it (d20) converts it."""
    ref = _referrals(tables)
    cy = ref["cy"]
    assert (cy["invited_id"], cy["invited"], cy["referred_at"]) == (
        "dan",
        "dan@mail.example",
        day(10),
    )
    assert (cy["joined_at"], cy["converted_at"], cy["reward_points"]) == (day(14), day(20), 200.0)
    eve = ref["eve"]
    assert (eve["invited_id"], eve["converted_at"], eve["reward_points"]) == (None, None, None)


def test_referral_by_code_pays_members_only(tables: Tables) -> None:
    """fay signs up with gus's code GUS5 and orders at d25: converted, but gus is an
    employee (no member): no reward and no ledger rows for him."""
    gus = _referrals(tables)["gus"]
    assert (gus["invited_id"], gus["invited"], gus["joined_at"]) == ("fay", "GUS5", day(16))
    assert (gus["converted_at"], gus["reward_points"]) == (day(25), None)
    assert _ledger(tables, "gus") == []


def test_earn_rules_are_validated_with_clear_errors() -> None:
    """Missing events, a referral rule with events, a bad filter key, duplicate names,
    a second referral rule and tiers without a 0 are refused, naming what is wrong."""
    with pytest.raises(ValidationError, match=r"events = \[\.\.\.\]"):
        EarnRule(name="x", points=1)
    with pytest.raises(ValidationError, match="takes no events"):
        EarnRule(name="r", kind="referral", events=["Signed Up"], points=5)
    with pytest.raises(ValidationError, match="where: a property name"):
        EarnRule(name="x", events=["A"], points=1, where={"bad key": "1"})
    with pytest.raises(ValidationError, match="review given twice"):
        LoyaltySettings(earn=[EarnRule(name="review", events=["A"], points=1)] * 2)
    with pytest.raises(ValidationError, match="one tier starting at 0"):
        LoyaltySettings(tiers={"Silver": 500})
    with pytest.raises(ValidationError, match="greater than 0"):
        EarnRule(name="x", events=["A"], points=0)


def test_a_value_rule_on_a_non_purchase_event_is_refused() -> None:
    """The order's properties are kept for purchase events only: say so, naming the rule."""
    settings = Settings.model_validate(
        {
            "loyalty": {
                "earn": [{"name": "tips", "kind": "value", "events": ["Tip Given"], "points": 1}]
            }
        }
    )
    with pytest.raises(ClientelaError, match=r"loyalty.earn\[0\] \('tips'\).*'Tip Given'"):
        loyalty.build(None, settings, None, None, AS_OF)  # type: ignore[arg-type]


def test_the_defaults_fit_a_b2c_shop_and_the_programme_can_be_off() -> None:
    """1 point per euro, 50 per review, 200 per converted referral, 10 per answer, for
    buyers; off, the three tables are empty with their published shapes."""
    defaults = LoyaltySettings()
    assert [(r.name, r.kind, r.points) for r in defaults.earn] == [
        ("purchase", "value", 1.0),
        ("review", "event", 50.0),
        ("referral", "referral", 200.0),
        ("community answer", "event", 10.0),
    ]
    assert defaults.member_classes == ["buyer"]
    assert defaults.property_keys() == ["points", "referral_code", "referred_email"]
    off = Settings.model_validate({"loyalty": {"enabled": False}})
    built = loyalty.build(None, off, None, None, datetime(2025, 1, 1))  # type: ignore[arg-type]
    for table, schema in (
        (built.ledger, LOYALTY_LEDGER_SCHEMA),
        (built.balances, LOYALTY_SCHEMA),
        (built.referrals, REFERRALS_SCHEMA),
    ):
        assert table.to_pyarrow().schema == schema and table.count().to_pyarrow().as_py() == 0


def _toml_blocks() -> list[dict[str, Any]]:
    text = DOCS.read_text(encoding="utf-8")
    return [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", text, re.S)]


def test_the_documented_settings_are_the_shipped_defaults() -> None:
    """docs/loyalty.md writes out the defaults: parsed, they equal LoyaltySettings()."""
    written = Settings.model_validate(_toml_blocks()[0])
    assert written.loyalty == LoyaltySettings()


def test_the_documented_worked_example_is_the_tests_shop(tables: Tables) -> None:
    """The worked example's settings are the shop's and its ledger table is ann's ledger."""
    shop = tomllib.loads(SETTINGS)["loyalty"]
    documented = _toml_blocks()[1]["loyalty"]
    assert documented == {k: v for k, v in shop.items() if k != "earn"}
    text = DOCS.read_text(encoding="utf-8").split("## A worked example", 1)[1]
    rows = re.findall(r"^\| (\d+) \| (\w+) \| (\w+) \| (-?\d+) \|", text, re.M)
    documented_rows = [(int(d), kind, rule, float(points)) for d, kind, rule, points in rows]
    ann = [
        ((at - DAY0).days, kind, rule, points)
        for kind, rule, points, _message, at in _ledger(tables, "ann")
    ]
    assert documented_rows == ann
