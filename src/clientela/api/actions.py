"""The actions and the contact policy in the API.

Read keys: ``GET /api/actions`` (filters: status, action; paged), ``GET /api/actions/summary``
(planned by action, suppressed by reason: what ``clientela actions list`` prints first) and
``GET /api/contacts/{contact}/actions`` (the contact's actions and consent in force). A
published version written before activation existed reads as if it had no actions.

Admin keys: the workspace's do-not-contact list — ``GET``, ``POST`` and ``DELETE
/api/policy/do-not-contact`` — since it changes who is contacted and lists personal data.

The read router is included before :mod:`clientela.api.read`'s: its contact sub-route must
come before ``/api/contacts/{contact:path}``, whose path converter would match it too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request, Security
from pydantic import BaseModel, Field, StringConstraints

from clientela.activation import actions as published
from clientela.activation import policy
from clientela.api.auth import admin_key, read_key
from clientela.api.read import (
    ERRORS,
    ContactPath,
    Limit,
    Offset,
    Text,
    _count,
    _error,
    _find_contact,
    _first,
    _page_links,
    _reading,
    _rows,
)
from clientela.api.readers import ReadEngine
from clientela.api.views import Page
from clientela.workspace import Workspace

# --- responses ------------------------------------------------------------------------------


class Action(BaseModel):
    """One action of the run (``actions``): planned, or suppressed with the policy's reason."""

    action_id: str = Field(description="Stable for (contact, action, day): an idempotency key.")
    contact_id: str
    action: str
    channel: str
    purpose: str = Field(description="transactional, service, sales, marketing or courtesy.")
    priority: int = Field(description="1 is the most urgent.")
    reason: str | None = Field(default=None, description="Why the playbook proposed it.")
    products: str | None = Field(default=None, description="Recommended products (JSON).")
    status: Literal["planned", "suppressed"]
    suppressed_reason: str | None = Field(
        default=None, description="Why the policy stopped it, e.g. 'capped: 2 marketing ...'."
    )
    as_of: datetime


class ActionPage(Page):
    as_of: datetime | None = None
    items: list[Action]


class ActionSummary(BaseModel):
    """Planned actions by action name; suppressed ones by kind of reason, in the policy's
    order of precedence."""

    version: str
    as_of: datetime | None = None
    planned: dict[str, int]
    suppressed: dict[str, int]


class Consent(BaseModel):
    """The consent in force on one channel (``all``: every channel), latest record wins."""

    channel: str
    granted: bool
    at: datetime
    source: str = Field(description="e.g. 'event Unsubscribed', 'trait email_opt_in'.")


class ContactActions(BaseModel):
    version: str
    as_of: datetime | None = None
    contact_id: str
    actions: list[Action]
    consent: list[Consent]


class DoNotContactEntry(BaseModel):
    entry: str = Field(description="An email (lower-cased), a user id or a contact id.")
    added_at: str
    note: str = ""


class DoNotContactList(BaseModel):
    workspace: list[DoNotContactEntry] = Field(
        description="The list kept in the workspace (this API and clientela policy dnc)."
    )
    settings: list[str] = Field(description="[policy] do_not_contact in clientela.toml.")


class NewDoNotContact(BaseModel):
    entry: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    note: Annotated[str, StringConstraints(max_length=1000)] = ""


class DoNotContactChange(BaseModel):
    entry: str
    changed: bool = Field(description="False when the list already said so.")


# --- read routes ----------------------------------------------------------------------------

api = APIRouter(prefix="/api", dependencies=[Security(read_key)], responses=ERRORS)


def _as_of(eng: ReadEngine) -> datetime | None:
    info = _first(eng, eng.published("run_info")) or {}
    as_of: datetime | None = info.get("as_of")
    return as_of


@api.get("/actions", tags=["actions"], summary="The actions of the run, most urgent first")
def list_actions(
    request: Request,
    status: Annotated[
        Literal["planned", "suppressed"] | None, Query(description="planned or suppressed.")
    ] = None,
    action: Annotated[Text | None, Query(description="Only this action.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ActionPage:
    """Every proposed action with its status; a suppressed one says why."""
    with _reading(request) as eng:
        found = published.select(published.table(eng, "actions"), status=status, action=action)
        total = _count(eng, found)
        rows = _rows(eng, published.ordered(found).limit(limit, offset=offset))
        as_of = _as_of(eng)
        version = eng.pinned or ""
    return ActionPage(
        version=version,
        as_of=as_of,
        total=total,
        limit=limit,
        offset=offset,
        items=[Action.model_validate(r) for r in rows],
        **_page_links(request, total, limit, offset),
    )


@api.get(
    "/actions/summary",
    tags=["actions"],
    summary="Planned actions by action, suppressed ones by reason",
)
def actions_summary(request: Request) -> ActionSummary:
    """What ``clientela actions list`` and ``make demo`` print first."""
    with _reading(request) as eng:
        counted = published.summary(eng)
        as_of = _as_of(eng)
        version = eng.pinned or ""
    return ActionSummary(
        version=version, as_of=as_of, planned=counted.planned, suppressed=counted.suppressed
    )


@api.get(
    "/contacts/{contact:path}/actions",
    tags=["contacts", "actions"],
    summary="A contact's actions of the run and the consent in force",
)
def contact_actions(request: Request, contact: ContactPath) -> ContactActions:
    """The contact's actions (planned, or why not) and consent per channel with its source."""
    with _reading(request) as eng:
        cid = _find_contact(eng, contact)
        acts = published.select(published.table(eng, "actions"), contact_id=cid)
        rows = _rows(eng, published.ordered(acts))
        consent = published.table(eng, "consent")
        grants = _rows(eng, consent.filter(consent.contact_id == cid).order_by("channel"))
        as_of = _as_of(eng)
        version = eng.pinned or ""
    return ContactActions(
        version=version,
        as_of=as_of,
        contact_id=cid,
        actions=[Action.model_validate(r) for r in rows],
        consent=[Consent.model_validate(g) for g in grants],
    )


# --- the do-not-contact list (admin) ------------------------------------------------------

admin = APIRouter(
    prefix="/api/policy",
    dependencies=[Security(admin_key)],
    responses={
        401: _error("No API key, or an unknown or revoked one."),
        403: _error("Not an admin key: the do-not-contact list needs an admin key."),
        422: _error("A parameter is not valid."),
    },
)


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _list(ws: Workspace) -> DoNotContactList:
    return DoNotContactList(
        workspace=[DoNotContactEntry(**e.__dict__) for e in policy.do_not_contact(ws)],
        settings=list(ws.settings.policy.do_not_contact),
    )


@admin.get("/do-not-contact", tags=["policy"], summary="The do-not-contact lists")
def get_do_not_contact(request: Request) -> DoNotContactList:
    """The workspace's list (with when and why) and the settings' list."""
    return _list(_workspace(request))


@admin.post("/do-not-contact", tags=["policy"], summary="Put someone on the do-not-contact list")
def add_do_not_contact(
    request: Request, body: Annotated[NewDoNotContact, Body()]
) -> DoNotContactChange:
    """From the next run on, every action to the contact it names is suppressed."""
    changed = policy.add_do_not_contact(_workspace(request), body.entry, body.note)
    return DoNotContactChange(entry=body.entry, changed=changed)


@admin.delete(
    "/do-not-contact/{entry:path}",
    tags=["policy"],
    summary="Take an entry off the workspace's do-not-contact list",
    # A path the router cannot match (an encoded control character) answers 404.
    responses={404: ERRORS[404]},
)
def remove_do_not_contact(request: Request, entry: str) -> DoNotContactChange:
    """Idempotent: an entry that was not on the list answers ``changed: false``. The
    settings' list is changed in clientela.toml, not here."""
    changed = policy.remove_do_not_contact(_workspace(request), entry)
    return DoNotContactChange(entry=entry, changed=changed)


router = APIRouter()
router.include_router(api)
router.include_router(admin)
