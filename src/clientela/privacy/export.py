"""A copy of everything held about a person (GDPR article 15), as one JSON document.

Sections: ``summary`` (counts per section, the published version, when), ``subject`` (their
identities and contact ids), ``published`` (their rows of every table of the current
version: identities, contact, traits, memberships and the accounts they belong to,
audience class and evidence, scores, score ledger, stage history, lifecycle, activity,
identity conflicts), ``landed`` (every landed event, normalised fields and the raw text as
received, and their CRM rows), ``quarantine`` (records holding them, raw bytes as text) and
``http_log`` (messages accepted by the server and not landed yet). The same matching rules
as :mod:`clientela.privacy.forget`: what an export shows is what a forget removes.
"""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from clientela.engine import scratch_duckdb
from clientela.privacy.forget import (
    LineMatcher,
    contacts_condition,
    events_condition,
    quarantine_condition,
    version_contacts,
)
from clientela.privacy.store import (
    audit,
    identity_hash,
    normalised_sql,
    path_sql,
    workspace_salt,
)
from clientela.privacy.subject import Subject, current_version, register_values, resolve_subject
from clientela.workspace import Workspace

_JSON_COLUMNS = ("properties", "traits", "context")
_ACCOUNT_TABLES = ("accounts", "account_traits", "account_scores")


def export(workspace: Workspace, id_or_email: str, *, actor: str = "system") -> dict[str, Any]:
    """Everything held about the person behind ``id_or_email``, as one JSON-ready dict
    (times as ISO 8601 text). Appends an audit record (without PII)."""
    settings = workspace.settings.engine
    con = scratch_duckdb(settings.threads, settings.memory_limit)
    try:
        subject = resolve_subject(workspace, con, id_or_email)
        register_values(con, "subject_values", set(subject.identities))
        version = current_version(workspace)
        published = _published(workspace, con, subject, version)
        landed = {
            "events": _rows(con, workspace.segments(workspace.events_dir), events_condition()),
            "crm_contacts": _rows(
                con, workspace.segments(workspace.contacts_dir), contacts_condition()
            ),
        }
        quarantine = _quarantine(workspace, con, subject)
    finally:
        con.close()
    pending = _http_log(workspace, subject)
    for event in landed["events"]:
        _parse_json_columns(event)
    for row in landed["crm_contacts"]:
        _parse_json_columns(row)
    counts = {f"published.{k}": len(v) for k, v in published.items()}
    counts |= {f"landed.{k}": len(v) for k, v in landed.items()}
    counts["quarantine"] = len(quarantine)
    counts["http_log"] = len(pending)
    subject_hash = identity_hash(workspace_salt(workspace), subject.given)
    document: dict[str, Any] = {
        "summary": {
            "generated_at": datetime.now(UTC).isoformat(),
            "workspace": workspace.root.name,
            "published_version": version,
            "identities": len(subject.identities),
            "contacts": sorted(subject.contact_ids),
            "counts": {k: v for k, v in counts.items() if v},
        },
        "subject": {
            "asked_for": subject.given,
            "identities": {
                kind: subject.of_kind(kind) for kind in ("user_id", "anonymous_id", "email", "id")
            },
            "contact_ids": sorted(subject.contact_ids),
        },
        "published": published,
        "landed": landed,
        "quarantine": quarantine,
        "http_log": pending,
    }
    audit(
        workspace,
        {
            "operation": "export",
            "actor": actor,
            "subject": subject_hash,
            "identities": len(subject.identities),
            "contacts": len(subject.contact_ids),
            "exported": {k: v for k, v in counts.items() if v},
            "version": version,
        },
    )
    plain: dict[str, Any] = _plain(document)
    return plain


def write_export(
    workspace: Workspace, id_or_email: str, out: Path, *, actor: str = "system"
) -> dict[str, Any]:
    """Write :func:`export` to ``out`` (JSON, written whole then renamed); returns its
    summary."""
    document = export(workspace, id_or_email, actor=actor)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    partial.replace(out)
    summary: dict[str, Any] = document["summary"]
    return summary


def dumps(document: dict[str, Any]) -> bytes:
    """The export as JSON bytes."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def _rows(con: Any, files: list[Path], condition: str) -> list[dict[str, Any]]:
    if not files:
        return []
    listed = "[" + ", ".join(path_sql(p) for p in files) + "]"
    table = con.execute(
        f"SELECT * FROM read_parquet({listed}, union_by_name = true) WHERE {condition}"
    ).to_arrow_table()
    return list(table.to_pylist())


def _published(
    workspace: Workspace, con: Any, subject: Subject, version: str | None
) -> dict[str, list[dict[str, Any]]]:
    if version is None:
        return {}
    folder = workspace.results_dir / version
    if not folder.is_dir():
        return {}
    contacts = version_contacts(con, folder, subject)
    register_values(con, "subject_cells", contacts)
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        for path in sorted(folder.glob("*.parquet")):
            table = path.stem
            if table in _ACCOUNT_TABLES or table == "run_info":
                continue
            source = f"read_parquet({path_sql(path)})"
            columns = {c[0] for c in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
            tests = [
                f'"{c}" IN (SELECT v FROM subject_cells)'
                for c in ("contact_id", "kept_contact", "refused_contact")
                if c in columns
            ]
            if table in ("identities", "identity_conflicts") and "value" in columns:
                tests.append(normalised_sql("value") + " IN (SELECT v FROM subject_values)")
            if not tests:
                continue
            rows = con.execute(
                f"SELECT * FROM {source} WHERE coalesce({' OR '.join(tests)}, false)"
            ).to_arrow_table()
            out[table] = list(rows.to_pylist())
        accounts = {
            r.get("account_id")
            for name in ("memberships", "contacts", "lifecycle")
            for r in out.get(name, [])
            if r.get("account_id")
        }
        if accounts:
            register_values(con, "subject_accounts", {str(a) for a in accounts})
            for table in _ACCOUNT_TABLES:
                path = folder / f"{table}.parquet"
                if path.exists():
                    rows = con.execute(
                        f"SELECT * FROM read_parquet({path_sql(path)}) "
                        "WHERE account_id IN (SELECT v FROM subject_accounts)"
                    ).to_arrow_table()
                    out[table] = list(rows.to_pylist())
            con.unregister("subject_accounts")
    finally:
        con.unregister("subject_cells")
    return out


def _quarantine(workspace: Workspace, con: Any, subject: Subject) -> list[dict[str, Any]]:
    from clientela.ingest.quarantine import RESOLVED_PREFIX

    files = [
        p
        for p in workspace.segments(workspace.quarantine_dir)
        if not p.name.startswith(RESOLVED_PREFIX)
    ]
    rows = _rows(con, files, quarantine_condition(subject))
    for row in rows:
        raw = row.get("raw")
        if isinstance(raw, bytes):
            try:
                row["raw"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                row["raw"] = base64.b64encode(raw).decode("ascii")
                row["raw_encoding"] = "base64"
    return rows


def _http_log(workspace: Workspace, subject: Subject) -> list[Any]:
    """The person's messages in log files not landed yet (whole lines only: a server may be
    appending to the newest file)."""
    from clientela.api.log import LOG_FOLDER, LOG_SUFFIX

    folder = workspace.state_dir / LOG_FOLDER
    if not folder.exists():
        return []
    matcher = LineMatcher(subject)
    found: list[Any] = []
    for path in sorted(folder.glob(f"http-*{LOG_SUFFIX}")):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # landed and deleted meanwhile
        for line in data.split(b"\n")[:-1]:
            found.extend(matcher.found(line))
    return found


def _parse_json_columns(row: dict[str, Any]) -> None:
    for column in _JSON_COLUMNS:
        value = row.get(column)
        if isinstance(value, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                row[column] = orjson.loads(value)


def _plain(value: Any) -> Any:
    """JSON-ready: times as ISO text, bytes as text, numbers and text as they are."""
    return orjson.loads(orjson.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "__float__"):
        return float(value)
    return str(value)
