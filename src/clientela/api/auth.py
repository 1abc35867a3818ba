"""Who is calling, and what each kind of API key may do: the rule, stated here once.

Every route of the app declares which kinds of key it takes, one of:

* :data:`WRITE` (``write``): ingestion, ``/v1/*``. Write keys ship inside browser and app
  SDKs, so they are public: they can do nothing else.
* :data:`READ` (``read`` or ``admin``): the read API (contacts, accounts, metrics,
  ``/api/published``, and the status of runs). An admin key may read, so an admin's session
  (Swagger UI, a dashboard) needs no second key; a read key can never do more than read.
* :data:`ADMIN` (``admin``): whatever changes what others see or shows raw personal data:
  starting runs (``POST /api/runs``), the quarantine (its raw bytes are PII), key management
  (``/api/admin/*``), and privacy operations.

An admin key cannot ingest: ingestion is what write keys are for, and an admin key must never
be pasted into an SDK. Swagger UI, ``/openapi.json`` and their assets need no key.

A key is accepted from (first found wins): HTTP Basic auth with the key as username and an
empty password (what Segment's libraries send for the write key), ``Authorization: Bearer
KEY``, or the ``writeKey`` of a Segment body (passed in as ``body_key`` by the ingestion
routes, only when no header carries a key). No key, or an unknown or revoked one, is ``401``
(with a Basic challenge); a valid key of a kind the route does not take is ``403``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from fastapi import Request
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from clientela.api.errors import ApiError
from clientela.keys import KINDS, KeyInfo, KeyKind, KeyStore

__all__ = [
    "ADMIN",
    "READ",
    "WRITE",
    "HeaderKey",
    "KeyInfo",
    "KeyRequired",
    "KeyRule",
    "admin_key",
    "authenticate",
    "header_key",
    "key_store",
    "read_key",
    "write_key",
]

Access = frozenset[KeyKind]
WRITE: Access = frozenset({"write"})
READ: Access = frozenset({"read", "admin"})
ADMIN: Access = frozenset({"admin"})

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


def header_key(request: Request) -> str | None:
    """The key the ``Authorization`` header carries, or None (no header, or no key in it:
    an empty Basic username, an unknown scheme)."""
    header = request.headers.get("authorization")
    return _key_from_header(header) if header else None


def _named(kinds: Iterable[str]) -> str:
    ordered = [k for k in KINDS if k in set(kinds)]
    return " or ".join(ordered)


def _a(words: str) -> str:
    return ("an " if words[:1] in "aeiou" else "a ") + words


def authenticate(
    request: Request, allowed: KeyKind | Iterable[KeyKind], body_key: str | None = None
) -> KeyInfo:
    """The active key of an ``allowed`` kind this request carries, else ``ApiError`` 401/403.

    ``body_key`` (the ``writeKey`` of a Segment body) counts only when no header carries a key.
    """
    kinds: Access = frozenset([allowed]) if isinstance(allowed, str) else frozenset(allowed)
    key = header_key(request)
    if key is None and isinstance(body_key, str) and body_key.strip():
        key = body_key.strip()
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            f"an API key ({_named(kinds)} key) is required: HTTP Basic with the key as "
            "username, or 'Authorization: Bearer KEY'",
            headers=_CHALLENGE,
        )
    info = key_store(request).check(key)
    if info is None:
        raise ApiError(
            401, "unauthorized", "the API key is not valid or was revoked", headers=_CHALLENGE
        )
    if info.kind not in kinds:
        raise ApiError(
            403,
            "forbidden",
            f"{_a(info.kind)} key cannot be used here; this endpoint needs {_a(_named(kinds))} key",
        )
    return info


class KeyRule(SecurityBase):
    """A route's key rule as a FastAPI security dependency: ``kinds`` is the rule."""

    kinds: Access


class KeyRequired(KeyRule):
    """The key of a route of the API (documented in OpenAPI as a bearer token):
    ``Security(KeyRequired(READ, "readKey", ...))``."""

    def __init__(self, kinds: Access, scheme_name: str, description: str) -> None:
        self.kinds = kinds
        self.model = HTTPBearerModel(description=description)
        self.scheme_name = scheme_name

    def __call__(self, request: Request) -> KeyInfo:
        return authenticate(request, self.kinds)


class HeaderKey(KeyRule):
    """The ingestion routes' rule: a key in a header is checked at once, before the body is
    read; ``None`` when no header carries a key (the body's ``writeKey`` must then)."""

    def __init__(self, kinds: Access, scheme_name: str, description: str) -> None:
        self.kinds = kinds
        self.model = HTTPBaseModel(scheme="basic", description=description)
        self.scheme_name = scheme_name

    def __call__(self, request: Request) -> KeyInfo | None:
        if header_key(request) is None:
            return None
        return authenticate(request, self.kinds)


read_key = KeyRequired(
    READ,
    "readKey",
    "A read key (clientela keys create --kind read), or an admin key: "
    "'Authorization: Bearer KEY', or HTTP Basic with the key as the username.",
)
admin_key = KeyRequired(
    ADMIN,
    "adminKey",
    "An admin key (clientela keys create --kind admin): "
    "'Authorization: Bearer KEY', or HTTP Basic with the key as the username.",
)
write_key = HeaderKey(
    WRITE,
    "writeKey",
    "A write key (clientela keys create --kind write) as the HTTP Basic username with an "
    "empty password (what Segment's libraries send), as 'Authorization: Bearer KEY', or as "
    "the body's writeKey.",
)
