"""The README's "bring your own data" walk-through, run as written: a Spanish CRM export (BOM,
``;``, accents, a broken row, a duplicate id, European dates, a date that is no date), a
companies file and a Segment file of the same people under other ids give one contact per
person with the right traits, and every output the README shows is printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN, END = "<!-- own-data:begin -->", "<!-- own-data:end -->"


def walkthrough() -> tuple[list[str], list[str]]:
    """The commands (lines of the ``sh`` block) and the output lines shown (the ``text``
    blocks, without '…' elisions) between the README's markers."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(BEGIN) : text.index(END)]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)
    commands = [
        line.split("  #")[0].strip()
        for kind, body in blocks
        if kind == "sh"
        for line in body.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    shown = [
        line.rstrip()
        for kind, body in blocks
        if kind == "text"
        for line in body.splitlines()
        if line.strip() and "…" not in line
    ]
    return commands, shown


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Run the walk-through's commands in a fresh folder holding a copy of examples/."""
    home = tmp_path_factory.mktemp("own")
    shutil.copytree(ROOT / "examples", home / "examples")
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("CLIENTELA_WORKSPACE", None)
    output = []
    commands, _ = walkthrough()
    assert commands, "the README has no walk-through commands"
    for command in commands:
        words = shlex.split(command)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
            continue
        assert words[0] == "clientela", command
        done = subprocess.run(
            [sys.executable, "-m", "clientela.cli", *words[1:]],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        output.append(done.stdout)
    return home, "\n".join(output)


def cli_json(home: Path, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "clientela.cli", *args, "--format", "json", "-w", "own"],
        cwd=home,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def cli_text(home: Path, *args: str) -> str:
    """What a command prints on a terminal wide enough for no cell to fold."""
    return subprocess.run(
        [sys.executable, "-m", "clientela.cli", *args, "-w", "own"],
        cwd=home,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_every_output_line_the_readme_shows_is_printed(walked: tuple[Path, str]) -> None:
    """Each line of the README's output blocks appears in what the commands print."""
    _, printed = walked
    _, shown = walkthrough()
    assert shown
    missing = [line for line in shown if squeeze(line) not in squeeze(printed)]
    assert not missing, missing


def test_one_contact_per_person_with_the_right_traits(walked: tuple[Path, str]) -> None:
    """CRM contacts join the app users who identified with their email (other ids, other
    case); the newest of two rows with one id wins whole; Spanish columns are traits with
    their letters; broken rows are not contacts and wait in quarantine."""
    home, _ = walked
    contacts = {c["contact_id"]: c for c in cli_json(home, "contacts", "list")}
    # Ana (CRM C-101 + app u-ana), Xoán (C-102 + u-xoan), Marta (CRM only), an anonymous
    # visitor; Lucía (a ';' too many) and Jordi (created 'mañana') are in quarantine.
    assert sorted(contacts) == ["C-104", "anon:anon-x", "u-ana", "u-xoan"]
    assert contacts["u-ana"]["email"] == "ana.garcia@olivares.es"
    assert contacts["u-ana"]["account_id"] == "E-1"
    assert contacts["u-xoan"]["email"] == "xoan.pereira@galegotech.gal"  # the newer row
    ana = cli_text(home, "contacts", "show", "C-101")
    assert ana.startswith("u-ana ")  # the CRM id finds the merged contact
    for trait, value in (
        ("telefono", "+34 600 111 222"),
        ("cargo", "Directora de Marketing"),
        ("apellidos", "García López"),
    ):
        assert re.search(rf"│ {trait} +│ {re.escape(value)} +│", ana), trait
    xoan = cli_text(home, "contacts", "show", "u-xoan")
    assert re.search(r"│ cargo +│ CEO +│", xoan)
    assert re.search(r"│ apellidos +│ Pereira Souto", xoan)
    held = cli_text(home, "quarantine", "list")
    for where, reason in (
        ("crm.csv:3", "duplicate_id"),
        ("crm.csv:4", "wrong_field_count"),
        ("crm.csv:7", "bad_date"),
        ("events.jsonl:11", "bad_timestamp"),
    ):
        assert re.search(rf"{re.escape(where)}\s+│\s+{reason}", held), (where, reason)


def test_spanish_columns_feed_the_fit_rules(walked: tuple[Path, str]) -> None:
    """'Cargo', 'Empleados', 'Sector', 'País', 'Año de fundación' are read by the b2b fit
    rules: Ana's fit is 10 + 25 + 5 + 10 + 15 = 65 (decision maker, 120 employees, ES,
    Retail, founded 2004)."""
    home, _ = walked
    contacts = {c["contact_id"]: c for c in cli_json(home, "contacts", "list")}
    assert contacts["u-ana"]["fit"] == 65.0
