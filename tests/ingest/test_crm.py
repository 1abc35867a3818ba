"""CRM imports: column mapping, automatic column names, rows without ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clientela.config import ContactColumns
from clientela.engine import scratch_duckdb
from clientela.errors import ConfigError
from clientela.ingest.crm import domain_sql, import_file, snake_case
from clientela.workspace import Workspace
from conftest import make_workspace


def _rows(ws: Workspace, folder: Path) -> list[dict[str, object]]:
    con = scratch_duckdb()
    files = [str(p) for p in ws.segments(folder)]
    return list(
        con.execute("SELECT * FROM read_parquet(?) ORDER BY line", [files])
        .to_arrow_table()
        .to_pylist()
    )


def test_contacts_with_crm_headers_map_themselves(tmp_path: Path) -> None:
    """'Contact ID', 'Email Address', 'Account ID' are found; other columns become traits."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text(
        "Contact ID,Email Address,Job Title,Account ID,Postal Code\n"
        "00123, Ann@X.com ,CTO,acc-1,01234\n"
        ",,Intern,,\n"
    )
    report = import_file(ws, "contacts", csv)
    assert (report.accepted, report.quarantined) == (1, 1)
    [row] = _rows(ws, ws.contacts_dir)
    assert row["user_id"] == "00123"  # kept as text, leading zeros and all
    assert row["email"] == "ann@x.com" and row["account_id"] == "acc-1" and row["line"] == 2
    assert json.loads(str(row["traits"])) == {"job_title": "CTO", "postal_code": "01234"}


def test_explicit_mapping_and_bad_mapping(tmp_path: Path) -> None:
    """A mapping names the columns; a column that is not in the file is a clear error."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("ref,mail,role\nr1,a@b.co,CEO\n")
    mapping = ContactColumns(id="ref", email="mail", traits={"role": "title"})
    import_file(ws, "contacts", csv, mapping)
    [row] = _rows(ws, ws.contacts_dir)
    assert row["user_id"] == "r1" and json.loads(str(row["traits"])) == {"title": "CEO"}
    with pytest.raises(ConfigError, match=r"import.contacts.id.*'nope'.*ref, mail, role"):
        import_file(ws, "contacts", csv, ContactColumns(id="nope"))


def test_accounts_domain_is_normalised(tmp_path: Path) -> None:
    """Website 'https://www.Acme.io/about' is stored as domain 'acme.io'."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "a.csv"
    csv.write_text(
        "Account ID,Account Name,Website,Employees\nacc-1,Acme,https://www.Acme.io/about,50\n"
    )
    import_file(ws, "accounts", csv)
    [row] = _rows(ws, ws.accounts_dir)
    assert (row["account_id"], row["name"], row["domain"]) == ("acc-1", "Acme", "acme.io")
    assert json.loads(str(row["traits"])) == {"employees": "50"}


def test_helpers() -> None:
    """snake_case and domain normalisation on their own."""
    assert snake_case("Annual Revenue") == "annual_revenue"
    assert snake_case("AnnualRevenue") == "annual_revenue"
    con = scratch_duckdb()
    assert con.execute(
        f"SELECT {domain_sql(chr(39) + 'HTTP://www.x.org:8080/a' + chr(39))}"
    ).fetchone() == ("x.org",)


# -- regression tests for issue 11 (a Spanish CRM export) ---------------------------------------

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _quarantined(ws: Workspace) -> list[dict[str, object]]:
    from clientela.ingest.quarantine import open_records

    return sorted(open_records(ws).to_pylist(), key=lambda r: int(str(r["line"])))


def test_bom_semicolon_file_with_a_broken_row_lands_the_rest(tmp_path: Path) -> None:
    """A BOM, ';' delimiter and one row with an unquoted ';' quarantine that row, not the file."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_bytes(
        "\ufeffID;Email;Company\n1;a@x.com;Acme\n2;b@x.com;Foo; Bar\n3;c@x.com;Baz\n".encode()
    )
    report = import_file(ws, "contacts", csv)
    assert (report.accepted, report.quarantined) == (2, 1)
    assert [r["user_id"] for r in _rows(ws, ws.contacts_dir)] == ["1", "3"]
    [bad] = _quarantined(ws)
    assert (bad["reason"], bad["line"], bad["source"]) == ("wrong_field_count", 3, str(csv))
    assert "4 fields" in str(bad["detail"]) and "3" in str(bad["detail"])
    assert bytes(bad["raw"]).decode() == "2;b@x.com;Foo; Bar"  # type: ignore[arg-type]


def test_spanish_email_header_is_found(tmp_path: Path) -> None:
    """'Correo electrónico' is the email column, 'Identificador' the id."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("Identificador,Correo electrónico\nr1,ann@x.com\n", encoding="utf-8")
    report = import_file(ws, "contacts", csv)
    assert report.columns == {"id": "Identificador", "email": "Correo electrónico"}
    [row] = _rows(ws, ws.contacts_dir)
    assert (row["user_id"], row["email"]) == ("r1", "ann@x.com")


def test_trait_names_keep_their_letters() -> None:
    """Accented letters are ASCII-folded in trait names, not deleted."""
    assert snake_case("Teléfono") == "telefono"
    assert snake_case("Correo electrónico") == "correo_electronico"
    assert snake_case("Año de fundación") == "ano_de_fundacion"
    assert snake_case("Straße") == "strasse"


def test_european_created_date_is_parsed(tmp_path: Path) -> None:
    """'15/02/2026' in a created column is 15 February 2026, not a silent null."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("id,email,Created Date\nr1,a@x.com,15/02/2026\nr2,b@x.com,03/01/2026\n")
    import_file(ws, "contacts", csv)
    got = {r["user_id"]: r["created_at"] for r in _rows(ws, ws.contacts_dir)}
    assert got["r1"].isoformat() == "2026-02-15T00:00:00+00:00"  # type: ignore[union-attr]
    assert got["r2"].isoformat() == "2026-01-03T00:00:00+00:00"  # type: ignore[union-attr]


def test_unparseable_created_date_is_quarantined(tmp_path: Path) -> None:
    """A created date that is no date quarantines its row with the column and the value."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("id,email,created_at\nr1,a@x.com,2026-02-15\nr2,b@x.com,next tuesday\n")
    report = import_file(ws, "contacts", csv)
    assert (report.accepted, report.quarantined) == (1, 1)
    [bad] = _quarantined(ws)
    assert (bad["reason"], bad["line"], bad["field"]) == ("bad_date", 3, "created_at")
    assert "'next tuesday'" in str(bad["detail"])


def test_duplicate_ids_last_row_wins_whole(tmp_path: Path) -> None:
    """Two rows with one id: the last row lands whole (no fields from the other), and the
    first is reported and quarantined as superseded."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("id,email,title,city\nr1,a@x.com,CEO,\nr1,a2@x.com,,Vigo\n")
    report = import_file(ws, "contacts", csv)
    assert report.duplicates == {"r1": 2}
    [row] = _rows(ws, ws.contacts_dir)
    assert (row["email"], row["line"]) == ("a2@x.com", 3)
    assert json.loads(str(row["traits"])) == {"city": "Vigo"}
    [old] = _quarantined(ws)
    assert (old["reason"], old["line"]) == ("duplicate_id", 2)
    assert "line 3" in str(old["detail"])
