"""CRM imports: column mapping, automatic column names, rows without ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clientela.config import ContactColumns
from clientela.engine import scratch_duckdb
from clientela.errors import ConfigError, InputError
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
    assert json.loads(str(row["traits"])) == {"title": None, "city": "Vigo"}  # not CEO
    [old] = _quarantined(ws)
    assert (old["reason"], old["line"]) == ("duplicate_id", 2)
    assert "line 3" in str(old["detail"])


def test_spanish_crm_export_fixture(tmp_path: Path) -> None:
    """The Spanish export (BOM, ';', accents, a broken row, duplicate ids, dd/mm/yyyy) lands
    its three good contacts whole and quarantines the other five rows with their reasons."""
    ws = make_workspace(tmp_path / "ws")
    report = import_file(ws, "contacts", FIXTURES / "crm_es.csv")
    assert (report.encoding, report.delimiter) == ("utf-8-sig", ";")
    assert report.columns == {
        "id": "ID",
        "email": "Correo electrónico",
        "created_at": "Fecha de alta",
        "modified_at": "Fecha de modificación",
    }
    assert report.traits == ["apellidos", "cargo", "empresa", "nombre", "telefono"]
    assert (report.rows, report.accepted, report.quarantined) == (8, 3, 5)
    assert report.duplicates == {"1001": 2, "1002": 2}
    rows = {r["user_id"]: r for r in _rows(ws, ws.contacts_dir)}
    assert sorted(rows) == ["1001", "1002", "1005"]
    # 1001: line 8 is the last row but line 2 was modified later (20/02 > 18/02): line 2 lands.
    alice = rows["1001"]
    assert (alice["line"], alice["email"]) == (2, "alice@acme-corp.com")
    assert json.loads(str(alice["traits"]))["cargo"] == "Directora de Marketing"
    assert alice["created_at"].isoformat() == "2026-02-15T00:00:00+00:00"  # type: ignore[union-attr]
    # 1002: line 5 is both the last and the newest; its blank phone is not filled from line 3.
    bruno = rows["1002"]
    assert (bruno["line"], bruno["email"]) == (5, "bruno.gomez@ejemplo.es")
    assert json.loads(str(bruno["traits"]))["telefono"] is None
    assert json.loads(str(bruno["traits"]))["apellidos"] == "Gómez Ruiz"
    got = [(r["line"], r["reason"]) for r in _quarantined(ws)]
    assert got == [
        (3, "duplicate_id"),
        (4, "wrong_field_count"),
        (6, "bad_date"),
        (8, "duplicate_id"),
        (9, "missing_id"),
    ]


@pytest.mark.parametrize(
    ("header", "role"),
    [
        ("Record ID,Email,First Name,Company Name,Create Date,Last Modified Date", "hubspot"),
        ("Contact ID,Email,Account ID,CreatedDate,LastModifiedDate", "salesforce"),
        ("Person - ID,Person - Email,Organization - Name,Person - Add time", "pipedrive"),
        ("Contact Id,Email,Account Name,Created Time,Modified Time", "zoho"),
        ("External ID,Email,Company,Created on,Last Updated on", "odoo"),
        ("Identificador,Correo,Teléfono,Empresa,Fecha de creación,Fecha de modificación", "es"),
    ],
)
def test_crm_export_headers_are_recognised(tmp_path: Path, header: str, role: str) -> None:
    """Contact exports of HubSpot, Salesforce, Pipedrive, Zoho, Odoo and a Spanish CRM map
    their id, email and dates without a mapping."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / f"{role}.csv"
    n = header.count(",") + 1
    values = ["c1", "a@x.com", *(["2026-03-01"] * (n - 2))]
    csv.write_text(header + "\n" + ",".join(values) + "\n", encoding="utf-8")
    report = import_file(ws, "contacts", csv, dry_run=True)
    names = header.split(",")
    assert report.columns["id"] == names[0] and report.columns["email"] == names[1], role
    assert "created_at" in report.columns, role
    if role in ("hubspot", "salesforce", "zoho", "odoo", "es"):
        assert report.columns["modified_at"] == names[-1], role


def test_account_headers_in_spanish_and_accent_insensitive_mapping(tmp_path: Path) -> None:
    """'Identificador', 'Empresa', 'Sitio web' map an accounts file; a mapped name matches
    ignoring case and accents ('fecha de modificacion' finds 'Fecha de modificación')."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "a.csv"
    csv.write_text(
        "Identificador;Empresa;Sitio web;Fecha de modificación;Año de fundación\n"
        "e1;Acme;https://acme.es;02/03/2026;1999\n",
        encoding="utf-8",
    )
    from clientela.config import AccountColumns

    cfg = AccountColumns(modified_at="fecha de modificacion")
    report = import_file(ws, "accounts", csv, cfg)
    assert report.columns == {
        "id": "Identificador",
        "name": "Empresa",
        "domain": "Sitio web",
        "modified_at": "Fecha de modificación",
    }
    [row] = _rows(ws, ws.accounts_dir)
    assert (row["name"], row["domain"]) == ("Acme", "acme.es")
    assert json.loads(str(row["traits"])) == {"ano_de_fundacion": "1999"}


def test_cp1252_tab_file_is_sniffed(tmp_path: Path) -> None:
    """A Windows (cp1252) tab-separated file reads with its accents and its euro sign."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.tsv"
    csv.write_bytes(
        "id\temail\tCiudad\tPresupuesto\nr1\ta@x.com\tMálaga\t5 000 €\n".encode("cp1252")
    )
    report = import_file(ws, "contacts", csv)
    assert (report.encoding, report.delimiter) == ("cp1252", "\t")
    [row] = _rows(ws, ws.contacts_dir)
    assert json.loads(str(row["traits"])) == {"ciudad": "Málaga", "presupuesto": "5 000 €"}


def test_latin1_pipe_file_and_given_delimiter(tmp_path: Path) -> None:
    """Bytes cp1252 leaves undefined fall back to latin-1; a given delimiter beats the sniff."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_bytes(b"id|email|note\nr1|a@x.com|a\x81b, c\n")
    report = import_file(ws, "contacts", csv)
    assert (report.encoding, report.delimiter) == ("latin-1", "|")
    # Read with ',' instead: one column 'id|email|note', which is no id column.
    with pytest.raises(ConfigError, match=r"id\|email\|note"):
        import_file(ws, "contacts", csv, ContactColumns(delimiter=","), dry_run=True)


def test_quoted_delimiters_and_line_breaks_keep_line_numbers(tmp_path: Path) -> None:
    """A quoted ';' and a quoted line break stay in their field; later rows keep their
    physical line numbers; blank lines are skipped."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text('id;email;nota\nr1;a@x.com;"uno; dos"\nr2;b@x.com;"tres\ncuatro"\n\nr3;;\n')
    report = import_file(ws, "contacts", csv)
    rows = _rows(ws, ws.contacts_dir)
    assert [(r["user_id"], r["line"]) for r in rows] == [("r1", 2), ("r2", 3), ("r3", 6)]
    assert json.loads(str(rows[0]["traits"])) == {"nota": "uno; dos"}
    assert json.loads(str(rows[1]["traits"])) == {"nota": "tres\ncuatro"}
    assert report.blank == 1


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # day first: 15 cannot be a month
        (["15/02/2026", "03/01/2026 10:30"], ["2026-02-15T00:00", "2026-01-03T10:30"]),
        # month first: 15 cannot be a day in the second place
        (["02/15/2026", "03/01/2026 4:05 PM"], ["2026-02-15T00:00", "2026-03-01T16:05"]),
        # nothing tells: day first
        (["03/01/2026", "04/02/2026"], ["2026-01-03T00:00", "2026-02-04T00:00"]),
        (["15-02-2026", "15.02.2026 08:00:30"], ["2026-02-15T00:00", "2026-02-15T08:00:30"]),
        (["2026/02/15", "2026-02-15T09:00:00Z"], ["2026-02-15T00:00", "2026-02-15T09:00"]),
        (
            ["2026-02-15T09:00:00.000+0100", "2026-02-15 09:00"],
            ["2026-02-15T08:00", "2026-02-15T09:00"],
        ),
    ],
)
def test_date_formats(tmp_path: Path, values: list[str], expected: list[str]) -> None:
    """Each common date format reads to the hand-checked UTC time."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("id,created\n" + "".join(f"r{i},{v}\n" for i, v in enumerate(values)))
    report = import_file(ws, "contacts", csv)
    assert report.quarantined == 0, report.rejected
    got = [r["created_at"].strftime("%Y-%m-%dT%H:%M") for r in _rows(ws, ws.contacts_dir)]  # type: ignore[union-attr]
    assert got == [e[:16] for e in expected]
    seconds = [r["created_at"].second for r in _rows(ws, ws.contacts_dir)]  # type: ignore[union-attr]
    assert seconds == [int(e[17:19]) if len(e) > 16 else 0 for e in expected]


def test_date_format_setting_and_conflicting_orders(tmp_path: Path) -> None:
    """--date-format reads what the guess cannot ('02/15/26'); a column with day-first and
    month-first values keeps the majority and quarantines the others, naming them."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("id,created\nr1,02/15/26\n")
    report = import_file(ws, "contacts", csv, ContactColumns(date_format="%m/%d/%y"))
    assert report.accepted == 1
    assert _rows(ws, ws.contacts_dir)[0]["created_at"].isoformat()[:10] == "2026-02-15"  # type: ignore[union-attr]
    mixed = tmp_path / "m.csv"
    mixed.write_text("id,created\nr1,15/02/2026\nr2,20/03/2026\nr3,02/25/2026\n")
    report = import_file(ws, "contacts", mixed, dry_run=True)
    assert "2 values put the day first, 1 the month" in report.dates["created"]
    guess = tmp_path / "g.csv"
    guess.write_text("id,created\nr1,03/01/2026\n")
    assumed = import_file(ws, "contacts", guess, dry_run=True).dates["created"]
    assert "day first is assumed" in assumed and "--date-format '%m/%d/%Y'" in assumed
    [bad] = report.rejected
    assert (bad.line, bad.reason, bad.field) == (4, "bad_date", "created")
    assert "'02/25/2026' is not a date (read as dd/mm/yyyy" in bad.detail


def test_duplicates_newest_by_modified_wins(tmp_path: Path) -> None:
    """With a modified-at column the newest row wins even when it comes first; a row with no
    modified date loses to one with it; the report names the rule."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text(
        "Contact ID,Email,LastModifiedDate\n"
        "c1,new@x.com,2026-03-02T10:00:00Z\n"
        "c1,old@x.com,2026-03-01T10:00:00Z\n"
        "c1,blank@x.com,\n"
    )
    report = import_file(ws, "contacts", csv)
    assert (
        report.duplicates == {"c1": 3} and "newest by 'LastModifiedDate'" in report.duplicate_rule
    )
    [row] = _rows(ws, ws.contacts_dir)
    assert (row["email"], row["line"]) == ("new@x.com", 2)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (3, "duplicate_id"),
        (4, "duplicate_id"),
    ]


def test_contacts_without_id_are_deduplicated_by_email(tmp_path: Path) -> None:
    """Rows with no id but the same email are one contact: the last row lands."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("Email,Cargo\nA@x.com,CEO\na@x.com ,CTO\n")
    report = import_file(ws, "contacts", csv)
    assert report.duplicates == {"a@x.com": 2}
    [row] = _rows(ws, ws.contacts_dir)
    assert json.loads(str(row["traits"])) == {"cargo": "CTO"}


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    """A dry run reports the mapping, counts and rejected rows; the workspace is unchanged."""
    ws = make_workspace(tmp_path / "ws")
    before = sorted(p.relative_to(ws.root) for p in ws.root.rglob("*"))
    report = import_file(ws, "contacts", FIXTURES / "crm_es.csv", dry_run=True)
    assert report.dry_run and (report.accepted, report.quarantined) == (3, 5)
    assert sorted(p.relative_to(ws.root) for p in ws.root.rglob("*")) == before


def test_trait_name_collisions_and_blank_headers(tmp_path: Path) -> None:
    """Two columns that fold to one trait name get '_2' (also 'nota' and 'Nota', which SQL
    would not tell apart); a blank header becomes column_N."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("id,Teléfono,Telefono,,nota,Nota\nr1,1,2,3,a,b\n", encoding="utf-8")
    import_file(ws, "contacts", csv)
    [row] = _rows(ws, ws.contacts_dir)
    assert json.loads(str(row["traits"])) == {
        "telefono": "1",
        "telefono_2": "2",
        "column_4": "3",
        "nota": "a",
        "nota_2": "b",
    }


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    """A file with no header row names the file."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "empty.csv"
    csv.write_text("\n\n")
    with pytest.raises(InputError, match=r"empty\.csv.*no header"):
        import_file(ws, "contacts", csv)


def test_forgotten_person_in_a_broken_row_is_dropped_not_quarantined(tmp_path: Path) -> None:
    """After `privacy forget`, a row of that person with a field too many is dropped (its
    fields are checked though no column was read), not kept in quarantine with their data."""
    from clientela import privacy

    ws = make_workspace(tmp_path / "ws")
    privacy.forget(ws, "ada@x.com", actor="cli:tester")
    csv = tmp_path / "c.csv"
    csv.write_text("id;email;note\nr1;ada@x.com;a;b\nr2;bob@x.com;c;d\nr3;cy@x.com;e\n")
    report = import_file(ws, "contacts", csv)
    assert (report.forgotten, report.accepted, report.quarantined) == (1, 1, 1)
    [kept] = _quarantined(ws)
    assert kept["line"] == 3 and kept["reason"] == "wrong_field_count"


def test_file_columns_named_like_landed_columns(tmp_path: Path) -> None:
    """A file whose columns are named 'email', 'traits', 'source' and 'line' still imports,
    and a quarantined row keeps them all in its raw JSON."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text("user_id,email,traits,source,line\nu1,a@x.com,t,s,l\n,,t2,s2,l2\n")
    report = import_file(ws, "contacts", csv)
    assert (report.accepted, report.quarantined) == (1, 1)
    [row] = _rows(ws, ws.contacts_dir)
    assert json.loads(str(row["traits"])) == {"traits": "t", "source": "s", "line": "l"}
    [bad] = _quarantined(ws)
    assert json.loads(bytes(bad["raw"]).decode()) == {  # type: ignore[arg-type]
        "user_id": "",
        "email": "",
        "traits": "t2",
        "source": "s2",
        "line": "l2",
    }


def test_parquet_contacts_with_typed_columns(tmp_path: Path) -> None:
    """A Parquet export with a timestamp and a number column lands; line is the row + 1."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    ws = make_workspace(tmp_path / "ws")
    path = tmp_path / "c.parquet"
    created = dt.datetime(2026, 2, 15, 10, 30, tzinfo=dt.UTC)
    pq.write_table(
        pa.table({"Contact ID": ["c1", "c2"], "Created Date": [created, None], "Seats": [3, 4]}),
        path,
    )
    report = import_file(ws, "contacts", path)
    assert (report.accepted, report.encoding) == (2, None)
    rows = _rows(ws, ws.contacts_dir)
    assert [(r["user_id"], r["line"]) for r in rows] == [("c1", 2), ("c2", 3)]
    assert rows[0]["created_at"] == created and rows[1]["created_at"] is None
    assert json.loads(str(rows[0]["traits"])) == {"seats": "3"}


def test_wrong_encoding_given_is_a_clear_error(tmp_path: Path) -> None:
    """--encoding utf-8 on a cp1252 file names the file, the byte and the flag to use."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "win.csv"
    csv.write_bytes("id,ciudad\nr1,Málaga\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"win\.csv.*not utf-8-sig text.*0xe1.*--encoding"):
        import_file(ws, "contacts", csv, ContactColumns(encoding="utf-8"))


def test_unclosed_quote_is_one_quarantined_row_that_names_its_lines(tmp_path: Path) -> None:
    """A quote never closed runs to the end of the file: that row is quarantined verbatim
    with where it starts and ends, not landed with the next rows inside one field; text after
    a closing quote is a malformed row too, and a quote inside an unquoted field is text."""
    ws = make_workspace(tmp_path / "ws")
    csv = tmp_path / "c.csv"
    csv.write_text('id,email,note\nr1,a@x.com,ok\nr2,b@x.com,"oops\nr3,c@x.com,x\nr4,d@x.com,y\n')
    report = import_file(ws, "contacts", csv)
    assert (report.accepted, report.quarantined) == (1, 1)
    [bad] = _quarantined(ws)
    assert (bad["line"], bad["reason"]) == (3, "malformed_row")
    assert "unexpected end of data; the row runs to line 5" in str(bad["detail"])
    assert bytes(bad["raw"]).decode() == 'r2,b@x.com,"oops\nr3,c@x.com,x\nr4,d@x.com,y'  # type: ignore[arg-type]
    other = tmp_path / "d.csv"
    other.write_text('id,email,note\nr1,a@x.com,"x"y\nr2,b@x.com,5" screen\n')
    report = import_file(ws, "contacts", other, dry_run=True)
    assert [(r.line, r.reason) for r in report.rejected] == [(2, "malformed_row")]
    assert report.accepted == 1
