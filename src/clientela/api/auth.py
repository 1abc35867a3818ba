"""Who is calling: the API key of a request, checked against the workspace's keys.

A key is accepted from (first found wins): HTTP Basic auth with the key as username and an
empty password (what Segment's libraries send for the write key), ``Authorization: Bearer
KEY``, or the ``writeKey`` of a Segment body (passed in as ``body_key`` by the ingestion
routes). Write keys may only ingest and read keys may only read: no key or an unknown/revoked
key is ``401``, a valid key of the other kind is ``403``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from fastapi import Request

from clientela.api.errors import ApiError
from clientela.keys import KeyInfo, KeyStore

__all__ = ["KeyInfo", "authenticate", "key_store"]

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="clientela", charset="UTF-8"'}


def key_store(request: Request) -> KeyStore:
    """The app's key store (one per app, made on first use from ``app.state.workspace``)."""
    state = request.app.state
    store: KeyStore | None = getattr(state, "key_store", None)
    if store is None:
        store = KeyStore(state.workspace)
        state.key_store = store
    return store


def _key_from_header(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, _, _password = decoded.partition(":")
        return username or None
    return None


def authenticate(
    request: Request, kind: Literal["write", "read"], body_key: str | None = None
) -> KeyInfo:
    """The active key of ``kind`` this request carries, else ``ApiError`` 401 or 403."""
    header = request.headers.get("authorization")
    key = _key_from_header(header) if header else None
    if key is None and isinstance(body_key, str) and body_key.strip():
        key = body_key.strip()
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            f"an API key ({kind} key) is required: HTTP Basic with the key as username, "
            "or 'Authorization: Bearer KEY'",
            headers=_CHALLENGE,
        )
    info = key_store(request).check(key)
    if info is None:
        raise ApiError(
            401, "unauthorized", "the API key is not valid or was revoked", headers=_CHALLENGE
        )
    if info.kind != kind:
        raise ApiError(
            403,
            "forbidden",
            f"a {info.kind} key cannot be used here; this endpoint needs a {kind} key",
        )
    return info
