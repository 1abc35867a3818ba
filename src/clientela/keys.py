"""API keys of three kinds: ``write`` (ingestion only), ``read`` (the read API only) and
``admin`` (runs, quarantine, keys). What each kind may call is stated once, in
:mod:`clientela.api.auth`.

A key is shown once, when created: ``cw_<id>_<secret>`` for a write key, ``cr_<id>_<secret>``
for a read key, ``ca_<id>_<secret>`` for an admin key, where ``id`` is 12 hex digits (public:
it names the key in ``keys list``) and ``secret`` is 43 URL-safe characters (256 random bits).
The workspace keeps only the SHA-256 of the whole key, in ``state/keys.json`` (written
atomically); checking a key looks it up by id and compares digests in constant time. Revoking
marks the record; a server notices the file changed (its stat signature) on the next request,
so a revoked key stops at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import orjson

from clientela.errors import ClientelaError, NotFoundError
from clientela.workspace import Workspace

KeyKind = Literal["write", "read", "admin"]
KINDS: tuple[KeyKind, ...] = ("write", "read", "admin")
PREFIXES: dict[KeyKind, str] = {"write": "cw", "read": "cr", "admin": "ca"}
_BY_PREFIX: dict[str, KeyKind] = {prefix: kind for kind, prefix in PREFIXES.items()}
KEYS_FILE = "keys.json"
KEY_PATTERN = r"(cw|cr|ca)_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"
_KEY_RE = re.compile(f"^{KEY_PATTERN}$")
_NAME_RE = re.compile(NAME_PATTERN)


class ApiKeyError(ClientelaError):
    """A key operation is not possible (bad kind or name, a name already in use)."""


@dataclass(frozen=True)
class KeyInfo:
    """One stored key (never its secret): what ``keys list`` shows and what auth returns."""

    id: str
    name: str
    kind: KeyKind
    prefix: str  # the visible start of the key, e.g. 'cw_0123456789ab'
    created_at: str  # ISO 8601, UTC
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class _Record:
    info: KeyInfo
    digest: str  # hex SHA-256 of the whole key


def keys_path(workspace: Workspace) -> Path:
    return workspace.state_dir / KEYS_FILE


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load(path: Path) -> list[_Record]:
    if not path.exists():
        return []
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ApiKeyError(f"{path}: not valid JSON ({exc})") from exc
    records: list[_Record] = []
    for row in data.get("keys", []):
        kind = row["kind"]
        if kind not in KINDS:
            raise ApiKeyError(f"{path}: key {row.get('id')!r} has unknown kind {kind!r}")
        info = KeyInfo(
            id=str(row["id"]),
            name=str(row["name"]),
            kind=cast(KeyKind, kind),
            prefix=str(row["prefix"]),
            created_at=str(row["created_at"]),
            revoked_at=row.get("revoked_at"),
        )
        records.append(_Record(info, str(row["sha256"])))
    return records


def _save(workspace: Workspace, records: list[_Record]) -> None:
    rows = [{**asdict(r.info), "sha256": r.digest} for r in records]
    payload = orjson.dumps({"version": 1, "keys": rows}, option=orjson.OPT_INDENT_2)
    with workspace.atomic_file(keys_path(workspace)) as tmp:
        tmp.write_bytes(payload)
        os.chmod(tmp, 0o600)


@contextmanager
def _locked(workspace: Workspace) -> Iterator[None]:
    """Serialise read-modify-write of the key file between processes (CLI and server)."""
    workspace.state_dir.mkdir(parents=True, exist_ok=True)
    with open(workspace.state_dir / "keys.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def create_key(workspace: Workspace, kind: str, name: str | None = None) -> tuple[KeyInfo, str]:
    """Create a key; returns its record and the secret key (shown once, never stored)."""
    if kind not in KINDS:
        raise ApiKeyError(
            f"key kind {kind!r} is not valid; expected one of " + ", ".join(map(repr, KINDS))
        )
    kind_: KeyKind = kind
    if name is not None and not _NAME_RE.match(name):
        raise ApiKeyError(
            f"key name {name!r} is not valid; expected 1-64 letters, digits or _.:@- "
            "starting with a letter or digit"
        )
    with _locked(workspace):
        records = _load(keys_path(workspace))
        ids = {r.info.id for r in records}
        key_id = secrets.token_hex(6)
        while key_id in ids:
            key_id = secrets.token_hex(6)
        name = name or f"{kind_}-{key_id}"
        if any(r.info.name == name and r.info.active for r in records):
            raise ApiKeyError(f"an active key is already named {name!r}; pick another --name")
        prefix = f"{PREFIXES[kind_]}_{key_id}"
        key = f"{prefix}_{secrets.token_urlsafe(32)}"
        info = KeyInfo(id=key_id, name=name, kind=kind_, prefix=prefix, created_at=_now())
        records.append(_Record(info, digest(key)))
        _save(workspace, records)
    return info, key


def list_keys(workspace: Workspace, include_revoked: bool = True) -> list[KeyInfo]:
    infos = [r.info for r in _load(keys_path(workspace))]
    return infos if include_revoked else [i for i in infos if i.active]


def revoke_key(workspace: Workspace, id_or_name: str) -> KeyInfo:
    """Revoke the key with this id (or name, or visible prefix); revoking twice is harmless."""
    with _locked(workspace):
        records = _load(keys_path(workspace))
        text = id_or_name.strip()
        hits = [i for i, r in enumerate(records) if text in (r.info.id, r.info.prefix)]
        if not hits:
            by_name = [i for i, r in enumerate(records) if r.info.name == text]
            active = [i for i in by_name if records[i].info.active]
            hits = active or by_name[-1:]
        if not hits:
            raise NotFoundError(f"no key with id or name {text!r}; see: clientela keys list")
        if len(hits) > 1:
            raise ApiKeyError(f"{len(hits)} keys are named {text!r}; revoke one by its id")
        index = hits[0]
        record = records[index]
        if record.info.active:
            record = replace(record, info=replace(record.info, revoked_at=_now()))
            records[index] = record
            _save(workspace, records)
        return record.info


def parse_key(key: str) -> tuple[KeyKind, str] | None:
    """The kind and id a key claims (from its visible prefix), or None if it is malformed."""
    match = _KEY_RE.match(key.strip())
    if not match:
        return None
    return _BY_PREFIX[match.group(1)], match.group(2)


class KeyStore:
    """The workspace's keys as a server sees them: re-read whenever the file changes.

    Every check stats ``state/keys.json``; the file is replaced atomically on each change, so
    its (inode, size, mtime) signature changes and the next check sees revocations at once.
    Safe to share between threads.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.path = keys_path(workspace)
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._by_id: dict[str, _Record] = {}

    def _current(self) -> dict[str, _Record]:
        try:
            st = self.path.stat()
            signature: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            signature = None
        with self._lock:
            if signature != self._signature or signature is None:
                records = _load(self.path) if signature is not None else []
                self._by_id = {r.info.id: r for r in records}
                self._signature = signature
            return self._by_id

    def check(self, key: str) -> KeyInfo | None:
        """The active key matching ``key`` exactly, or None (unknown, wrong or revoked)."""
        parsed = parse_key(key)
        if parsed is None:
            return None
        kind, key_id = parsed
        record = self._current().get(key_id)
        if record is None or record.info.kind != kind:
            # Compare anyway so unknown ids cost the same time as wrong secrets.
            hmac.compare_digest(digest(key), "0" * 64)
            return None
        if not hmac.compare_digest(digest(key.strip()), record.digest):
            return None
        return record.info if record.info.active else None


def key_rows(infos: list[KeyInfo]) -> list[dict[str, Any]]:
    """Rows for display or JSON: id, name, kind, prefix, created_at, revoked_at, active."""
    return [{**asdict(i), "active": i.active} for i in infos]
