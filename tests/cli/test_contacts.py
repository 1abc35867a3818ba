"""contacts show|list and explain, as a user runs them (clientela.cli.contacts)."""

from __future__ import annotations

from pathlib import Path

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
