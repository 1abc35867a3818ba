"""deliver, deliveries list and run --deliver, as a user runs them (clientela.cli.deliver)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientela.cli import app
from clientela.errors import ClientelaError, ConfigError
from conftest import make_workspace
from published_activation import PLANNED, publish

runner = CliRunner()
TOML = '[destinations.exports]\nkind = "file"\nformat = "jsonl"\n'


def test_deliver_prints_counts_and_is_idempotent(tmp_path: Path) -> None:
    """--dry-run counts 9 and writes nothing; deliver sends 9; a second deliver sends 0;
    deliveries list shows the 9 delivered items."""
    ws = make_workspace(tmp_path / "ws", TOML)
    publish(ws)
    root = str(ws.root)
    dry = runner.invoke(app, ["deliver", "--dry-run", "--format", "json", "-w", root])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["destinations"][0]["enqueued"] == 9
    assert not (ws.root / "deliveries").exists()
    first = runner.invoke(app, ["deliver", "-w", root])
    assert first.exit_code == 0, first.output
    assert "exports" in first.output and "wrote" in first.output
    again = runner.invoke(app, ["deliver", "--format", "json", "-w", root])
    (done,) = json.loads(again.output)["destinations"]
    assert (done["enqueued"], done["delivered"], done["pending"]) == (0, 0, 0)
    listed = runner.invoke(app, ["deliveries", "list", "--format", "json", "-w", root])
    document = json.loads(listed.output)
    assert document["counts"] == {"exports": {"pending": 0, "delivered": 9, "dead": 0}}
    assert [i["item_id"] for i in document["items"] if i["kind"] == "action"] == PLANNED
    table = runner.invoke(app, ["deliveries", "list", "--dead", "-w", root])
    assert table.exit_code == 0 and "0 of 0 items" in table.output


def test_deliver_errors_say_what_to_do(tmp_path: Path) -> None:
    """No destinations, an unknown destination, a bad --format: clear errors."""
    bare = make_workspace(tmp_path / "bare")
    result = runner.invoke(app, ["deliver", "-w", str(bare.root)])
    assert isinstance(result.exception, ClientelaError)
    assert "[destinations.NAME]" in str(result.exception)
    ws = make_workspace(tmp_path / "ws", TOML)
    result = runner.invoke(app, ["deliver", "--destination", "crm", "-w", str(ws.root)])
    assert isinstance(result.exception, ConfigError) and "one of: exports" in str(result.exception)
    result = runner.invoke(app, ["deliver", "-w", str(ws.root)])  # nothing published yet
    assert "clientela run" in str(result.exception)
    result = runner.invoke(app, ["deliveries", "list", "--status", "sent", "-w", str(ws.root)])
    assert isinstance(result.exception, ConfigError)


@pytest.mark.slow
def test_run_deliver_delivers_what_the_real_job_published(tmp_path: Path) -> None:
    """run --deliver runs the job, then delivers its published tables (read as the job
    wrote them): the table is printed and every delivered action was planned."""
    ws = make_workspace(tmp_path / "ws", TOML)
    result = runner.invoke(app, ["run", "--deliver", "--as-of", "2026-06-30", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "delivery of v" in result.output and "exports" in result.output
    for path in (ws.root / "deliveries" / "exports").glob("actions-*.jsonl"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert {r["status"] for r in rows} <= {"planned"}
