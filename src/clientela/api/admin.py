"""The admin API (``/api/admin/*``): API keys and the quarantine. Admin keys only.

Keys: ``GET /api/admin/keys`` lists them (never a secret), ``POST /api/admin/keys`` creates
one and answers the key itself once (only its SHA-256 is stored), ``DELETE
/api/admin/keys/{key}`` revokes one (by id, name or visible prefix; a running server refuses
it from its next request on). The same operations as ``clientela keys``
(:mod:`clientela.keys`).

Quarantine: ``GET /api/admin/quarantine`` lists open records (filters and paging, counts by
kind and reason, no raw bytes), ``GET /api/admin/quarantine/{id}`` shows one with its raw
bytes, ``POST /api/admin/quarantine/retry`` runs open records through landing again (after a
config change). The same as ``clientela quarantine list|show|retry``
(:mod:`clientela.ingest.quarantine`). A quarantined record holds what a client sent, personal
data included, which is why all of this needs an admin key (:mod:`clientela.api.auth`).
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response, Security
from pydantic import BaseModel, Field, StringConstraints

from clientela.api.auth import admin_key
from clientela.api.errors import ApiError
from clientela.api.views import Error
from clientela.errors import ClientelaError, NotFoundError
from clientela.keys import NAME_PATTERN, ApiKeyError, KeyInfo, create_key, list_keys, revoke_key
from clientela.workspace import Workspace, open_workspace

log = logging.getLogger(__name__)

NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL, min_length=1, max_length=1000)]


# --- responses ----------------------------------------------------------------------------------


class ApiKey(BaseModel):
    """One API key as stored: never its secret."""

    id: str = Field(description="12 hex digits; names the key in lists and logs.")
    name: str
    kind: Literal["write", "read", "admin"]
    prefix: str = Field(description="The visible start of the key, e.g. 'cw_0123456789ab'.")
    created_at: datetime
    revoked_at: datetime | None = None
    active: bool


class KeyList(BaseModel):
    keys: list[ApiKey]


class NewKey(BaseModel):
    """A key to create."""

    kind: Literal["write", "read", "admin"] = Field(
        description="write (ingestion only), read (the read API only) or admin."
    )
    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN)] | None = Field(
        default=None, description="A name to find the key by (default: KIND-ID)."
    )


class CreatedKey(ApiKey):
    """A key just created: ``key`` is shown this once (only its hash is stored)."""

    key: str = Field(description="The key itself. Store it now: it cannot be shown again.")


class QuarantineCount(BaseModel):
    kind: str
    reason: str
    count: int
    meaning: str = Field(description="What the reason means.")


class QuarantinedRecord(BaseModel):
    """One open quarantined record, without its raw bytes."""

    quarantine_id: str
    kind: str = Field(description="events, contacts or accounts.")
    source: str = Field(description="The file (or server log) it came from.")
    line: int | None = None
    item: int | None = Field(default=None, description="Its place in a batch, if any.")
    reason: str
    field: str | None = None
    detail: str | None = None
    quarantined_at: datetime | None = None
    ingest_id: str | None = None


class QuarantinedDetail(QuarantinedRecord):
    """One open quarantined record with the bytes it was sent as (personal data)."""

    raw: str = Field(description="The raw bytes as text (bytes not UTF-8 as \\xNN escapes).")
    raw_base64: str = Field(description="The raw bytes exactly, base64.")
    raw_bytes: int


class QuarantinePage(BaseModel):
    """Open quarantined records matching the filters, in file order."""

    total: int = Field(description="Records matching, across all pages.")
    limit: int
    offset: int
    next_offset: int | None = None
    counts: list[QuarantineCount] = Field(description="Matching records by kind and reason.")
    items: list[QuarantinedRecord]


class RetryRequest(BaseModel):
    """Which open records to retry (all when empty)."""

    reason: Text | None = None
    source: Text | None = Field(default=None, description="Sources containing this text.")
    id: Text | None = Field(default=None, description="One record (a unique id prefix).")


class RetryResult(BaseModel):
    """What a retry did: records retried, then what landing made of them."""

    retried: int
    landed: int
    duplicates: int = Field(description="Already landed (by an earlier retry or ingest).")
    still_rejected: int
    reasons: dict[str, int] = Field(description="Reasons of the records still rejected.")
    not_retried: dict[str, int] = Field(
        description="CRM rows by kind: not retried here (fix the mapping, import again)."
    )


# --- routes -------------------------------------------------------------------------------------


def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


router = APIRouter(
    prefix="/api/admin",
    dependencies=[Security(admin_key)],
    responses={
        401: _error("No API key, or an unknown or revoked one."),
        403: _error("Not an admin key: the admin API needs an admin key."),
        422: _error("A parameter is not valid."),
    },
)
_retry_lock = threading.Lock()


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _key(info: KeyInfo) -> ApiKey:
    return ApiKey.model_validate({**asdict(info), "active": info.active})


@router.get("/keys", tags=["admin"], summary="API keys (never their secrets)")
def get_keys(
    request: Request,
    revoked: Annotated[bool, Query(description="Also list revoked keys.")] = True,
) -> KeyList:
    """Every key: id, name, kind, visible prefix, when created and revoked."""
    infos = list_keys(_workspace(request), include_revoked=revoked)
    return KeyList(keys=[_key(i) for i in infos])


@router.post(
    "/keys",
    tags=["admin"],
    status_code=201,
    summary="Create a key (answered once)",
    responses={409: _error("An active key already has that name (code conflict).")},
)
def post_key(request: Request, response: Response, body: Annotated[NewKey, Body()]) -> CreatedKey:
    """Create a key and answer it in ``key``: shown this once, only its hash is stored."""
    try:
        info, secret = create_key(_workspace(request), body.kind, body.name)
    except ApiKeyError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    response.headers["Cache-Control"] = "no-store"
    log.info("admin API: created %s key %s (id %s)", info.kind, info.name, info.id)
    return CreatedKey.model_validate({**_key(info).model_dump(), "key": secret})


@router.delete(
    "/keys/{key}",
    tags=["admin"],
    summary="Revoke a key",
    responses={
        404: _error("No such key (code not_found)."),
        409: _error("Several keys have that name: revoke one by its id (code conflict)."),
    },
)
def delete_key(
    request: Request,
    key: Annotated[str, Path(pattern=NO_NUL, max_length=200, description="Id, name or prefix.")],
) -> ApiKey:
    """Revoke a key: a running server refuses it from its next request on. Revoking a revoked
    key again is harmless (answered as it is)."""
    try:
        info = revoke_key(_workspace(request), key)
    except NotFoundError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except ApiKeyError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    log.info("admin API: revoked %s key %s (id %s)", info.kind, info.name, info.id)
    return _key(info)


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in QuarantinedRecord.model_fields}


@router.get("/quarantine", tags=["admin"], summary="Open quarantined records")
def get_quarantine(
    request: Request,
    reason: Annotated[Text | None, Query(description="Only this reason.")] = None,
    source: Annotated[Text | None, Query(description="Only sources containing this.")] = None,
    kind: Annotated[
        Literal["events", "contacts", "accounts"] | None, Query(description="Only this kind.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Records per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Records to skip.")] = 0,
) -> QuarantinePage:
    """Open records matching the filters (``clientela quarantine list``), in file order: counts
    by kind and reason, then one page of records (without their raw bytes: see one record)."""
    from clientela.ingest.quarantine import QuarantineFilter, page, summary
    from clientela.schema import quarantine_meaning

    ws = _workspace(request)
    flt = QuarantineFilter(reason=reason, source=source, kind=kind)
    counts = [
        QuarantineCount(kind=k, reason=why, count=n, meaning=quarantine_meaning(k, why))
        for k, why, n in summary(ws, flt)
    ]
    total = sum(c.count for c in counts)
    rows = page(ws, flt, limit, offset).to_pylist()
    end = offset + len(rows)
    return QuarantinePage(
        total=total,
        limit=limit,
        offset=offset,
        next_offset=end if end < total else None,
        counts=counts,
        items=[QuarantinedRecord.model_validate(_record(r)) for r in rows],
    )


@router.get(
    "/quarantine/{quarantine_id}",
    tags=["admin"],
    summary="One quarantined record, with its raw bytes",
    responses={404: _error("No open record has that id, or several do (code not_found).")},
)
def get_quarantined(
    request: Request,
    quarantine_id: Annotated[
        str, Path(pattern=NO_NUL, min_length=1, max_length=200, description="A unique prefix.")
    ],
) -> QuarantinedDetail:
    """One open record (``clientela quarantine show``): where it came from, why it was
    rejected, and the bytes it was sent as."""
    from clientela.ingest.quarantine import get

    try:
        row = get(_workspace(request), quarantine_id)
    except NotFoundError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    raw = bytes(row.get("raw") or b"")
    return QuarantinedDetail.model_validate(
        {
            **_record(row),
            "raw": raw.decode("utf-8", errors="backslashreplace"),
            "raw_base64": base64.b64encode(raw).decode("ascii"),
            "raw_bytes": len(raw),
        }
    )


@router.post(
    "/quarantine/retry",
    tags=["admin"],
    summary="Land open records again",
    responses={
        409: _error(
            "A retry is already working (code retry_in_progress), or clientela.toml is not "
            "valid (code invalid_config)."
        )
    },
)
def retry_quarantine(
    request: Request, body: Annotated[RetryRequest | None, Body()] = None
) -> RetryResult:
    """Run the open event records matching the filters (all when none) through landing again
    (``clientela quarantine retry``), typically after a config change: the workspace's
    ``clientela.toml`` is read afresh for it, as the command does. The ones that land are no
    longer listed, the others stay with their new reason. One retry at a time."""
    from clientela.api.log import _ServerWorkspace
    from clientela.ingest.quarantine import QuarantineFilter, retry

    flt = body or RetryRequest()
    if not _retry_lock.acquire(blocking=False):
        raise ApiError(409, "retry_in_progress", "a quarantine retry is already working")
    try:
        try:
            settings = open_workspace(_workspace(request).root).settings
        except ClientelaError as exc:
            raise ApiError(409, "invalid_config", f"cannot retry: {exc}") from None
        # Landing while the server lands: leave tmp/ alone, as the server's compactor does.
        landing = _ServerWorkspace(_workspace(request).root, settings)
        report = retry(
            landing, QuarantineFilter(reason=flt.reason, source=flt.source, quarantine_id=flt.id)
        )
    finally:
        _retry_lock.release()
    log.info(
        "admin API: quarantine retry of %d records: %d landed",
        report.retried,
        report.landing.accepted,
    )
    return RetryResult(
        retried=report.retried,
        landed=report.landing.accepted,
        duplicates=report.landing.duplicates,
        still_rejected=report.landing.quarantined,
        reasons=dict(report.landing.reasons),
        not_retried=dict(report.skipped_kinds),
    )
