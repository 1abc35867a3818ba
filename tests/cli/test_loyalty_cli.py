"""clientela loyalty show|summary and the loyalty lines of contacts show, over the shop of
``tests/loyalty_world.py`` as of d70."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from clientela.cli import app
from clientela.workspace import Workspace
from loyalty_world import published

pytestmark = pytest.mark.slow  # the shared world runs the main job twice (~40 s)

runner = CliRunner()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> str:
    ws: Workspace = published(tmp_path_factory)[0]
    return str(ws.root)


def flat(text: str) -> str:
    """Output with every run of whitespace as one space (Rich wraps tables)."""
    return " ".join(text.split())


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_loyalty_show_prints_balance_tier_expiry_ledger_and_referrals(shop: str) -> None:
    """ann: Bronze since d61 (5 May), 60 rolling, balance 10 lapsing d75 (17 May), the
    ledger table; cy's referral of dan; JSON carries the rows (reasons, rewards)."""
    ann = flat(ok("loyalty", "show", "ann", "-w", shop))
    assert "loyalty: Bronze since 2025-05-03 09:00:00 (60 rolling points); balance 10" in ann
    assert "10 lapse 2025-05-17 09:00:00" in ann
    assert "earned 150 redeemed 110 expired 30" in ann
    assert "ledger (oldest first)" in ann and "ann-x2" in ann
    view = json.loads(ok("loyalty", "show", "ann", "--format", "json", "-w", shop))
    assert view["member"]["balance"] == 10.0 and len(view["ledger"]) == 7
    reasons = {r["message_id"]: r["reason"] for r in view["ledger"] if r["kind"] == "redeemed"}
    assert reasons["ann-x2"] == "asked for 80.0, capped at the balance of 50.0"
    cy = flat(ok("loyalty", "show", "cy@mail.example", "-w", shop))
    assert "referrals: 1 sent, 1 converted" in cy and "referrals made" in cy
    (made,) = json.loads(ok("loyalty", "show", "cy", "--format", "json", "-w", shop))["referrals"]
    assert (made["invited_id"], made["reward_points"]) == ("dan", 200.0)


def test_loyalty_show_of_a_non_member(shop: str) -> None:
    """gus (an employee) is no member and says so."""
    assert "not a member" in ok("loyalty", "show", "gus", "-w", shop)


def test_loyalty_summary_has_tier_mix_liability_and_referrals(shop: str) -> None:
    """7 members; liability 10 + 50 = 60; issued 395 + 60 + 50 = 505, redeemed 110,
    expired 335; Bronze 6, Silver 1; 3 invitations (gus's too), 2 joined, 2 converted,
    200 rewarded (gus is no member)."""
    text = flat(ok("loyalty", "summary", "-w", shop))
    assert "loyalty: 7 members, 2 holding points; liability 60 points" in text
    assert "issued 505, redeemed 110, expired 335" in text
    assert "Bronze │ 6 │ 60" in text and "Silver │ 1 │ 0" in text
    assert "referrals: 3 sent, 2 joined, 2 converted (66.7%), 200 points rewarded" in text


def test_contacts_show_has_the_loyalty_lines(shop: str) -> None:
    """contacts show says the tier, balance and next expiry, and who referred dan."""
    text = flat(ok("contacts", "show", "dan", "-w", shop))
    assert "loyalty: Bronze (30 rolling points); balance 0" in text
    assert "referred by cy" in text


def test_bad_format_is_refused(shop: str) -> None:
    """--format takes table or json."""
    result = runner.invoke(app, ["loyalty", "summary", "--format", "xml", "-w", shop])
    assert result.exit_code != 0 and "expected table or json" in str(result.exception)
