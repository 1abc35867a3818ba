"""The stage machine: stages, moves in both directions with their history, presets, config."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from clientela.config import parse_settings
from clientela.errors import ConfigError
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, run_job
from journeys import START, Journeys

Rows = dict[str, list[dict[str, Any]]]
Stay = tuple[str, str | None, datetime, datetime | None, str]

D0 = START  # 2025-01-06 09:00:00 UTC, a Monday
AS_OF = datetime(2025, 8, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def at(text: str) -> datetime:
    """'2025-03-01 09:00' (or with seconds) as a UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def people() -> Journeys:
    """The relationship-preset world; every expected stay is worked out in the tests."""
    j = Journeys()
    # an anonymous visitor
    j.page(anonymous_id="v1", properties={"path": "/"}, at=D0)
    # browses anonymously, identifies two hours later, keeps visiting
    j.page(anonymous_id="a-pros", properties={"path": "/"}, at=D0)
    j.identify(anonymous_id="a-pros", user_id="pros", at=D0 + timedelta(hours=2))
    for when in ("2025-03-01 09:00", "2025-05-01 09:00", "2025-07-01 09:00"):
        j.page(user_id="pros", properties={"path": "/blog"}, at=at(when))
    # identifies and never comes back
    j.identify(user_id="idle", at=D0)
    # buys, cancels, buys again; visits often enough never to be dormant
    j.identify(user_id="cust", at=D0)
    j.track("Order Completed", user_id="cust", at=D0 + days(1))
    j.track("Subscription Cancelled", user_id="cust", at=D0 + days(10))
    j.track("Order Completed", user_id="cust", at=D0 + days(20))
    for when in ("2025-03-15 09:00", "2025-05-15 09:00", "2025-07-15 09:00"):
        j.page(user_id="cust", properties={"path": "/account"}, at=at(when))
    # buys, then only opens emails (passive), then comes back with a page view
    j.identify(user_id="sleeper", at=D0)
    j.track("Order Completed", user_id="sleeper", at=D0 + timedelta(hours=1))
    for when in ("2025-02-15 09:00", "2025-03-20 09:00"):
        j.track("Email Opened", user_id="sleeper", properties={"email_id": "n1"}, at=at(when))
    j.page(user_id="sleeper", properties={"path": "/shop"}, at=at("2025-05-20 12:00"))
    # buys, posts, keeps visiting: a fan for 180 days, then a customer again
    j.identify(user_id="fan", at=D0)
    j.track("Order Completed", user_id="fan", at=D0 + days(1))
    j.track("Post Created", user_id="fan", at=D0 + days(2))
    for when in ("2025-03-01 09:00", "2025-05-01 09:00", "2025-06-25 09:00"):
        j.page(user_id="fan", properties={"path": "/community"}, at=at(when))
    # buys, posts, disappears: dormant (which comes before fan in the rules)
    j.identify(user_id="fan_idle", at=D0)
    j.track("Order Completed", user_id="fan_idle", at=D0 + days(1))
    j.track("Post Created", user_id="fan_idle", at=D0 + days(2))
    return j


@pytest.fixture(scope="module")
def relationship(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Rows]:
    """A default workspace with :func:`people` landed, and its tables as of 2025-08-01."""
    ws = make_workspace(tmp_path_factory.mktemp("stages") / "ws")
    land(ws, people())
    return ws, run_job(ws, as_of=AS_OF)


def history(rows: Rows, contact_id: str) -> list[Stay]:
    """(stage, previous_stage, entered_at, exited_at, reason) of every stay, oldest first."""
    stays = [r for r in rows["stage_history"] if r["contact_id"] == contact_id]
    return [
        (r["stage"], r["previous_stage"], r["entered_at"], r["exited_at"], r["reason"])
        for r in sorted(stays, key=lambda r: r["entered_at"])
    ]


def current(rows: Rows, contact_id: str) -> dict[str, Any]:
    (found,) = [r for r in rows["lifecycle"] if r["contact_id"] == contact_id]
    return found


def utc(moment: datetime | None) -> datetime | None:
    """Compare as UTC whether the engine wrote the timestamp with a zone or without."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def in_days(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() / 86_400, 4)


def test_stranger_then_prospect_at_the_identify(relationship: tuple[Workspace, Rows]) -> None:
    """An anonymous visitor is a stranger; identifying makes a prospect from that moment."""
    _, rows = relationship
    assert history(rows, "anon:v1") == [("stranger", None, D0, None, "anonymous visitor")]
    identified = D0 + timedelta(hours=2)
    # later page views are activity but no move
    assert history(rows, "pros") == [
        ("stranger", None, D0, identified, "anonymous visitor"),
        ("prospect", "stranger", identified, None, "identified themselves"),
    ]
    life = current(rows, "pros")
    assert (life["stage"], utc(life["stage_since"])) == ("prospect", identified)
    assert life["stage_reason"] == "identified themselves"


def test_prospect_without_activity_for_180_days_is_dormant(
    relationship: tuple[Workspace, Rows],
) -> None:
    """A prospect with no activity goes dormant 180 days and one second after their last."""
    _, rows = relationship
    # 2025-01-06 09:00 + 180 days = 2025-07-05 09:00 (Jan 25 + Feb 28 + Mar 31 + Apr 30 +
    # May 31 + Jun 30 = 175 days to Jun 30, + 5); "> 180" first holds one second later.
    gone = at("2025-07-05 09:00:01")
    assert D0 + days(180) + SECOND == gone
    assert history(rows, "idle") == [
        ("prospect", None, D0, gone, "identified themselves"),
        ("dormant", "prospect", gone, None, "prospect with no activity for 180 days"),
    ]


def test_order_cancel_and_new_order_move_back_and_forth(
    relationship: tuple[Workspace, Rows],
) -> None:
    """Order: customer; cancellation: churned; a new order: customer again, each stay chained."""
    _, rows = relationship
    bought, cancelled, again = D0 + days(1), D0 + days(10), D0 + days(20)
    stays = history(rows, "cust")
    assert stays == [
        ("prospect", None, D0, bought, "identified themselves"),
        ("customer", "prospect", bought, cancelled, "has bought"),
        ("churned", "customer", cancelled, again, "cancelled after their last purchase or renewal"),
        ("customer", "churned", again, None, "has bought"),
    ]
    # each stay ends when the next begins, and names the one before it
    for before, after in pairwise(stays):
        assert before[3] == after[2]
        assert after[1] == before[0]
    days_by_stay = [
        r["days_in_stage"]
        for r in sorted(
            (r for r in rows["stage_history"] if r["contact_id"] == "cust"),
            key=lambda r: r["entered_at"],
        )
    ]
    assert days_by_stay == [1.0, 9.0, 10.0, in_days(AS_OF, again)]


def test_customer_without_activity_for_90_days_is_dormant_until_they_return(
    relationship: tuple[Workspace, Rows],
) -> None:
    """Dormant exactly 90 days + 1 s after the last activity (opening emails does not count);
    a page view makes them a customer again."""
    _, rows = relationship
    ordered = D0 + timedelta(hours=1)  # 2025-01-06 10:00, the last activity before the break
    # 2025-01-06 10:00 + 90 days = 2025-04-06 10:00 (Jan 25 + Feb 28 + Mar 31 = 84, + 6);
    # the rule is "days_since_activity > 90", so it first holds one second later. Had the
    # emails opened on 2025-03-20 counted, it would have been 2025-06-18 09:00:01.
    dormant = at("2025-04-06 10:00:01")
    assert ordered + days(90) + SECOND == dormant
    back = at("2025-05-20 12:00")
    assert history(rows, "sleeper") == [
        ("prospect", None, D0, ordered, "identified themselves"),
        ("customer", "prospect", ordered, dormant, "has bought"),
        ("dormant", "customer", dormant, back, "customer with no activity for 90 days"),
        ("customer", "dormant", back, None, "has bought"),
    ]
    life = current(rows, "sleeper")
    assert (life["stage"], utc(life["stage_since"])) == ("customer", back)
    assert life["last_active_at"] == back  # not the emails opened
    assert life["days_in_stage"] == in_days(AS_OF, back)


def test_advocacy_makes_a_fan_for_180_days(relationship: tuple[Workspace, Rows]) -> None:
    """A post makes a customer a fan; 180 days + 1 s later an active one is a customer again
    and an inactive one went dormant long before (dormant is tried before fan)."""
    _, rows = relationship
    bought, posted = D0 + days(1), D0 + days(2)  # 2025-01-07 and 2025-01-08, 09:00
    # fan: 2025-01-08 09:00 + 180 days = 2025-07-07 09:00 (Jan 23 + Feb 28 + Mar 31 + Apr 30 +
    # May 31 + Jun 30 = 173 to Jun 30, + 7); "days_since_advocacy <= 180" fails one second
    # later. Visits on Mar 1, May 1 and Jun 25 keep every gap under 90 days (52, 61, 55, and
    # 37 to Aug 1), so no dormant rule ever holds and the fan falls back to customer.
    demoted = at("2025-07-07 09:00:01")
    assert posted + days(180) + SECOND == demoted
    fan_reason = "customer who posted, shared, referred or reviewed in the last 180 days"
    assert history(rows, "fan") == [
        ("prospect", None, D0, bought, "identified themselves"),
        ("customer", "prospect", bought, posted, "has bought"),
        ("fan", "customer", posted, demoted, fan_reason),
        ("customer", "fan", demoted, None, "has bought"),
    ]
    life = current(rows, "fan")
    assert (life["stage"], utc(life["stage_since"])) == ("customer", demoted)
    # 2025-08-01 00:00 - 2025-07-07 09:00:01 = 24 days 14:59:59
    assert life["days_in_stage"] == round(24 + 53_999 / 86_400, 4) == 24.625
    # fan_idle: no activity after the post, so 2025-01-08 09:00 + 90 days + 1 s
    # = 2025-04-08 09:00:01 (Jan 23 + Feb 28 + Mar 31 = 82, + 8) makes them dormant; the
    # advocacy window closing on 2025-07-07 changes nothing (dormant still holds).
    asleep = at("2025-04-08 09:00:01")
    assert posted + days(90) + SECOND == asleep
    assert history(rows, "fan_idle") == [
        ("prospect", None, D0, bought, "identified themselves"),
        ("customer", "prospect", bought, posted, "has bought"),
        ("fan", "customer", posted, asleep, fan_reason),
        ("dormant", "fan", asleep, None, "customer with no activity for 90 days"),
    ]


def test_days_in_stage_of_the_current_stay(relationship: tuple[Workspace, Rows]) -> None:
    """The current stay's days_in_stage is (as_of - entered_at) in days, in both tables."""
    _, rows = relationship
    open_stays = [r for r in rows["stage_history"] if r["exited_at"] is None]
    assert len(open_stays) == len(rows["contacts"]) == 7
    for stay in open_stays:
        expected = in_days(AS_OF, stay["entered_at"])
        assert stay["days_in_stage"] == expected, stay["contact_id"]
        life = current(rows, stay["contact_id"])
        assert (life["stage"], life["days_in_stage"]) == (stay["stage"], expected)
        assert utc(life["stage_since"]) == stay["entered_at"]


def test_replay_as_of_earlier_dates(relationship: tuple[Workspace, Rows]) -> None:
    """Run as of a past moment: only what had happened by then counts."""
    ws, _ = relationship
    # 2025-01-06 12:00, before cust's first order (2025-01-07 09:00): a prospect, 3 hours in
    early = run_job(ws, as_of=at("2025-01-06 12:00"))
    assert history(early, "cust") == [("prospect", None, D0, None, "identified themselves")]
    life = current(early, "cust")
    assert (life["stage"], life["days_in_stage"], life["orders"]) == ("prospect", 0.125, 0)
    assert "anon:v1" in {r["contact_id"] for r in early["contacts"]}
    # 2025-05-01 00:00: sleeper is dormant (since 2025-04-06 10:00:01), not yet back
    mid = run_job(ws, as_of=at("2025-05-01 00:00"))
    dormant = at("2025-04-06 10:00:01")
    assert history(mid, "sleeper")[-1] == (
        "dormant",
        "customer",
        dormant,
        None,
        "customer with no activity for 90 days",
    )
    assert current(mid, "sleeper")["days_in_stage"] == in_days(at("2025-05-01 00:00"), dormant)
    # and fan is still a fan (the window closes on 2025-07-07)
    assert current(mid, "fan")["stage"] == "fan"


def test_stage_since_is_published_in_utc_like_entered_at(
    relationship: tuple[Workspace, Rows],
) -> None:
    """lifecycle.stage_since is the same UTC instant, with its zone, as the stay's entered_at."""
    _, rows = relationship
    stay = history(rows, "pros")[-1]
    assert current(rows, "pros")["stage_since"] == stay[2]


def test_journey_preset(tmp_path: Path) -> None:
    """The journey preset places reach, acquisition, conversion, retention and loyalty."""
    ws = make_workspace(tmp_path / "ws", '[stages]\npreset = "journey"\n')
    j = Journeys()
    j.page(anonymous_id="r1", properties={"path": "/"}, at=D0)
    j.identify(user_id="lead", at=D0)
    j.identify(user_id="new", at=D0)
    j.track("Order Completed", user_id="new", at=at("2025-04-20 09:00"))
    j.identify(user_id="old", at=D0)
    j.track("Order Completed", user_id="old", at=D0 + timedelta(hours=1))
    for when in ("2025-02-20 09:00", "2025-04-01 09:00", "2025-04-25 09:00"):
        j.page(user_id="old", properties={"path": "/account"}, at=at(when))
    j.identify(user_id="loyal", at=D0)
    for when in ("2025-03-01 09:00", "2025-03-02 09:00", "2025-03-03 09:00"):
        j.track("Order Completed", user_id="loyal", at=at(when))
    land(ws, j)
    as_of = at("2025-05-01 00:00")
    rows = run_job(ws, as_of=as_of)

    stages = {r["contact_id"]: r["stage"] for r in rows["lifecycle"]}
    assert stages == {
        "anon:r1": "reach",
        "lead": "acquisition",
        "new": "conversion",
        "old": "retention",
        "loyal": "loyalty",
    }
    # old: ordered 2025-01-06 10:00; "days_since_first_purchase <= 90" fails at 2025-04-06
    # 10:00:01. Visits every < 90 days (45, 40, 24, then 6 days to May 1): never dormant.
    ordered = D0 + timedelta(hours=1)
    retained = at("2025-04-06 10:00:01")
    assert history(rows, "old") == [
        ("acquisition", None, D0, ordered, "identified: a lead"),
        ("conversion", "acquisition", ordered, retained, "first purchase in the last 90 days"),
        ("retention", "conversion", retained, None, "customer for more than 90 days"),
    ]
    assert history(rows, "loyal") == [
        ("acquisition", None, D0, at("2025-03-01 09:00"), "identified: a lead"),
        (
            "conversion",
            "acquisition",
            at("2025-03-01 09:00"),
            at("2025-03-03 09:00"),
            "first purchase in the last 90 days",
        ),
        (
            "loyalty",
            "conversion",
            at("2025-03-03 09:00"),
            None,
            "repeat buyer, active in the last 90 days",
        ),
    ]
    assert current(rows, "new")["next_initiative"] == (
        "Onboard: confirmation, thank-you and the first value in days."
    )


CUSTOM = """\
[stages]
sales_ready_grades = []

[stages.events]
purchase = ["Deal Won"]

[[stages.stages]]
name = "visitor"
initiative = "Say hello."

[[stages.stages]]
name = "lead"
initiative = "Qualify."

[[stages.stages]]
name = "vip"
initiative = "Roll out the red carpet."

[[stages.rules]]
stage = "vip"
when = ["orders >= 2"]

[[stages.rules]]
stage = "lead"
when = ["identified == 1"]
reason = "gave their name"

[[stages.rules]]
stage = "visitor"
"""


def test_custom_rules_and_events_from_toml(tmp_path: Path) -> None:
    """Own stages, rules and purchase events replace the preset's; reasons default to the
    conditions (or 'default')."""
    ws = make_workspace(tmp_path / "ws", CUSTOM)
    j = Journeys()
    j.page(anonymous_id="v9", properties={"path": "/"}, at=D0)
    j.identify(user_id="big", at=D0)
    j.track("Deal Won", user_id="big", at=D0 + days(1))
    j.track("Deal Won", user_id="big", at=D0 + days(2))
    j.identify(user_id="shopper", at=D0)  # "Order Completed" is no purchase here
    j.track("Order Completed", user_id="shopper", at=D0 + days(1))
    j.track("Order Completed", user_id="shopper", at=D0 + days(2))
    land(ws, j)
    rows = run_job(ws, as_of=at("2025-02-01 00:00"))

    assert history(rows, "anon:v9") == [("visitor", None, D0, None, "default")]
    assert history(rows, "big") == [
        ("lead", None, D0, D0 + days(2), "gave their name"),
        ("vip", "lead", D0 + days(2), None, "orders >= 2"),
    ]
    assert history(rows, "shopper") == [("lead", None, D0, None, "gave their name")]
    assert {r["contact_id"]: r["next_initiative"] for r in rows["lifecycle"]} == {
        "anon:v9": "Say hello.",
        "big": "Roll out the red carpet.",
        "shopper": "Qualify.",
    }


FEATURES = (
    "identified, orders, renewals, cancels, advocacy, cancelled, subscribed, days_since_activity, "
    "days_since_purchase, days_since_order, days_since_first_purchase, days_since_advocacy, "
    "days_since_identified, fit"
)


@pytest.mark.parametrize(
    ("rules", "key", "message"),
    [
        pytest.param(
            [{"stage": "prospect", "when": ["score > 3"]}, {"stage": "stranger"}],
            "stages.rules.0.when",
            f"expected a feature among {FEATURES} (not 'score')",
            id="unknown-feature",
        ),
        pytest.param(
            [{"stage": "prospect", "when": ["orders >>= 1"]}, {"stage": "stranger"}],
            "stages.rules.0.when",
            "expected a condition like 'orders >= 1' or 'days_since_activity > 90', "
            "not 'orders >>= 1'",
            id="malformed-condition",
        ),
        pytest.param(
            [{"stage": "vip", "when": ["orders >= 1"]}, {"stage": "stranger"}],
            "stages",
            "expected rules naming stages among stranger, prospect, customer, fan, dormant, "
            "churned (not 'vip')",
            id="unknown-stage",
        ),
        pytest.param(
            [{"stage": "prospect", "when": ["identified == 1"]}],
            "stages",
            "expected a last rule with no conditions (the stage of everyone else)",
            id="last-rule-with-conditions",
        ),
    ],
)
def test_bad_stage_config_is_a_config_error(
    rules: list[dict[str, Any]], key: str, message: str
) -> None:
    """A wrong stage rule is a ConfigError naming the setting and what is expected."""
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        parse_settings({"stages": {"preset": "relationship", "rules": rules}})
    assert caught.value.key == key
    assert str(caught.value).startswith(f"setting '{key}' = ")


def test_a_subscriber_who_renews_but_never_logs_in_stays_a_customer(tmp_path: Path) -> None:
    """A monthly subscriber who never logs in stays a customer, never dormant nor lost."""
    from clientela.metrics import Query
    from helpers import metric_rows

    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    j.identify(user_id="payer", at=D0)
    ordered = D0 + timedelta(hours=1)
    j.track("Order Completed", user_id="payer", properties={"plan": "pro", "total": 30}, at=ordered)
    for month in range(2, 8):  # renewed on the 6th of February ... July, never logs in
        j.track("Subscription Renewed", user_id="payer", at=at(f"2025-0{month}-06 09:00"))
    land(ws, j)
    rows = run_job(ws, as_of=AS_OF)

    assert history(rows, "payer") == [
        ("prospect", None, D0, ordered, "identified themselves"),
        ("customer", "prospect", ordered, None, "has bought"),
    ]
    months = Query(start=datetime(2025, 2, 1).date(), end=datetime(2025, 7, 31).date())
    lost = {r["period"]: r["lost"] for r in metric_rows(ws, "churn_rate", months)}
    assert lost == {f"2025-0{month}": 0 for month in range(2, 8)}


SUBS_AS_OF = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def subscribers(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    """The tables of :func:`journeys.subscriber_journeys` as of 30 June 2025 23:00 UTC."""
    from journeys import subscriber_journeys

    ws = make_workspace(tmp_path_factory.mktemp("subscribers") / "ws")
    land(ws, subscriber_journeys())
    return run_job(ws, as_of=SUBS_AS_OF)


def test_an_active_subscription_keeps_a_quiet_customer_a_customer(subscribers: Rows) -> None:
    """bob pays for a year and never comes back: a customer while the year runs."""
    # Without the subscription he would have been dormant from 15 April 09:00:01.
    started = at("2025-01-15 09:00")
    assert history(subscribers, "bob") == [
        ("prospect", None, at("2025-01-15 08:00"), started, "identified themselves"),
        ("customer", "prospect", started, None, "has bought"),
    ]


def test_a_lapsed_subscription_no_longer_protects_an_inactive_customer(
    subscribers: Rows,
) -> None:
    """After cy's subscription lapses, 90 days without activity make her dormant."""
    # It lapses on 8 April (1 March + 31 + 7 days); her last activity is the start on 1
    # February (the invoice paid on 1 March is passive); the start counts as an order.
    started = at("2025-02-01 09:00")
    # 2025-02-01 09:00 + 90 days = 2025-05-02 09:00 (Feb 27 + Mar 31 + Apr 30 = 88, + 2).
    dormant = at("2025-05-02 09:00:01")
    assert started + days(90) + SECOND == dormant
    assert history(subscribers, "cy") == [
        ("prospect", None, at("2025-02-01 08:00"), started, "identified themselves"),
        ("customer", "prospect", started, dormant, "has bought"),
        ("dormant", "customer", dormant, None, "customer with no activity for 90 days"),
    ]


def test_a_cancelled_subscriber_who_subscribes_again_is_a_customer_again(
    subscribers: Rows,
) -> None:
    """dee cancels on 20 February (churned) and subscribes again on 3 May (customer)."""
    assert history(subscribers, "dee") == [
        ("prospect", None, at("2025-01-05 08:00"), at("2025-01-05 09:00"), "identified themselves"),
        ("customer", "prospect", at("2025-01-05 09:00"), at("2025-02-20 09:00"), "has bought"),
        (
            "churned",
            "customer",
            at("2025-02-20 09:00"),
            at("2025-05-03 09:00"),
            "cancelled after their last purchase or renewal",
        ),
        ("customer", "churned", at("2025-05-03 09:00"), None, "has bought"),
    ]


def test_subscription_history_and_status_are_published(subscribers: Rows) -> None:
    """Stretches of plan and MRR are published, and each contact's status on lifecycle."""
    ann = sorted(
        (r for r in subscribers["subscriptions"] if r["contact_id"] == "ann"),
        key=lambda r: r["from_at"],
    )
    assert [
        (r["subscription_id"], r["spell"], r["plan"], r["interval"], r["mrr"]) for r in ann
    ] == [("s-ann", 1, "basic", "month", 30.0), ("s-ann", 1, "pro", "month", 50.0)]
    assert [(r["from_at"], r["until_at"], r["ended"]) for r in ann] == [
        (at("2025-01-10 09:00"), at("2025-04-10 09:00"), "changed"),
        (at("2025-04-10 09:00"), None, None),
    ]
    dee = sorted(
        (r for r in subscribers["subscriptions"] if r["contact_id"] == "dee"),
        key=lambda r: r["from_at"],
    )
    # d2 lapsed: 3 May 09:00 + 38 days = 10 June 09:00 (May 28 days left + 10).
    assert [(r["subscription_id"], r["mrr"], r["until_at"], r["ended"]) for r in dee] == [
        ("d1", 20.0, at("2025-02-20 09:00"), "cancelled"),
        ("d2", 25.0, at("2025-06-10 09:00"), "lapsed"),
    ]
    status = {
        r["contact_id"]: (
            r["subscription_status"],
            r["plan"],
            r["mrr"],
            utc(r["subscribed_at"]),
            utc(r["subscription_ended_at"]),
        )
        for r in subscribers["lifecycle"]
    }
    assert status == {
        "ann": ("active", "pro", 50.0, at("2025-01-10 09:00"), None),
        # a yearly plan: 1200 / 12
        "bob": ("active", "team", 100.0, at("2025-01-15 09:00"), None),
        "cy": ("lapsed", "basic", 0.0, at("2025-02-01 09:00"), at("2025-04-08 09:00")),
        "dee": ("lapsed", None, 0.0, at("2025-05-03 09:00"), at("2025-06-10 09:00")),
        "eve": ("cancelled", None, 0.0, at("2025-03-03 09:00"), at("2025-03-20 09:00")),
    }


def test_a_late_renewal_starts_a_new_spell_and_a_late_cancellation_changes_nothing(
    tmp_path: Path,
) -> None:
    """A late renewal starts spell 2; a cancellation after the lapse changes nothing."""
    ws = make_workspace(tmp_path / "ws")
    j = Journeys()
    j.identify(user_id="zed", at=at("2025-01-01 08:00"))
    j.track(
        "Subscription Started", user_id="zed", properties={"amount": 10}, at=at("2025-01-01 09:00")
    )
    j.track("Subscription Renewed", user_id="zed", at=at("2025-02-01 09:00"))
    j.track("Subscription Cancelled", user_id="zed", at=at("2025-03-20 09:00"))
    j.track("Subscription Renewed", user_id="zed", at=at("2025-04-01 09:00"))
    land(ws, j)
    rows = run_job(ws, as_of=at("2025-05-01 00:00"))

    # 2025-02-01 09:00 + 31 + 7 days = 2025-03-11 09:00 (Feb 28 days + 10 + 1).
    lapsed = at("2025-03-11 09:00")
    assert at("2025-02-01 09:00") + days(38) == lapsed
    spells = sorted(
        (r["spell"], r["mrr"], r["from_at"], r["until_at"], r["ended"])
        for r in rows["subscriptions"]
    )
    assert spells == [
        (1, 10.0, at("2025-01-01 09:00"), lapsed, "lapsed"),
        (2, 10.0, at("2025-04-01 09:00"), None, None),
    ]
    # The stage machine still reads the cancellation (cancelled == 1 until the next payment).
    assert history(rows, "zed") == [
        ("prospect", None, at("2025-01-01 08:00"), at("2025-01-01 09:00"), "identified themselves"),
        ("customer", "prospect", at("2025-01-01 09:00"), at("2025-03-20 09:00"), "has bought"),
        (
            "churned",
            "customer",
            at("2025-03-20 09:00"),
            at("2025-04-01 09:00"),
            "cancelled after their last purchase or renewal",
        ),
        ("customer", "churned", at("2025-04-01 09:00"), None, "has bought"),
    ]
    life = current(rows, "zed")
    assert (life["subscription_status"], life["mrr"], life["orders"]) == ("active", 10.0, 2)
