"""Loyalty programme KPIs over the shop of ``tests/loyalty_world.py`` (as of d70 = 12 May
2025), by month: March (d0-d28), April (d29-d58), May (d59-d70). gus is an employee:
metrics leave him out (he has no ledger; his invitation is not counted)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from clientela.metrics import Query
from clientela.workspace import Workspace
from helpers import metric_rows
from loyalty_world import published

pytestmark = pytest.mark.slow  # the shared world runs the main job twice (~40 s)

MONTHS = Query(start=date(2025, 3, 1), end=date(2025, 5, 12), period="month")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws: Workspace = published(tmp_path_factory)[0]
    return ws


def _by_period(rows: list[dict[str, Any]], *columns: str) -> dict[str, tuple[Any, ...]]:
    return {r["period"]: tuple(r[c] for c in columns) for r in rows}


def test_points_issued_redeemed_and_expired_per_month(shop: Workspace) -> None:
    """March: 40+50 (ann) + 10+20 (bob) + 200 (cy) + 30 (dan) + 25 (fay) + 20 (ivy) = 395
    issued, ann's 60 redeemed (share 60 / 395 × 100); April: 50 + 10 issued, 50 redeemed,
    30 + 10 + 20 + 200 + 30 + 25 + 20 = 335 expired; May: bob's review, 50."""
    rows = metric_rows(shop, "loyalty_points", MONTHS)
    got = _by_period(rows, "issued", "redeemed", "expired")
    assert got == {
        "2025-03": (395.0, 60.0, 0.0),
        "2025-04": (60.0, 50.0, 335.0),
        "2025-05": (50.0, 0.0, 0.0),
    }
    share = {r["period"]: r["redeemed_share"] for r in rows}
    assert share["2025-03"] == pytest.approx(60 / 395 * 100)
    assert share["2025-04"] == pytest.approx(50 / 60 * 100)


def test_liability_is_what_members_hold_at_each_period_end(shop: Workspace) -> None:
    """End of March: ann 40+50-60 = 30, bob 30, cy 200, dan 30, fay 25, ivy 20 = 335 (6
    members); end of April: 335 + 60 - 50 - 335 = 10 (ann); May, to the as-of: 10 + 50."""
    rows = metric_rows(shop, "loyalty_liability", MONTHS)
    assert _by_period(rows, "liability", "members") == {
        "2025-03": (335.0, 6),
        "2025-04": (10.0, 1),
        "2025-05": (60.0, 2),
    }


def test_active_members_earn_or_redeem(shop: Workspace) -> None:
    """March: ann, bob, cy, dan, fay, ivy; April only ann (the rest only lapsed); May bob."""
    rows = metric_rows(shop, "loyalty_active_members", MONTHS)
    assert _by_period(rows, "active_members") == {
        "2025-03": (6,),
        "2025-04": (1,),
        "2025-05": (1,),
    }


def test_tier_mix_as_of_the_run(shop: Workspace) -> None:
    """Seven members: cy Silver (200 rolling), six Bronze (6 / 7 × 100 = 85.7 %); the
    Bronze members hold ann's 10 + bob's 50."""
    rows = metric_rows(shop, "loyalty_tiers", MONTHS)
    got = {r["tier"]: (r["period"], r["members"], r["balance"]) for r in rows}
    assert got == {"Bronze": ("2025-05", 6, 60.0), "Silver": ("2025-05", 1, 0.0)}
    share = {r["tier"]: r["share"] for r in rows}
    assert share["Bronze"] == pytest.approx(6 / 7 * 100)


def test_tier_is_a_breakdown_dimension(shop: Workspace) -> None:
    """March's 395 issued points by the members' current tier: cy's 200 are Silver, the
    other 195 (90 + 30 + 30 + 25 + 20) Bronze."""
    query = Query(date(2025, 3, 1), date(2025, 3, 31), "month", by=("tier",))
    rows = metric_rows(shop, "loyalty_points", query)
    assert {r["tier"]: r["issued"] for r in rows} == {"Bronze": 195.0, "Silver": 200.0}


def test_referral_conversion(shop: Workspace) -> None:
    """March: cy's and eve's invitations (gus, an employee, is left out); cy's converted
    (dan ordered) with 200 points; eve's lost dan to cy: 1 / 2 × 100 = 50 %."""
    rows = metric_rows(shop, "referral_conversion", MONTHS)
    march = next(r for r in rows if r["period"] == "2025-03")
    assert (march["invitations"], march["joined"], march["converted"]) == (2, 1, 1)
    assert (march["conversion_rate"], march["reward_points"]) == (50.0, 200.0)
