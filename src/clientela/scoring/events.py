"""The event columns that scoring, audience classes and stages read, prepared once per run.

Every contact's events, with the time as whole epoch seconds (``secs``: the same on every
engine), the UTC day number (``day``), and the JSON fields the rules test pulled out as text:
page path, channel, user agent, email id, and every property a signal's ``where`` names.
"""

from __future__ import annotations

import re

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import Settings
from clientela.engine import Engine

SECONDS_PER_DAY = 86_400

# Fields every run extracts: (column, JSON column, path).
BASE_FIELDS: dict[str, tuple[str, str]] = {
    "path": ("properties", "path"),
    "email_id": ("properties", "email_id"),
    "form_id": ("properties", "form_id"),
    "page_path": ("context", "page.path"),
    "channel": ("context", "channel"),
    "user_agent": ("context", "userAgent"),
}


def property_column(key: str) -> str:
    """The column holding property ``key`` (``order.total`` → ``p_order__total``)."""
    return "p_" + re.sub(r"[^A-Za-z0-9_]", "__", key)


def prepare(engine: Engine, settings: Settings, contact_events: ir.Table) -> ir.Table:
    """Events of known contacts with ``secs``, ``day`` and the extracted fields; cached."""
    events = contact_events.filter(_.contact_id.notnull()).select(
        "contact_id",
        "message_id",
        "type",
        "event",
        "name",
        "timestamp",
        "user_id",
        "email",
        "properties",
        "context",
        secs=_.timestamp.truncate("s").epoch_seconds().cast("int64"),
    )
    events = events.mutate(day=(_.secs // SECONDS_PER_DAY).cast("int64"))
    by_column: dict[str, dict[str, str]] = {"properties": {}, "context": {}}
    for name, (column, path) in BASE_FIELDS.items():
        by_column[column][name] = path
    for model in settings.models.values():
        for signal in model.signals:
            for key in signal.where:
                by_column["properties"][property_column(key)] = key
    with_props = engine.json_fields(events, "properties", by_column["properties"])
    with_all = engine.json_fields(with_props, "context", by_column["context"])
    # A page's path sits in properties (Segment's page spec) or in context.page.
    prepared = with_all.mutate(path=ibis.coalesce(_.path, _.page_path)).drop(
        "properties", "context", "page_path"
    )
    return engine.cache(prepared)
