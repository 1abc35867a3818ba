"""The command line as a user meets it: init, ingest, import, run, show, quarantine, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from clientela.cli import app
from journeys import Journeys

runner = CliRunner()


def clientela(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real entry point in a child process (exit codes and stderr as a user sees)."""
    return subprocess.run(
        [sys.executable, "-c", "from clientela.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_full_flow(tmp_path: Path) -> None:
    """init → ingest → import → run → contacts show/list → quarantine list/show."""
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    j = Journeys()
    j.page(anonymous_id="a1", properties={"path": "/pricing"})
    j.identify(anonymous_id="a1", user_id="u1", traits={"email": "ann@acme.io", "title": "CTO"})
    j.track("Webinar Attended", user_id="u1")
    j.raw("this is not json")
    events = j.write(tmp_path / "e.jsonl")
    result = runner.invoke(app, ["ingest", str(events), "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert "accepted 3" in result.output and "quarantined 1" in result.output
    crm = tmp_path / "crm.csv"
    crm.write_text("Contact ID,Email Address,Job Title\nu1,ann@acme.io,CTO\n")
    result = runner.invoke(app, ["import", "contacts", str(crm), "-w", str(ws)])
    assert result.exit_code == 0 and "accepted 1" in result.output
    result = runner.invoke(app, ["run", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert "contacts" in result.output
    result = runner.invoke(app, ["contacts", "show", "ann@acme.io", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert "u1" in result.output and "Webinar Attended" in result.output and "CTO" in result.output
    result = runner.invoke(app, ["contacts", "list", "--format", "csv", "-w", str(ws)])
    assert result.output.splitlines()[0].startswith("contact_id,email")
    # Wide enough for the source path not to fold, however long the temporary folder's name.
    result = runner.invoke(app, ["quarantine", "list", "-w", str(ws)], env={"COLUMNS": "300"})
    assert "invalid_json" in result.output and "e.jsonl:4" in result.output
    result = runner.invoke(app, ["quarantine", "list", "--limit", "0", "-w", str(ws)])
    assert "e.jsonl:4" not in result.output and "… 1 more" in result.output


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    """A user error exits 1 with one sentence on stderr and no traceback."""
    proc = clientela("contacts", "show", "x", "-w", str(tmp_path))
    assert proc.returncode == 1
    assert "not a clientela workspace" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    ws = tmp_path / "ws"
    clientela("init", str(ws))
    proc = clientela("ingest", str(tmp_path / "missing.jsonl"), "-w", str(ws))
    assert proc.returncode == 1 and "missing.jsonl: no such file or folder" in proc.stderr
    (ws / "clientela.toml").write_text('[engine]\nkind = "oracle"\n')
    proc = clientela("run", "-w", str(ws))
    assert proc.returncode == 1 and "engine.kind" in proc.stderr and "oracle" in proc.stderr


def test_help_everywhere() -> None:
    """Every command answers --help."""
    for args in (
        [],
        ["ingest"],
        ["import", "contacts"],
        ["quarantine", "retry"],
        ["contacts", "show"],
        ["run"],
        ["score"],
        ["explain"],
        ["contacts", "list"],
        ["demo-data"],
        ["demo"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, args


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """`clientela demo` generates, lands, imports, runs and shows a contact on a small world."""
    result = runner.invoke(app, ["demo", str(tmp_path / "demo"), "--contacts", "300"])
    assert result.exit_code == 0, result.output
    assert "published" in result.output and "identities" in result.output
    assert "grades (fit letter x engagement digit)" in result.output
    assert "next initiative:" in result.output  # a top prospect was explained
    # It ends with the predictions: the top customers by CLV, and churn risks or why none.
    assert "9. top customers by CLV" in result.output
    assert "highest churn risks" in result.output and "no churn model yet" in result.output
    # Then activation: the day's actions, segments, the loyalty club and the delivery.
    for step in ("11. actions of the day", "12. segments", "13. loyalty club", "14. delivery"):
        assert step in result.output
    ws = str(tmp_path / "demo")

    # score replays a date and summarises; explain adds up; list filters and exports.
    result = runner.invoke(app, ["score", "--as-of", "2026-03-31", "-w", ws])
    assert result.exit_code == 0, result.output
    assert "as of 2026-03-31 23:59:59" in result.output and "stages:" in result.output
    listed = runner.invoke(
        app,
        [
            "contacts",
            "list",
            "--grade",
            "A,B",
            "--class",
            "buyer",
            "--format",
            "json",
            "--limit",
            "0",
            "-w",
            ws,
        ],
    )
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert rows and all(r["label"][0] in "AB" and r["audience_class"] == "buyer" for r in rows)
    ranks = ["ABCD".index(r["label"][0]) * 4 + int(r["label"][1]) for r in rows]
    assert ranks == sorted(ranks)  # best grade first
    top = rows[0]["contact_id"]
    result = runner.invoke(app, ["explain", top, "--events", "-w", ws])
    assert result.exit_code == 0, result.output
    assert "fit = " in result.output and "engagement:" in result.output and "total" in result.output
    out = tmp_path / "students.parquet"
    result = runner.invoke(
        app,
        [
            "contacts",
            "list",
            "--class",
            "student",
            "--format",
            "parquet",
            "--out",
            str(out),
            "-w",
            ws,
        ],
    )
    assert result.exit_code == 0, result.output
    students = pq.read_table(out).to_pylist()
    assert students and all(r["audience_class"] == "student" for r in students)
    assert all(r["next_initiative"].startswith("Courteous route") for r in students)
    result = runner.invoke(app, ["contacts", "show", students[0]["contact_id"], "-w", ws])
    assert "audience class: student" in result.output and "stage history" in result.output


def test_bad_as_of_and_format_are_clear(tmp_path: Path) -> None:
    """A wrong --as-of or --format names the option and what is expected."""
    ws = tmp_path / "ws"
    clientela("init", str(ws))
    proc = clientela("score", "--as-of", "last tuesday", "-w", str(ws))
    assert proc.returncode == 1 and "--as-of" in proc.stderr and "2026-06-30" in proc.stderr
    proc = clientela("contacts", "list", "--format", "xml", "-w", str(ws))
    assert proc.returncode == 1 and "table, csv, json or parquet" in proc.stderr


def test_score_on_an_empty_workspace_says_what_to_do(tmp_path: Path) -> None:
    """score with nothing landed prints a hint naming `clientela ingest FILE`, not only zeros."""
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", ws]).exit_code == 0
    result = runner.invoke(app, ["score", "-w", ws])
    assert result.exit_code == 0, result.output
    assert "nothing has been landed" in result.output
    assert "clientela ingest FILE" in result.output
