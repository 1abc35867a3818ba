"""clientela import contacts|accounts and quarantine show, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from clientela.cli import app
from clientela.errors import ConfigError

runner = CliRunner()
FIXTURES = Path(__file__).parent.parent / "fixtures"
WIDE = {"COLUMNS": "200"}


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _init(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    return ws


def test_import_prints_the_mapping_before_the_counts(tmp_path: Path) -> None:
    """The column → role/trait mapping, the duplicates and the rows set aside come first."""
    ws = _init(tmp_path)
    args = ["import", "contacts", str(FIXTURES / "crm_es.csv"), "-w", str(ws)]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "encoding utf-8, delimiter ';'" in out
    assert "Correo electrónico" in out and "trait telefono" in out
    assert "duplicate ids: 2 ('1001': 2 rows, '1002': 2 rows)" in out
    assert "wrong_field_count" in out and "'31/13/2026' is not a date" in out
    assert out.index("trait telefono") < out.index("accepted 3  quarantined 5  of 8 rows")
    assert "quarantine reasons: bad_date: 1, duplicate_id: 2, missing_id: 1" in out


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    """--dry-run shows mapping, counts and rejected rows; no file of the workspace changes."""
    ws = _init(tmp_path)
    before = _files(ws)
    args = ["import", "contacts", str(FIXTURES / "crm_es.csv"), "--dry-run", "-w", str(ws)]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert "dry run, nothing written: would accept 3  quarantine 5  of 8 rows" in result.output
    assert "trait telefono" in result.output and "missing_id" in result.output
    assert _files(ws) == before


def test_flags_delimiter_encoding_date_format(tmp_path: Path) -> None:
    """--delimiter tab, --encoding cp1252 and --date-format read a file the sniff would not."""
    ws = _init(tmp_path)
    csv = tmp_path / "c.txt"
    csv.write_bytes("id\temail\talta\nr1\ta@x.com\t02-15-26\n".encode("cp1252"))
    args = ["import", "contacts", str(csv), "--delimiter", "tab", "--encoding", "cp1252"]
    args += ["--created", "alta", "--date-format", "%m-%d-%y", "-w", str(ws)]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert "accepted 1  quarantined 0" in result.output
    assert "delimiter 'tab'" in result.output and "%m-%d-%y or ISO-8601" in result.output


def test_bad_flag_values_are_named(tmp_path: Path) -> None:
    """A delimiter of two characters or an unknown encoding is a ConfigError naming the flag."""
    ws = _init(tmp_path)
    csv = tmp_path / "c.csv"
    csv.write_text("id\nr1\n")
    result = runner.invoke(
        app, ["import", "contacts", str(csv), "--delimiter", ";;", "-w", str(ws)]
    )
    assert isinstance(result.exception, ConfigError)
    assert "--delimiter" in str(result.exception) and "one character" in str(result.exception)
    args = ["import", "accounts", str(csv), "--encoding", "klingon", "-w", str(ws)]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, ConfigError)
    assert "--encoding" in str(result.exception) and "cp1252" in str(result.exception)


def test_settings_give_the_delimiter(tmp_path: Path) -> None:
    """[import.accounts] delimiter and date_format in clientela.toml are used."""
    ws = _init(tmp_path)
    toml = ws / "clientela.toml"
    text = toml.read_text().replace(
        "[import.accounts]\n", '[import.accounts]\ndelimiter = ";"\nmodified_at = "Cambio"\n'
    )
    toml.write_text(text)
    csv = tmp_path / "a.csv"
    csv.write_text("id;nombre;Cambio\na1;Acme, S.A.;01/02/2026\na1;Acme S.A.;03/01/2026\n")
    result = runner.invoke(app, ["import", "accounts", str(csv), "-w", str(ws)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "delimiter ';'" in result.output and "accepted 1  quarantined 1" in result.output
    # 01/02 vs 03/01 day first: 1 February is newer than 3 January, so line 2 wins.
    assert "id 'a1' is also on line 2, which is kept" in result.output


def test_quarantine_show_truncates_huge_raw_records(tmp_path: Path) -> None:
    """A raw record over 4,000 characters is cut with a note; --full prints all of it."""
    ws = _init(tmp_path)
    csv = tmp_path / "c.csv"
    csv.write_text("id,email,note\nr1,a@x.com,ok\nr2,b@x.com,x," + "y" * 10_000 + "\n")
    assert runner.invoke(app, ["import", "contacts", str(csv), "-w", str(ws)]).exit_code == 0
    from clientela.ingest.quarantine import open_records
    from clientela.workspace import open_workspace

    [record] = open_records(open_workspace(ws)).to_pylist()
    qid = record["quarantine_id"][:12]
    result = runner.invoke(app, ["quarantine", "show", qid, "-w", str(ws)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert (
        "y" * 3_987 in result.output
        and "y" * 3_988 not in result.output
        and "y" * 10_000 not in result.output
    )
    assert (
        "first 4,000 of 10,013 characters (10,013 bytes); --full prints all of it" in result.output
    )
    assert "more or fewer fields than the header" in result.output  # the meaning for a row
    full = runner.invoke(app, ["quarantine", "show", qid, "--full", "-w", str(ws)], env=WIDE)
    assert "r2,b@x.com,x," + "y" * 10_000 in full.output and "--full prints" not in full.output


def test_quarantine_meanings_are_per_kind(tmp_path: Path) -> None:
    """missing_id means a row without id for contacts, not an event without userId; the list
    and the admin API's reader use the same per-kind text."""
    from clientela.schema import QUARANTINE_REASONS, quarantine_meaning

    assert "userId" in quarantine_meaning("events", "missing_id")
    assert quarantine_meaning("events", "missing_id") == QUARANTINE_REASONS["missing_id"]
    contacts = quarantine_meaning("contacts", "missing_id")
    assert "row" in contacts and "email" in contacts and "userId" not in contacts
    assert "account id" in quarantine_meaning("accounts", "missing_id")
    for reason in ("wrong_field_count", "malformed_row", "bad_date", "duplicate_id"):
        assert "row" in quarantine_meaning("contacts", reason) or "date" in reason
    ws = _init(tmp_path)
    csv = tmp_path / "c.csv"
    csv.write_text("id,email\n,\n")
    assert runner.invoke(app, ["import", "contacts", str(csv), "-w", str(ws)]).exit_code == 0
    result = runner.invoke(app, ["quarantine", "list", "-w", str(ws)], env=WIDE)
    assert "neither a contact id nor a valid email" in result.output
    assert "userId" not in result.output
    assert json.loads(json.dumps(quarantine_meaning("nope", "nope"))) == ""


def test_quarantine_retry_imports_crm_rows_again(tmp_path: Path) -> None:
    """After setting date_format, `quarantine retry` lands the bad_date row with its original
    line and source; a row with a field too many and a superseded duplicate stay open."""
    ws = _init(tmp_path)
    csv = tmp_path / "c.csv"
    csv.write_text(
        "id,email,created\nr1,a@x.com,2026-01-05\nr2,b@x.com,Feb 15 2026\n"
        "r3,c@x.com,2026-01-06,extra\nr1,a2@x.com,2026-01-07\n"
    )
    assert runner.invoke(app, ["import", "contacts", str(csv), "-w", str(ws)]).exit_code == 0
    toml = ws / "clientela.toml"
    toml.write_text(
        toml.read_text().replace(
            "[import.contacts]\n", '[import.contacts]\ndate_format = "%b %d %Y"\n'
        )
    )
    result = runner.invoke(app, ["quarantine", "retry", "-w", str(ws)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "contacts rows retried 1: landed 1, still rejected 0" in result.output
    assert "2 contacts rows not retried (duplicate_id: 1, wrong_field_count: 1)" in result.output
    from clientela.engine import scratch_duckdb
    from clientela.ingest.quarantine import open_records
    from clientela.workspace import open_workspace

    w = open_workspace(ws)
    files = [str(p) for p in w.segments(w.contacts_dir)]
    rows = (
        scratch_duckdb()
        .execute(
            "SELECT user_id, email, created_at::VARCHAR, source, line FROM read_parquet(?) "
            "ORDER BY user_id, line",
            [files],
        )
        .fetchall()
    )
    assert rows == [
        ("r1", "a2@x.com", "2026-01-07 00:00:00+00", str(csv), 5),
        ("r2", "b@x.com", "2026-02-15 00:00:00+00", str(csv), 3),
    ]
    assert sorted(r["reason"] for r in open_records(w).to_pylist()) == [
        "duplicate_id",
        "wrong_field_count",
    ]
    again = runner.invoke(app, ["quarantine", "retry", "-w", str(ws)], env=WIDE)
    assert "contacts rows retried" not in again.output  # the landed row is no longer open


def test_retry_that_still_fails_keeps_the_row_open_with_its_new_reason(tmp_path: Path) -> None:
    """A missing_id row retried without a new mapping stays open, once, with the same id."""
    ws = _init(tmp_path)
    csv = tmp_path / "c.csv"
    csv.write_text("id,email\n,not-an-email\n")
    assert runner.invoke(app, ["import", "contacts", str(csv), "-w", str(ws)]).exit_code == 0
    result = runner.invoke(app, ["quarantine", "retry", "-w", str(ws)], env=WIDE)
    assert "landed 0, still rejected 1 (missing_id: 1)" in result.output
    from clientela.ingest.quarantine import open_records
    from clientela.workspace import open_workspace

    [row] = open_records(open_workspace(ws)).to_pylist()
    assert (row["reason"], row["line"], row["source"]) == ("missing_id", 2, str(csv))


def test_crm_contact_with_a_european_date_is_a_prospect_not_a_stranger(tmp_path: Path) -> None:
    """A CRM contact with an email and created '15/02/2026' is a known prospect after a run
    (the date used to be dropped, and the contact shown as an anonymous stranger)."""
    ws = _init(tmp_path)
    csv = tmp_path / "c.csv"
    csv.write_text("id,email,created_at\nc1,ann@x.com,15/02/2026\n")
    assert runner.invoke(app, ["import", "contacts", str(csv), "-w", str(ws)]).exit_code == 0
    assert runner.invoke(app, ["run", "-w", str(ws)]).exit_code == 0
    result = runner.invoke(app, ["contacts", "list", "--format", "csv", "-w", str(ws)])
    [row] = [line for line in result.output.splitlines() if line.startswith("c1,")]
    assert "prospect" in row and "stranger" not in row


def test_spanish_export_and_segment_events_of_the_same_people(tmp_path: Path) -> None:
    """The Spanish CRM fixture plus Segment events under the same ids give one contact per
    person, with the CRM traits (ASCII-folded names) next to the app's."""
    from journeys import Journeys

    ws = _init(tmp_path)
    j = Journeys()
    j.page(anonymous_id="anon-1", properties={"path": "/precios"})
    j.identify(anonymous_id="anon-1", user_id="1001", traits={"plan": "pro"})
    j.track("Webinar Attended", user_id="1001")
    j.identify(user_id="1002", traits={"plan": "free"})
    events = j.write(tmp_path / "eventos.jsonl")
    assert runner.invoke(app, ["ingest", str(events), "-w", str(ws)]).exit_code == 0
    args = ["import", "contacts", str(FIXTURES / "crm_es.csv"), "-w", str(ws)]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, ["run", "-w", str(ws)]).exit_code == 0
    result = runner.invoke(app, ["contacts", "list", "--format", "csv", "-w", str(ws)])
    ids = sorted(line.split(",")[0] for line in result.output.splitlines()[1:] if line)
    assert ids == ["1001", "1002", "1005"]
    show = runner.invoke(app, ["contacts", "show", "1001", "-w", str(ws)], env=WIDE)
    assert show.exit_code == 0, show.output
    for text in ("alice@acme-corp.com", "telefono", "+34 600 111 222", "cargo", "pro"):
        assert text in show.output, text
    assert "Webinar Attended" in show.output
