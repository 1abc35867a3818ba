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
