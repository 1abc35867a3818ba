"""Who a privacy request is about: the whole contact behind one id or email.

The person is every userId, anonymousId and email that the current published ``identities``
table resolves to the same contact(s) as the given id or email, plus the given id itself
(forgetting someone never published yet still works). Ids seen with those on landed data
since the last run are added (an anonymousId identified as them, an alias's other name, an
email from their identify calls or CRM row) unless the published identities give that id to
somebody else: a shared device never pulls another person in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from clientela.engine.core import CURRENT
from clientela.errors import ConfigError
from clientela.privacy.store import normalise_identity, normalised_sql
from clientela.workspace import Workspace

KINDS = ("user_id", "anonymous_id", "email")
_EXPANSION_ROUNDS = 3


@dataclass(frozen=True)
class Subject:
    """The person a request is about. Every value is normalised
    (:func:`~clientela.privacy.store.normalise_identity`)."""

    given: str
    kinds: dict[str, str]
    """identity → its kind: ``user_id``, ``anonymous_id``, ``email`` (or ``id``: only given)"""
    contact_ids: frozenset[str]
    """the person's contact ids in the current published version (empty if not published)"""

    @property
    def identities(self) -> frozenset[str]:
        return frozenset(self.kinds)

    def of_kind(self, kind: str) -> list[str]:
        return sorted(v for v, k in self.kinds.items() if k == kind)

    def contact_forms(self) -> frozenset[str]:
        """Every value a published contact id of theirs can take (contact ids are a userId,
        ``anon:<anonymousId>`` or ``email:<address>``)."""
        forms = set(self.contact_ids) | set(self.kinds)
        forms |= {"anon:" + v for v in self.kinds}
        forms |= {"email:" + v for v in self.kinds if "@" in v}
        return frozenset(forms)


def current_version(workspace: Workspace) -> str | None:
    pointer = workspace.results_dir / CURRENT
    if not pointer.exists():
        return None
    return pointer.read_text(encoding="utf-8").strip() or None


def register_values(con: Any, name: str, values: frozenset[str] | set[str]) -> None:
    """Register a one-column table ``name(v)`` of text values in ``con``."""
    con.register(name, pa.table({"v": pa.array(sorted(values), pa.string())}))


def resolve_subject(workspace: Workspace, con: Any, given: str) -> Subject:
    """The person behind ``given`` (a userId, anonymousId or email)."""
    if not isinstance(given, str) or not given.strip() or "\x00" in given:
        raise ConfigError("id", given, "a userId, anonymousId or email (not empty, no NUL)")
    wanted = normalise_identity(given)
    kinds: dict[str, str] = {wanted: "email" if "@" in wanted else "id"}
    contacts: set[str] = set()
    others = "SELECT NULL::VARCHAR AS v WHERE false"
    version = current_version(workspace)
    folder = workspace.results_dir / version if version else None
    identities = folder / "identities.parquet" if folder else None
    if identities is not None and identities.exists():
        ids = f"read_parquet({_lit(str(identities))})"
        norm_value = normalised_sql("value")
        contacts |= _column(
            con,
            f"SELECT DISTINCT contact_id FROM {ids} WHERE {norm_value} = ? OR contact_id = ?",
            [wanted, given.strip()],
        )
        contacts_table = folder / "contacts.parquet" if folder else None
        if contacts_table is not None and contacts_table.exists():
            contacts |= _column(
                con,
                f"SELECT DISTINCT contact_id FROM read_parquet({_lit(str(contacts_table))}) "
                "WHERE lower(trim(email)) = ?",
                [wanted],
            )
        if contacts:
            register_values(con, "subject_contacts", contacts)
            for kind, value in con.execute(
                f"SELECT DISTINCT kind, {norm_value} FROM {ids} "
                "WHERE contact_id IN (SELECT v FROM subject_contacts) AND value IS NOT NULL"
            ).fetchall():
                kinds[value] = kind if kind in KINDS else "id"
            con.unregister("subject_contacts")
            others = (
                f"SELECT {norm_value} AS v FROM {ids} WHERE value IS NOT NULL "
                f"AND contact_id NOT IN ({', '.join(_lit(c) for c in sorted(contacts))})"
            )
    _expand_from_landed(workspace, con, kinds, others)
    return Subject(given=wanted, kinds=kinds, contact_ids=frozenset(contacts))


def _expand_from_landed(workspace: Workspace, con: Any, kinds: dict[str, str], others: str) -> None:
    """Add ids seen with the person's ids on landed events and CRM rows (not owned by
    another published contact), until nothing new is found."""
    events = [str(p) for p in workspace.segments(workspace.events_dir)]
    crm = [str(p) for p in workspace.segments(workspace.contacts_dir)]
    if not events and not crm:
        return
    uid, aid, pid = (normalised_sql(c) for c in ("user_id", "anonymous_id", "previous_id"))
    parts: list[str] = []
    if events:
        ev = f"read_parquet({_list(events)}, union_by_name = true)"
        mine = "IN (SELECT v FROM subject_values)"
        parts += [
            f"SELECT 'anonymous_id' AS kind, {aid} AS v FROM {ev} WHERE {uid} {mine}",
            f"SELECT 'email', lower(trim(email)) FROM {ev} WHERE {uid} {mine} OR {aid} {mine}",
            # An alias's other name: previousId (userId or anonymousId) and the new userId.
            f"SELECT CASE WHEN {pid} IN (SELECT v FROM user_ids) THEN 'user_id' "
            f"ELSE 'anonymous_id' END, {pid} FROM {ev} WHERE type = 'alias' AND {uid} {mine}",
            f"SELECT 'user_id', {uid} FROM {ev} WHERE type = 'alias' AND {pid} {mine}",
        ]
    if crm:
        cr = f"read_parquet({_list(crm)}, union_by_name = true)"
        parts += [
            f"SELECT 'email', lower(trim(email)) FROM {cr} "
            f"WHERE {uid} IN (SELECT v FROM subject_values)",
            f"SELECT 'user_id', {uid} FROM {cr} "
            "WHERE lower(trim(email)) IN (SELECT v FROM subject_values)",
        ]
    query = (
        "SELECT DISTINCT kind, v FROM (" + " UNION ALL ".join(parts) + ") "
        f"WHERE v IS NOT NULL AND v <> '' AND v NOT IN ({others}) "
        "AND v NOT IN (SELECT v FROM subject_values)"
    )
    for _ in range(_EXPANSION_ROUNDS):
        register_values(con, "subject_values", set(kinds))
        register_values(con, "user_ids", {v for v, k in kinds.items() if k == "user_id"})
        found = con.execute(query).fetchall()
        con.unregister("subject_values")
        con.unregister("user_ids")
        if not found:
            return
        for kind, value in found:
            kinds.setdefault(value, kind)


def _column(con: Any, sql: str, params: list[Any]) -> set[str]:
    return {r[0] for r in con.execute(sql, params).fetchall() if r[0] is not None}


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(paths: list[str]) -> str:
    return "[" + ", ".join(_lit(p) for p in paths) + "]"
