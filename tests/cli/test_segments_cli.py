"""clientela segments list|show|create|export and playbook show (clientela.cli.segments)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clientela.cli import app
from conftest import make_workspace
from segment_world import SETTINGS, build

runner = CliRunner()
pytestmark = pytest.mark.slow  # two runs of the job


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    ws = make_workspace(Path(tmp_path_factory.mktemp("segcli")) / "ws", SETTINGS)
    build(ws)
    return str(ws.root)


def cli(root: str, *args: str) -> str:
    result = runner.invoke(app, [*args, "--workspace", root])
    assert result.exit_code == 0, result.output
    return result.output


def test_list_and_show(root: str) -> None:
    """list gives each segment's source and count; show its definition and latest changes
    (a left and c entered at the second run, a entered at the first)."""
    rows = json.loads(cli(root, "segments", "list", "--format", "json"))
    assert [(r["segment"], r["source"], r["members"]) for r in rows] == [("buyers", "config", 1)]
    shown = json.loads(cli(root, "segments", "show", "buyers", "--format", "json"))
    assert shown["definition"] == {"all": [{"did": "Order Completed", "within_days": 30.0}]}
    assert [(c["contact_id"], c["change"]) for c in shown["recent"]] == [
        ("a", "left"),
        ("c", "entered"),
        ("a", "entered"),
    ]
    assert "buyers (config): 1 members" in cli(root, "segments", "show", "buyers")


def test_export_formats(root: str, tmp_path: Path) -> None:
    """csv, parquet and jsonl hold the members (c, with email and since)."""
    out = tmp_path / "m.csv"
    cli(root, "segments", "export", "buyers", "--format", "csv", "--out", str(out))
    assert out.read_text().splitlines()[1].startswith('"c","c@home.example",2026-05-31')
    pq_out = tmp_path / "m.parquet"
    cli(root, "segments", "export", "buyers", "--format", "parquet", "--out", str(pq_out))
    assert pq.read_table(pq_out).column("contact_id").to_pylist() == ["c"]
    lines = cli(root, "segments", "export", "buyers", "--format", "jsonl").splitlines()
    assert [json.loads(x)["contact_id"] for x in lines] == ["c"]


def test_create_validates_and_saves(root: str, tmp_path: Path) -> None:
    """create saves a valid TOML or JSON definition (listed as not evaluated yet) and
    refuses a bad one, a clash with clientela.toml and an unknown format."""
    cli(
        root,
        "segments",
        "create",
        "fans",
        "--definition",
        'all = [{ field = "stage", equals = "fan" }]',
    )
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"all": [{"field": "orders", "gte": 5}]}))
    cli(root, "segments", "create", "big", "--file", str(path), "--description", "5+ orders")
    rows = {r["segment"]: r for r in json.loads(cli(root, "segments", "list", "--format", "json"))}
    assert rows["fans"]["members"] is None and rows["big"]["description"] == "5+ orders"
    for args, message in (
        (["create", "x", "--definition", 'all = [{ field = "fit", equals = "high" }]'],
         "segment 'x': all.0.field: Value error, field 'fit' (equals): expected a number"),
        (["create", "buyers", "--definition", 'all = [{ field = "orders", gte = 1 }]'],
         "'buyers' is defined in clientela.toml"),
        (["export", "buyers", "--format", "xml"], "csv or parquet or jsonl"),
        (["show", "nope"], "no segment 'nope'"),
    ):  # fmt: skip
        failed = runner.invoke(app, ["segments", *args, "--workspace", root])
        assert failed.exit_code != 0 and message in str(failed.exception), args


def test_playbook_show(root: str) -> None:
    """playbook show lists the preset's rules, most urgent first."""
    shown = json.loads(cli(root, "playbook", "show", "--format", "json"))
    assert shown["preset"] == "seeds"
    assert [r["priority"] for r in shown["rules"]] == sorted(r["priority"] for r in shown["rules"])
    assert shown["rules"][0]["action"] == "thank_you"
