"""Segments in the API: ``GET /api/segments``, ``GET /api/segments/{name}`` (definition and
paged members), ``GET /api/segments/{name}/history`` and ``POST /api/segments`` (admin key:
a saved segment changes what every reader sees from the next run on).

Reads take a read or admin key and one pinned published version per request; a version
published before the segment tables existed reads as empty, and a segment saved after the
last run answers with ``members`` null (not evaluated yet).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Security
from pydantic import BaseModel, ConfigDict, Field

from clientela.activation import segment_reads, segments
from clientela.api.auth import admin_key, read_key
from clientela.api.errors import ApiError
from clientela.api.read import ERRORS, Limit, Offset, _count, _error, _page_links, _reading, _rows
from clientela.errors import ClientelaError
from clientela.workspace import Workspace

SegmentName = Annotated[str, Path(min_length=1, max_length=200)]


class Segment(BaseModel):
    """A segment in force: where it is defined, its conditions and its member count as of
    the last run (null when it was saved after it)."""

    segment: str
    description: str
    source: Literal["config", "saved"]
    definition: dict[str, Any]
    members: int | None


class SegmentList(BaseModel):
    segments: list[Segment]


class Member(BaseModel):
    contact_id: str
    email: str | None
    since: datetime


class SegmentPage(BaseModel):
    """A segment with one page of its members (oldest membership first)."""

    segment: Segment
    version: str | None
    total: int
    limit: int
    offset: int
    next_offset: int | None
    next: str | None
    members: list[Member]


class Change(BaseModel):
    contact_id: str
    change: Literal["entered", "left"]
    at: datetime


class HistoryPage(BaseModel):
    """One page of a segment's membership changes, latest first."""

    segment: str
    total: int
    limit: int
    offset: int
    next_offset: int | None
    next: str | None
    changes: list[Change]


class NewSegment(BaseModel):
    """A segment to save: its name, description and conditions (``all``, ``any``,
    ``not``), in the language of ``[segments.NAME]`` (see docs/segments.md)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=63)
    description: str = ""


api = APIRouter(prefix="/api", dependencies=[Security(read_key)], responses=ERRORS)
admin = APIRouter(
    prefix="/api",
    dependencies=[Security(admin_key)],
    responses={
        401: _error("No API key, or an unknown or revoked one."),
        403: _error("Not an admin key: saving a segment needs an admin key."),
        422: _error("The definition is not valid (code invalid_segment)."),
    },
)


@api.get("/segments", tags=["segments"], summary="Every segment with its member count")
def list_segments(request: Request) -> SegmentList:
    """The segments of ``clientela.toml`` and the saved ones, with their definitions and
    member counts as of the last run."""
    with _reading(request) as eng:
        return SegmentList(segments=[Segment(**r) for r in segment_reads.listing(eng)])


@api.get("/segments/{name}", tags=["segments"], summary="A segment's definition and its members")
def get_segment(
    request: Request, name: SegmentName, limit: Limit = 100, offset: Offset = 0
) -> SegmentPage:
    """The definition, the member count and one page of members (contact, email, since)."""
    with _reading(request) as eng:
        row = segment_reads.one(eng, name)
        members = segment_reads.members(eng, name)
        total = _count(eng, members)
        page = _rows(eng, members.limit(limit, offset=offset))
        version = eng.pinned
    return SegmentPage(
        segment=Segment(**row),
        version=version,
        total=total,
        limit=limit,
        offset=offset,
        members=[Member(**m) for m in page],
        **_page_links(request, total, limit, offset),
    )


@api.get(
    "/segments/{name}/history",
    tags=["segments"],
    summary="A segment's membership changes (entered, left), latest first",
)
def segment_history(
    request: Request,
    name: SegmentName,
    since: Annotated[
        datetime | None, Query(description="Only changes after this time (UTC if naive).")
    ] = None,
    change: Annotated[Literal["entered", "left"] | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> HistoryPage:
    """Who entered or left, and when: ``?change=entered&since=...`` is "who joined this
    week"."""
    with _reading(request) as eng:
        segment_reads.one(eng, name)
        changes = segment_reads.history(eng, name)
        if since is not None:
            moment = since if since.tzinfo else since.replace(tzinfo=UTC)
            changes = changes.filter(changes.at > moment)
        if change is not None:
            changes = changes.filter(changes.change == change)
        total = _count(eng, changes)
        page = _rows(eng, changes.limit(limit, offset=offset))
    return HistoryPage(
        segment=name,
        total=total,
        limit=limit,
        offset=offset,
        changes=[Change(**c) for c in page],
        **_page_links(request, total, limit, offset),
    )


@admin.post(
    "/segments",
    status_code=201,
    tags=["segments"],
    summary="Save a segment (admin key); evaluated from the next run on",
)
def create_segment(request: Request, body: Annotated[NewSegment, Body()]) -> Segment:
    """Validate and save a segment in the workspace. A name used by ``clientela.toml`` is
    refused; saving an existing saved name replaces it."""
    workspace: Workspace = request.app.state.workspace
    raw = body.model_dump(exclude={"name"})
    try:
        parsed = segments.parse(body.name, raw)
        segments.save(workspace, body.name, parsed)
    except ClientelaError as exc:  # a bad definition, a clash, a loop, an unknown segment
        raise ApiError(422, "invalid_segment", str(exc)) from None
    return Segment(
        segment=body.name,
        description=parsed.description,
        source="saved",
        definition=parsed.definition(),
        members=None,
    )


router = APIRouter()
router.include_router(api)
router.include_router(admin)
