"""What the command line prints or exports from data is that data verbatim: never read as Rich
markup or emoji codes, never left as a spreadsheet formula in CSV (issue 10, finding 5)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clientela.cli import app
from clientela.workspace import Workspace, open_workspace
from helpers import quarantined
from journeys import Journeys, iso

# "/" is a folder separator, so this folder and the file "bold]x.jsonl" in it make a source
# "[red]:smile:[/bold]x.jsonl": an opening tag, an emoji code and a closing tag nothing opened.
FOLDER = "[red]:smile:["
SOURCE = FOLDER + "/bold]x.jsonl"
USER = "[/bold]ann:smile:"
EMAIL = "[red]ann:smile:@acme.io"
NAME = "[/bold]Ann [link=https://evil.example]Lee[/link] :smile:"
CLUB = "[/bold]club :smile: [red]"
EVENT = "[/bold]Opened :smile: [red]"
PATH = "/[/bold]p :smile:"
BAD_TIME = "[/bold]x :smile: [red]"
NOT_JSON = "not json [/bold]x :smile: [red]"
# Cells a spreadsheet would run as formulas (OWASP "CSV injection").
FORMULAS = ["=1+2", "+1+2", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\t=1+2", "\r=1+2"]
EMAILS = ["=1+2@acme.io", "+1@acme.io", "-2+3@acme.io", "@sum@acme.io"]
DANGER = ("=", "+", "-", "@", "\t", "\r")

runner = CliRunner()


def at(text: str) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromisoformat(text).replace(tzinfo=UTC))


def clientela(*args: str, color: bool = False) -> subprocess.CompletedProcess[str]:
    """The real entry point in a child process, on a wide terminal (so tables do not fold)."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["COLUMNS"] = "400"
    if color:
        env["FORCE_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-c", "from clientela.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace landed and run from a file whose path, ids, traits, events and broken
    records all hold markup, emoji codes or formulas."""
    root = Path(tmp_path_factory.mktemp("hostile"))
    ws = root / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    j = Journeys()
    j.identify(
        user_id=USER,
        traits={"email": EMAIL, "name": NAME, "memberships": CLUB},
        timestamp=at("2025-01-05 10:00"),
    )
    j.track(EVENT, user_id=USER, timestamp=at("2025-01-06 10:00"))
    j.page(user_id=USER, properties={"path": PATH}, timestamp=at("2025-01-07 10:00"))
    for n, plan in enumerate(FORMULAS):
        traits: dict[str, Any] = {"plan": plan}
        if n < len(EMAILS):
            traits["email"] = EMAILS[n]
        j.identify(user_id=f"c{n}", traits=traits, timestamp=at(f"2025-01-1{n} 10:00"))
        j.track("Signed Up", user_id=f"c{n}", timestamp=at(f"2025-01-1{n} 11:00"))
    # February has fewer first arrivals than January: a negative change in audience_growth.
    j.page(anonymous_id="f1", properties={"path": "/"}, timestamp=at("2025-02-03 10:00"))
    j.track("E", user_id="q1", timestamp=BAD_TIME)
    j.raw(NOT_JSON)
    events = j.write(root / SOURCE)
    result = runner.invoke(app, ["ingest", str(events), "-w", str(ws)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["run", "--as-of", "2025-02-28", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    return open_workspace(ws)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def assert_no_formula(rows: list[dict[str, str]]) -> None:
    """No cell starts like a formula, unless it is a number (numbers stay numbers)."""
    for row in rows:
        for column, cell in row.items():
            if cell.startswith(DANGER):
                float(cell)  # raises for anything but a number
                assert column, row


def test_quarantine_list_and_show_print_records_verbatim(hostile: Workspace) -> None:
    """quarantine list|show exit 0 and print source, detail and raw text as they are."""
    ws = str(hostile.root)
    proc = clientela("quarantine", "list", "-w", ws)
    assert proc.returncode == 0, proc.stderr
    assert SOURCE in proc.stdout and BAD_TIME in proc.stdout
    records = quarantined(hostile)
    assert {r["reason"] for r in records} >= {"bad_timestamp", "invalid_json"}
    for record in records:
        proc = clientela("quarantine", "show", record["quarantine_id"], "-w", ws)
        assert proc.returncode == 0, proc.stderr
        raw = bytes(record["raw"]).decode()
        assert SOURCE in proc.stdout and record["detail"] in proc.stdout and raw in proc.stdout
    assert NOT_JSON in proc.stdout or any(NOT_JSON in bytes(r["raw"]).decode() for r in records)


def test_contacts_show_list_and_explain_print_data_verbatim(hostile: Workspace) -> None:
    """Ids, emails, traits, event names and ledger details are printed as text."""
    ws = str(hostile.root)
    proc = clientela("contacts", "show", USER, "-w", ws)
    assert proc.returncode == 0, proc.stderr
    for value in (USER, EMAIL, NAME, CLUB, EVENT):
        assert value in proc.stdout, value
    proc = clientela("contacts", "list", "--limit", "0", "-w", ws)
    assert proc.returncode == 0, proc.stderr
    assert EMAIL in proc.stdout
    proc = clientela("explain", EMAIL, "--events", "-w", ws)
    assert proc.returncode == 0, proc.stderr
    assert f"memberships = {CLUB}" in proc.stdout and f"page {PATH}" in proc.stdout


def test_data_is_not_highlighted_on_a_colour_terminal(hostile: Workspace) -> None:
    """On a colour terminal data keeps its characters together (no highlighting inside it)."""
    ws = str(hostile.root)
    proc = clientela("contacts", "show", USER, "-w", ws, color=True)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" in proc.stdout  # colours are on
    for value in (USER, EMAIL, NAME, CLUB, EVENT):
        assert value in proc.stdout, value
    record = next(r for r in quarantined(hostile) if r["reason"] == "bad_timestamp")
    proc = clientela("quarantine", "show", record["quarantine_id"], "-w", ws, color=True)
    assert proc.returncode == 0, proc.stderr
    assert record["detail"] in proc.stdout and bytes(record["raw"]).decode() in proc.stdout


def test_error_messages_print_user_input_verbatim(hostile: Workspace) -> None:
    """An error quoting markup is still one clear line on stderr, exit 1, no traceback."""
    ws = str(hostile.root)
    proc = clientela("contacts", "show", USER + "-nobody", "-w", ws)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and USER + "-nobody" in proc.stderr
    missing = "[/bold]missing :smile:.jsonl"
    proc = clientela("ingest", missing, "-w", ws)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert missing in proc.stderr


def test_paths_with_markup_are_printed_verbatim(tmp_path: Path) -> None:
    """A workspace folder whose name holds markup is named as it is."""
    ws = tmp_path / FOLDER / "bold]ws"
    proc = clientela("init", str(ws))
    assert proc.returncode == 0, proc.stderr
    assert str(ws) in proc.stdout


def test_key_names_are_printed_verbatim(tmp_path: Path) -> None:
    """keys create|list|revoke print a key name as it is; a refused name is quoted as it is."""
    ws = str(tmp_path / "ws")
    clientela("init", ws)
    refused = "[/bold]key [red]"
    proc = clientela("keys", "create", "--kind", "write", "--name", refused, "-w", ws)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and refused in proc.stderr
    name = "k:smile:"  # names may hold ':', which Rich would turn into an emoji
    proc = clientela("keys", "create", "--kind", "write", "--name", name, "-w", ws)
    assert proc.returncode == 0 and name in proc.stderr, proc.stderr
    proc = clientela("keys", "list", "-w", ws)
    assert proc.returncode == 0 and name in proc.stdout, proc.stderr
    proc = clientela("keys", "revoke", name, "-w", ws)
    assert proc.returncode == 0 and name in proc.stdout, proc.stderr


def test_import_prints_column_names_verbatim(tmp_path: Path) -> None:
    """import names the file's columns and traits as they are."""
    ws = str(tmp_path / "ws")
    clientela("init", ws)
    crm = tmp_path / "crm.csv"
    column = "[/bold]ID :smile:"
    crm.write_text(f"{column},Email\nu1,ann@acme.io\n", encoding="utf-8")
    proc = clientela("import", "contacts", str(crm), "--id", column, "-w", ws)
    assert proc.returncode == 0, proc.stderr
    assert column in proc.stdout  # in the mapping table, as written (no markup, no emoji)


def test_metric_tables_print_cells_verbatim(hostile: Workspace) -> None:
    """Metric cells (step names from data) and the drill-down title are printed as text."""
    ws = str(hostile.root)
    steps = ["-o", f"steps={EVENT},Signed Up", "--from", "2025-01-01", "--to", "2025-01-31"]
    proc = clientela("metrics", "funnel", *steps, "-w", ws)
    assert proc.returncode == 0, proc.stderr
    assert EVENT in proc.stdout
    proc = clientela("metrics", "funnel", *steps, "--who", "period=2025-01", "-w", ws)
    assert proc.returncode == 0, proc.stderr
    assert EMAIL in proc.stdout or USER in proc.stdout


def test_contacts_csv_neutralises_formulas_and_keeps_numbers(
    hostile: Workspace, tmp_path: Path
) -> None:
    """contacts list --format csv (printed or --out) prefixes formula-like text with a quote."""
    ws = str(hostile.root)
    proc = clientela("contacts", "list", "--limit", "0", "--format", "csv", "-w", ws)
    assert proc.returncode == 0, proc.stderr
    printed = csv_rows(proc.stdout)
    out = tmp_path / "contacts.csv"
    proc = clientela(
        "contacts", "list", "--limit", "0", "--format", "csv", "--out", str(out), "-w", ws
    )
    assert proc.returncode == 0, proc.stderr
    written = csv_rows(out.read_text(encoding="utf-8"))
    for rows in (printed, written):
        assert_no_formula(rows)
        assert {r["email"] for r in rows} >= {"'" + e for e in EMAILS}
        assert all(float(r["fit"]) >= 0 for r in rows if r["fit"])  # numbers, not text


def test_metrics_csv_neutralises_formulas_and_keeps_negative_numbers(hostile: Workspace) -> None:
    """metrics --format csv: trait values are neutralised, a negative change stays a number."""
    ws = str(hostile.root)
    proc = clientela(
        "metrics",
        "funnel",
        "-o",
        "steps=Signed Up,Order Completed",
        "--by",
        "trait:plan",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-31",
        "--format",
        "csv",
        "-w",
        ws,
    )
    assert proc.returncode == 0, proc.stderr
    rows = csv_rows(proc.stdout)
    assert_no_formula(rows)
    plans = {r["trait:plan"] for r in rows}
    assert {"'=1+2", "'+1+2", "'-2+3+cmd|' /C calc'!A0", "'@SUM(A1)"} <= plans, plans
    proc = clientela(
        "metrics",
        "audience_growth",
        "--from",
        "2025-02-01",
        "--to",
        "2025-02-28",
        "--period",
        "month",
        "--format",
        "csv",
        "-w",
        ws,
    )
    assert proc.returncode == 0, proc.stderr
    (february,) = csv_rows(proc.stdout)
    assert february["change"].startswith("-") and float(february["change"]) < 0


def test_styled_fills_fields_with_text_and_keeps_the_template_style() -> None:
    """styled(): the template styles, values keep every character (backslashes before a tag too)."""
    from clientela.cli.output import styled

    line = styled("[bold]{}[/] and {:,} {!r}", "[/bold]a\\\\", 12345, ":smile:")
    assert line.plain == "[/bold]a\\\\ and 12,345 ':smile:'"
    assert [(s.start, s.end, str(s.style)) for s in line.spans] == [(0, 10, "bold")]


def test_numbers_never_print_minus_zero() -> None:
    """A negated zero or a tiny negative that rounds to nothing prints without a sign."""
    from clientela.cli.output import _num

    assert [_num(-0.0, 0), _num(-0.3, 0), _num(-0.04, 1)] == ["0", "0", "0.0"]
    assert [_num(-1.5, 0), _num(-1000, 0), _num(-0.06, 1)] == ["-2", "-1,000", "-0.1"]
