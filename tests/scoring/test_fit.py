"""Fit: rule tests on contact and account traits, points, the clamp to 0-100, letters,
and account scores rolled up from members."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)


RULES = """
[models.m]
applies_to = "all"
account_rollup = "top_k"
top_k = 2
saturation = 10.0

[models.m.fit_cutoffs]
A = 60
B = 40
C = 20

[[models.m.fit]]
name = "manager"
trait = "title|job_title"
op = "regex"
pattern = "manager"
points = 20

[[models.m.fit]]
name = "spain"
trait = "country"
op = "equals"
value = "ES"
points = 10

[[models.m.fit]]
name = "target industry"
trait = "account.industry"
op = "in"
values = ["Retail", "Hospitality"]
points = 30

[[models.m.fit]]
name = "mid-size"
trait = "account.employees"
op = "range"
min = 50
max = 500
points = 40

[[models.m.fit]]
name = "established"
trait = "account.founded"
op = "years_since"
min = 10
points = 15

[[models.m.fit]]
name = "no phone"
trait = "phone"
op = "missing"
points = -25

[[models.m.fit]]
name = "has age"
trait = "age"
op = "present"
points = 5

[[models.m.signals]]
name = "meeting"
event = "Meeting Held"
points = 10
half_life_days = 1000000
"""


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    ws = make_workspace(tmp_path_factory.mktemp("fit") / "ws", RULES)
    j = Journeys()
    traits = {"name": "Shop", "industry": "Retail", "employees": "120", "founded": "2010"}
    j.group("acc", user_id="ana", traits=traits, at=0)
    j.identify(user_id="ana", traits={"title": "Store Manager", "country": "ES", "phone": "1"})
    j.identify(user_id="ben", traits={"country": "FR", "age": 30})
    j.group("acc", user_id="cy", at=1)
    j.identify(user_id="cy", traits={"phone": "2"}, at=2)
    for who, meetings in (("ana", 3), ("cy", 1)):
        for k in range(meetings):
            j.track("Meeting Held", user_id=who, at=10 + k)
    land(ws, j)
    return run_job(ws, as_of=AS_OF)


def _fit_rows(tables: dict[str, list[dict[str, Any]]], who: str) -> dict[str, float]:
    return {
        r["rule"]: r["points"]
        for r in tables["score_ledger"]
        if r["contact_id"] == who and r["dimension"] == "fit"
    }


def test_rules_on_contact_and_account_traits(tables: dict[str, list[dict[str, Any]]]) -> None:
    """Each passed rule is a ledger row with its points; the clamp is a row too."""
    # ana: manager 20 + spain 10 + retail 30 + 120 employees 40 + founded 2010 (15 years) 15
    # = 115 → capped at 100 by a −15 row.
    assert _fit_rows(tables, "ana") == {
        "manager": 20.0,
        "spain": 10.0,
        "target industry": 30.0,
        "mid-size": 40.0,
        "established": 15.0,
        "fit capped at 100": -15.0,
    }
    # ben: no phone −25, has age +5 = −20 → floored at 0 by a +20 row.
    assert _fit_rows(tables, "ben") == {"no phone": -25.0, "has age": 5.0, "fit floored at 0": 20.0}


def test_fit_is_the_ledger_sum_and_maps_to_a_letter(
    tables: dict[str, list[dict[str, Any]]],
) -> None:
    """Fit equals the sum of its ledger rows, and the letter follows the cut-offs."""
    scores = {r["contact_id"]: r for r in tables["scores"]}
    for who, rows in (("ana", _fit_rows(tables, "ana")), ("cy", _fit_rows(tables, "cy"))):
        assert scores[who]["fit"] == pytest.approx(sum(rows.values()))
    # cy: account rules only: 30 + 40 + 15 = 85 → A (≥ 60).
    assert scores["cy"]["fit"] == 85.0
    assert scores["cy"]["fit_letter"] == "A"
    assert scores["ben"]["fit"] == 0.0
    assert scores["ben"]["grade"] == "D4"


def test_detail_names_the_trait_and_value(tables: dict[str, list[dict[str, Any]]]) -> None:
    """The ledger says which trait (of the alternatives) passed, with its value."""
    details = {
        r["rule"]: r["detail"]
        for r in tables["score_ledger"]
        if r["contact_id"] == "ana" and r["dimension"] == "fit"
    }
    assert details["manager"] == "title = Store Manager"
    assert details["mid-size"] == "account.employees = 120"


def test_account_score_rolls_up_members(tables: dict[str, list[dict[str, Any]]]) -> None:
    """Account fit uses account rules only; engagement is the top-k sum of members' points."""
    account = next(r for r in tables["account_scores"] if r["account_id"] == "acc")
    assert account["fit"] == 85.0  # 30 + 40 + 15
    # Members' raw engagement: ana 3 meetings × 10 = 30, cy 10 (no decay to speak of):
    # top 2 = 40 points → 100 × (1 − 0.5 ** (40 / 10)) = 93.75 → digit 1.
    assert account["engagement_points"] == pytest.approx(40.0, abs=0.01)
    assert account["engagement"] == pytest.approx(93.75, abs=1e-2)
    assert account["grade"] == "A1"
    assert account["members"] == 2


def test_no_account_model_gives_no_account_scores(tmp_path: Path) -> None:
    """With only a consumer model, accounts are listed but get no account scores."""
    ws = make_workspace(tmp_path / "ws", '[models.c]\npreset = "b2c"\n')
    j = Journeys()
    j.group("acc", user_id="ana", traits={"name": "Shop"})
    j.identify(user_id="ana", traits={"age": 40})
    land(ws, j)
    tables = run_job(ws, as_of=AS_OF)
    assert [a["account_id"] for a in tables["accounts"]] == ["acc"]
    assert tables["account_scores"] == []
    assert {s["model"] for s in tables["scores"]} == set()  # ana has an account: b2c skips her
