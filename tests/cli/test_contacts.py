"""contacts show|list and explain, as a user runs them (clientela.cli.contacts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientela.cli import app
from journeys import Journeys

runner = CliRunner()


def test_contacts_show_a_contact_known_only_by_user_id(tmp_path: Path) -> None:
    """A contact with a userId and no anonymousId shows its events (no empty-list sentinel)."""
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", ws]).exit_code == 0
    j = Journeys()
    j.identify(user_id="u1", traits={"email": "ann@acme.io"})
    j.track("Signed Up", user_id="u1")
    events = j.write(tmp_path / "e.jsonl")
    assert runner.invoke(app, ["ingest", str(events), "-w", ws]).exit_code == 0
    assert runner.invoke(app, ["run", "-w", ws]).exit_code == 0
    result = runner.invoke(app, ["contacts", "show", "u1", "-w", ws])
    assert result.exit_code == 0, result.output
    assert "Signed Up" in result.output and "latest 2 of 2 events" in result.output


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A workspace with an identified user, an anonymous visitor and a CRM-only contact."""
    root = tmp_path_factory.mktemp("people")
    ws = str(root / "ws")
    assert runner.invoke(app, ["init", ws]).exit_code == 0
    j = Journeys()
    j.identify(user_id="u1", traits={"email": "ann@acme.io"})
    j.track("Signed Up", user_id="u1")
    j.page(anonymous_id="anon-7", properties={"path": "/blog"})
    events = j.write(root / "e.jsonl")
    assert runner.invoke(app, ["ingest", str(events), "-w", ws]).exit_code == 0
    crm = root / "crm.csv"
    crm.write_text("Contact ID,Email Address,Job Title\ncrm-9,zoe@bee.example,Buyer\n")
    result = runner.invoke(app, ["import", "contacts", str(crm), "-w", ws])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["run", "-w", ws]).exit_code == 0
    return ws


def test_contacts_show_an_anonymous_visitor(people: str) -> None:
    """A contact with an anonymousId and no userId shows its events (no IN ('\\0') query)."""
    result = runner.invoke(app, ["contacts", "show", "anon-7", "-w", people])
    assert result.exit_code == 0, result.output
    assert "/blog" in result.output and "latest 1 of 1 events" in result.output


def test_contacts_show_a_contact_known_only_from_the_crm(people: str) -> None:
    """A CRM-only contact (no userId, no anonymousId) shows its traits and no events."""
    result = runner.invoke(app, ["contacts", "show", "zoe@bee.example", "-w", people])
    assert result.exit_code == 0, result.output
    assert "Buyer" in result.output and "latest 0 of 0 events" in result.output


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--stage", "prospekt", "unknown stage 'prospekt'; did you mean 'prospect'?"),
        ("--grade", "Z9", "unknown grade 'Z9'"),
        ("--grade", "A7", "unknown grade 'A7'; did you mean"),
        ("--class", "studnet", "unknown class 'studnet'; did you mean 'student'?"),
    ],
)
def test_contacts_list_refuses_a_filter_value_that_cannot_exist(
    people: str, flag: str, value: str, message: str
) -> None:
    """A misspelled stage, grade or class is an error with a suggestion, not an empty list."""
    result = runner.invoke(app, ["contacts", "list", flag, value, "-w", people])
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_contacts_list_accepts_known_values_in_any_case(people: str) -> None:
    """Known stages, grades, fit letters and classes filter as before (grades in any case)."""
    args = ["contacts", "list", "--format", "json", "-w", people]
    result = runner.invoke(app, [*args, "--stage", "dormant", "--class", "buyer"])
    assert result.exit_code == 0, result.output
    assert [r["contact_id"] for r in json.loads(result.output)] == ["u1"]
    result = runner.invoke(app, [*args, "--grade", "a,d4"])
    assert result.exit_code == 0, result.output


def test_contacts_list_on_an_empty_workspace_says_what_to_do(tmp_path: Path) -> None:
    """Nothing landed: before a run and after one, the message names the next command."""
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", ws]).exit_code == 0
    result = runner.invoke(app, ["contacts", "list", "-w", ws])
    assert result.exit_code != 0
    assert "clientela ingest FILE" in str(result.exception)
    assert runner.invoke(app, ["run", "-w", ws]).exit_code == 0
    result = runner.invoke(app, ["contacts", "list", "-w", ws])
    assert result.exit_code == 0, result.output
    assert "nothing has been landed" in result.output
    assert "clientela ingest FILE" in result.output
