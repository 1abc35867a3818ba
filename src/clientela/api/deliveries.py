"""Delivery in the API: ``GET /api/deliveries`` (a read or admin key: the state of each
destination and a page of items) and ``POST /api/deliver`` (an admin key: it sends data out
of the workspace, as ``clientela deliver`` does).

``POST /api/deliver`` makes one pass: every due item is tried once, and what fails stays
pending with its next attempt time for the next delivery (a request does not sleep through
backoffs). A workspace with no destinations, or no delivery yet, answers empty, not an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Security
from pydantic import BaseModel, Field

from clientela.api.auth import admin_key, read_key
from clientela.api.errors import ApiError
from clientela.api.read import ERRORS, Limit, Offset, Text, _error
from clientela.errors import ClientelaError
from clientela.workspace import Workspace

router = APIRouter(prefix="/api", tags=["deliveries"], responses=ERRORS)


class DestinationStatus(BaseModel):
    """How many items a destination has in each state."""

    name: str
    kind: str | None = Field(description="file or webhook; null when no longer configured.")
    configured: bool
    pending: int = 0
    delivered: int = 0
    dead: int = 0


class DeliveryItem(BaseModel):
    """One item of the delivery store."""

    destination: str
    item_id: str = Field(description="The idempotency key (action_id, or sc_<hash>).")
    kind: Literal["action", "segment_change"]
    version: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    enqueued_at: datetime
    delivered_at: datetime | None
    data: dict[str, Any]


class DeliveryPage(BaseModel):
    destinations: list[DestinationStatus]
    items: list[DeliveryItem]
    total: int
    limit: int
    offset: int


class DeliverRequest(BaseModel):
    destination: str | None = Field(default=None, description="Only this destination.")
    replay_dead: bool = Field(default=False, description="Send dead letters again.")
    dry_run: bool = Field(default=False, description="Count what would be enqueued only.")


class DestinationDelivery(BaseModel):
    name: str
    kind: str
    enqueued: int
    delivered: int
    retried: int
    dead: int
    replayed: int
    pending: int
    files: list[str]
    errors: list[str]


class DeliveryResult(BaseModel):
    """What one delivery did, per destination."""

    version: str | None
    dry_run: bool
    destinations: list[DestinationDelivery]
    notes: list[str]


@router.get(
    "/deliveries",
    summary="The delivery state of each destination, and a page of items",
    dependencies=[Security(read_key)],
)
def list_deliveries(
    request: Request,
    destination: Annotated[Text | None, Query(description="Only this destination.")] = None,
    status: Annotated[
        Literal["pending", "delivered", "dead"] | None, Query(description="Only this state.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeliveryPage:
    """Per destination, how many items are pending, delivered and dead; then the items,
    oldest first (``clientela deliveries list``)."""
    from clientela.activation.store import DB_FILE, DeliveryStore

    ws: Workspace = request.app.state.workspace
    counts: dict[str, dict[str, int]] = {}
    items: list[Any] = []
    total = 0
    if (ws.state_dir / DB_FILE).exists():  # reading never creates the store
        with DeliveryStore.open(ws) as store:
            counts = store.counts()
            items, total = store.items(destination, status, limit=limit, offset=offset)
    configured = ws.settings.destinations
    names = sorted(set(configured) | set(counts))
    return DeliveryPage(
        destinations=[
            DestinationStatus(
                name=n,
                kind=configured[n].kind if n in configured else None,
                configured=n in configured,
                **counts.get(n, {}),
            )
            for n in names
        ],
        items=[
            DeliveryItem(
                destination=i.destination,
                item_id=i.item_id,
                kind=i.kind,
                version=i.version,
                status=i.status,
                attempts=i.attempts,
                next_attempt_at=i.next_attempt_at,
                last_error=i.last_error,
                enqueued_at=i.enqueued_at,
                delivered_at=i.delivered_at,
                data=i.payload,
            )
            for i in items
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/deliver",
    summary="Deliver the published version to the destinations (admin key)",
    dependencies=[Security(admin_key)],
    responses={
        400: _error("No such destination (code unknown_destination)."),
        403: _error("Not an admin key: delivering sends data out of the workspace."),
        409: _error(
            "Another delivery is running, or a destination cannot be used (a webhook's "
            "secret variable is not set): code cannot_deliver."
        ),
    },
)
def deliver(
    request: Request, body: Annotated[DeliverRequest | None, Body()] = None
) -> DeliveryResult:
    """``clientela deliver`` in one pass: enqueue the planned actions and segment changes of
    the current published version, then try every due item once. Suppressed actions are
    never sent. Needs an admin key: it sends personal data out of the workspace."""
    from dataclasses import asdict

    from clientela.activation.destinations import deliver_published

    asked = body or DeliverRequest()
    ws: Workspace = request.app.state.workspace
    configured = ws.settings.destinations
    if not configured:
        note = "no destinations are configured: add [destinations.NAME] to clientela.toml"
        return DeliveryResult(version=None, dry_run=asked.dry_run, destinations=[], notes=[note])
    if asked.destination is not None and asked.destination not in configured:
        raise ApiError(
            400,
            "unknown_destination",
            f"no destination '{asked.destination}'; configured: {', '.join(sorted(configured))}",
        )
    from clientela.engine.core import CURRENT

    if not (ws.results_dir / CURRENT).exists():
        raise ApiError(404, "not_published", "nothing is published yet; run the main job first")
    try:
        report = deliver_published(
            ws,
            destination=asked.destination,
            replay_dead=asked.replay_dead,
            dry_run=asked.dry_run,
            max_wait=0.0,
        )
    except ClientelaError as exc:
        raise ApiError(409, "cannot_deliver", str(exc)) from None
    return DeliveryResult.model_validate(asdict(report))
