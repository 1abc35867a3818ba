"""The delivery loop: enqueue what the current published version holds for each destination,
then deliver what is due, at least once.

An item is marked delivered only after its receiver took it (a 2xx answer, or its file renamed
into place), in its own transaction. A crash anywhere leaves the items not yet marked pending,
and the next delivery sends them again with the same idempotency key: duplicates are possible,
losses are not. A failed attempt waits an exponential backoff with full jitter before the next
one; after ``max_attempts`` (or a refusal such as 400 or 401) the item is dead until replayed.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clientela.activation.destinations import files, webhook
from clientela.activation.destinations.items import Published, items_for
from clientela.activation.destinations.signing import Backoff
from clientela.activation.settings import DestinationSettings
from clientela.activation.store import DB_FILE, DeliveryStore, StoredItem, delivery_lock
from clientela.errors import ClientelaError, ConfigError
from clientela.workspace import Workspace

FILE_BATCH = 10_000  # rows per file at most
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass
class DestinationReport:
    """What one delivery did for one destination."""

    name: str
    kind: str
    enqueued: int = 0
    delivered: int = 0
    retried: int = 0
    """Failed attempts that will be tried again."""
    dead: int = 0
    """Items given up in this delivery (now in the dead letters)."""
    replayed: int = 0
    pending: int = 0
    """Items still waiting after this delivery (their next attempt is later)."""
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """The last error of each item that died or is waiting (at most 10)."""


@dataclass
class DeliveryReport:
    """What one ``clientela deliver`` did."""

    version: str
    dry_run: bool
    destinations: list[DestinationReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def chosen(workspace: Workspace, name: str | None) -> dict[str, DestinationSettings]:
    """The destinations to deliver to: all configured ones, or the one named."""
    configured = workspace.settings.destinations
    if not configured:
        raise ClientelaError(
            "no destinations are configured: add a [destinations.NAME] section to "
            "clientela.toml (see docs/destinations.md)"
        )
    for key in configured:
        if not NAME.fullmatch(key):
            raise ConfigError(
                f"destinations.{key}", key, "a name of letters, digits, '_', '-' and '.'"
            )
    if name is None:
        return dict(configured)
    if name not in configured:
        raise ConfigError("--destination", name, "one of: " + ", ".join(sorted(configured)))
    return {name: configured[name]}


def secret_of(name: str, settings: DestinationSettings) -> str:
    """A webhook's signing secret, from the environment variable its settings name."""
    assert settings.secret_env is not None  # the settings refuse a webhook without it
    secret = os.environ.get(settings.secret_env, "")
    if not secret:
        raise ClientelaError(
            f"destination '{name}': the environment variable {settings.secret_env} that "
            "holds its signing secret is not set (or empty); set it and deliver again"
        )
    return secret


def folder_of(workspace: Workspace, name: str, settings: DestinationSettings) -> Path:
    """A file destination's folder (relative ones are in the workspace)."""
    folder = Path(settings.folder) if settings.folder else Path("deliveries") / name
    return folder if folder.is_absolute() else workspace.root / folder


def deliver(
    workspace: Workspace,
    published: Published,
    *,
    destination: str | None = None,
    replay_dead: bool = False,
    dry_run: bool = False,
    max_wait: float = 60.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Enqueue ``published`` for the destinations and deliver what is due.

    Retries inside this call wait their backoff (``sleep``) as long as the next attempt falls
    within ``max_wait`` seconds of the start; what is still pending after that stays in the
    store for the next delivery. ``dry_run`` counts what would be enqueued and sends nothing.
    ``clock``, ``sleep`` and ``rng`` are there for tests.
    """
    targets = chosen(workspace, destination)
    secrets = {}
    for name, settings in targets.items():
        if settings.kind == "webhook" and not dry_run:
            secrets[name] = secret_of(name, settings)
    report = DeliveryReport(version=published.version, dry_run=dry_run, notes=published.notes)
    if dry_run:
        return _dry_run(workspace, published, targets, report)
    rng = rng or random.Random()
    with delivery_lock(workspace), DeliveryStore.open(workspace) as store:
        started = clock()
        for name, settings in targets.items():
            done = DestinationReport(name=name, kind=settings.kind)
            report.destinations.append(done)
            if replay_dead:
                done.replayed = store.replay_dead(name, clock())
            if not store.version_enqueued(name, published.version):
                items = items_for(name, settings, published)
                done.enqueued = store.enqueue(items, clock())
                store.mark_version(name, published.version, len(items), clock())
        for done in report.destinations:
            settings = targets[done.name]
            if settings.kind == "file":
                _deliver_files(workspace, store, done, settings, clock)
            else:
                backoff = Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds, rng)
                _deliver_webhook(
                    store, done, settings, secrets[done.name], backoff,
                    deadline=started + max_wait, clock=clock, sleep=sleep,
                )  # fmt: skip
            done.pending = store.counts().get(done.name, {}).get("pending", 0)
    return report


def _dry_run(
    workspace: Workspace,
    published: Published,
    targets: dict[str, DestinationSettings],
    report: DeliveryReport,
) -> DeliveryReport:
    """Count what a delivery would enqueue; touch nothing (not even create the store)."""
    exists = (workspace.state_dir / DB_FILE).exists()
    store = DeliveryStore.open(workspace) if exists else None
    try:
        for name, settings in targets.items():
            done = DestinationReport(name=name, kind=settings.kind)
            items = items_for(name, settings, published)
            known = store.known(name, [i.item_id for i in items]) if store else set()
            done.enqueued = len({i.item_id for i in items} - known)
            done.pending = done.enqueued + (
                store.counts().get(name, {}).get("pending", 0) if store else 0
            )
            report.destinations.append(done)
    finally:
        if store is not None:
            store.close()
    return report


def _deliver_files(
    workspace: Workspace,
    store: DeliveryStore,
    done: DestinationReport,
    settings: DestinationSettings,
    clock: Callable[[], float],
) -> None:
    folder = folder_of(workspace, done.name, settings)
    files.clean_partials(folder)
    while due := store.due(done.name, clock(), limit=FILE_BATCH):
        for kind in ("action", "segment_change"):
            batch = [i for i in due if i.kind == kind]
            if not batch:
                continue
            try:
                path = files.write_batch(folder, settings.format, kind, batch)
            except OSError as exc:
                raise ClientelaError(
                    f"destination '{done.name}': could not write to {folder}: {exc}"
                ) from exc
            # Marked after the rename: a crash in between writes these rows again next time.
            store.mark_delivered(done.name, [i.item_id for i in batch], clock())
            done.delivered += len(batch)
            done.files.append(str(path))


def _deliver_webhook(
    store: DeliveryStore,
    done: DestinationReport,
    settings: DestinationSettings,
    secret: str,
    backoff: Backoff,
    *,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    assert settings.url is not None  # the settings refuse a webhook without it
    while True:
        # One pass: every item due at its start, once (paged by a cursor, so an item that
        # fails and is due again at once is not retried before the others were tried).
        started = clock()
        cursor = 0
        while page := store.due(done.name, started, after=cursor):
            cursor = page[-1].seq
            _attempt_each(store, done, settings, secret, backoff, page, clock)
        upcoming = store.next_attempt(done.name)
        if upcoming is None or upcoming > deadline:
            return
        sleep(max(0.0, upcoming - clock()))


def _attempt_each(
    store: DeliveryStore,
    done: DestinationReport,
    settings: DestinationSettings,
    secret: str,
    backoff: Backoff,
    items: list[StoredItem],
    clock: Callable[[], float],
) -> None:
    """POST each item once; record a 2xx as delivered, anything else as a failed attempt."""
    assert settings.url is not None  # the settings refuse a webhook without it
    for item in items:
        outcome = webhook.post(settings.url, secret, item, settings.timeout_seconds, clock())
        if outcome.ok:
            store.mark_delivered(done.name, [item.item_id], clock())
            done.delivered += 1
            continue
        failures = item.attempts + 1
        dead = not outcome.retry or failures >= settings.max_attempts
        error = f"attempt {failures}: {outcome.error}"
        if not outcome.retry:
            error += " (refused by the receiver: not retried)"
        store.mark_failed(done.name, item.item_id, error, clock() + backoff.delay(failures), dead)
        if dead:
            done.dead += 1
        else:
            done.retried += 1
        if len(done.errors) < 10:
            done.errors.append(f"{item.item_id}: {error}")
