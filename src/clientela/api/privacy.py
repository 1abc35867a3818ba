"""The privacy API (``/api/privacy/*``): forget a person, or export what is held about them.
Admin keys only (:mod:`clientela.api.auth`): both touch every byte of a person's data.

``POST /api/privacy/forget {"id": "<userId, anonymousId or email>"}`` runs
:func:`clientela.privacy.forget` in this server: its HTTP log is rotated and landed first
(after the tombstones are written), then every segment, the quarantine and every published
version are rewritten without the person. Answers the counts (no personal data).
``POST /api/privacy/export {"id": ...}`` answers :func:`clientela.privacy.export`, the whole
JSON document. Both append an audit record naming the key (``key:<id>``), never the person.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, Security
from pydantic import BaseModel, Field, StringConstraints

from clientela.api.auth import admin_key
from clientela.api.errors import ApiError
from clientela.api.views import Error
from clientela.errors import ConfigError, WorkspaceError
from clientela.keys import KeyInfo
from clientela.workspace import Workspace

FLUSH_TIMEOUT = 300.0  # seconds to wait for the HTTP log to be landed before forgetting

Identity = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=r"^[^\x00]*$"),
]


class PrivacyRequest(BaseModel):
    """Whom a request is about."""

    id: Identity = Field(description="A userId, an anonymousId or an email of the person.")


class ForgetResult(BaseModel):
    """What a forget removed (counts only; the subject is a salted hash)."""

    subject: str = Field(description="Salted SHA-256 of the id asked for (as in the audit log).")
    identities: int = Field(description="Identities (ids and emails) the person had.")
    contacts: int = Field(description="Their contacts in the published version.")
    tombstones_added: int
    removed: dict[str, int] = Field(description="Rows (or log messages) removed, per place.")
    files_rewritten: int
    files_deleted: int
    version: str | None = Field(description="The version published without them.")
    versions_rewritten: int = Field(description="Older versions rewritten in place.")
    seconds: float


def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


router = APIRouter(
    prefix="/api/privacy",
    tags=["privacy"],
    responses={
        400: _error("The id is not valid."),
        401: _error("No API key, or an unknown or revoked one."),
        403: _error("Not an admin key."),
        422: _error("The body is not valid."),
    },
)


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


@router.post(
    "/forget",
    summary="Forget a person (GDPR art. 17; admin key)",
    responses={409: _error("A run or a landing is working (code busy); try again later.")},
)
def forget_person(
    request: Request, body: PrivacyRequest, key: Annotated[KeyInfo, Security(admin_key)]
) -> ForgetResult:
    """Remove the person behind ``id`` (and every id and email resolved to them) from the
    landed events, CRM rows, quarantine, HTTP log and every published version; keep salted
    hashes of their identities so that what they sent is dropped if it comes again."""
    from clientela.privacy import forget

    state = request.app.state
    runs = getattr(state, "runs", None)
    active = runs.active if runs is not None else None
    if active is not None:
        raise ApiError(
            409, "busy", f"run {active} is working; forget when it has finished (GET /api/runs)"
        )
    ingestion = getattr(state, "ingestion", None)
    flush = None
    if ingestion is not None:

        def flush() -> None:
            if not ingestion.land_now(FLUSH_TIMEOUT):
                raise WorkspaceError(
                    f"the server's HTTP log was not landed within {FLUSH_TIMEOUT:.0f} s"
                )

    try:
        report = forget(_workspace(request), body.id, actor=f"key:{key.id}", flush_http_log=flush)
    except ConfigError as exc:
        raise ApiError(400, "invalid_id", str(exc)) from None
    except WorkspaceError as exc:
        raise ApiError(409, "busy", str(exc)) from None
    return ForgetResult(**asdict(report))


@router.post(
    "/export",
    summary="Everything held about a person, as one JSON document (GDPR art. 15; admin key)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The export."}},
)
def export_person(
    request: Request, body: PrivacyRequest, key: Annotated[KeyInfo, Security(admin_key)]
) -> Response:
    """Identities, traits, CRM rows, accounts and memberships, every landed event (normalised
    and raw), quarantined records, scores, ledger, stage history, lifecycle and audience
    evidence of the person behind ``id``; ``summary`` counts each section."""
    from clientela.privacy.export import dumps, export

    try:
        document = export(_workspace(request), body.id, actor=f"key:{key.id}")
    except ConfigError as exc:
        raise ApiError(400, "invalid_id", str(exc)) from None
    return Response(content=dumps(document), media_type="application/json")
