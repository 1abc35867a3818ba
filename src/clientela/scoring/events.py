"""The event columns the job reads, pulled out of the landed events once per run.

:func:`narrow` keeps what identity, profiles, audience classes, scoring and stages need: the
ids, the call type and name, the time (plus ``secs``, whole epoch seconds, the same on every
engine, and ``day``, the UTC day number), ``traits`` of identify and group calls,
``properties`` of purchases (for the products bought), and the JSON fields the rules and
metrics read, as text: page path, form id, email id, channel, user agent, every property a
signal's ``where`` names, the ``[metrics.fields]`` (ticket and post ids, reply author,
rating, ...) and the subscription fields (id, plan, MRR, amount, interval). Everything
else (the raw line, other payloads) stays on disk, which keeps the run's working set small.
"""

from __future__ import annotations

import re

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.activation.settings import property_keys as activation_property_keys
from clientela.config import Settings
from clientela.engine import Engine

SECONDS_PER_DAY = 86_400

# Fields every run extracts: column → (JSON column, path).
BASE_FIELDS: dict[str, tuple[str, str]] = {
    "path": ("properties", "path"),
    "email_id": ("properties", "email_id"),
    "form_id": ("properties", "form_id"),
    "page_path": ("context", "page.path"),
    "channel": ("context", "channel"),
    "user_agent": ("context", "userAgent"),
}


# Metric fields (``[metrics.fields]``) ride along as ``m_<name>`` until ``activity`` renames them.
METRIC_FIELD_PREFIX = "m_"


def subscription_fields(settings: Settings) -> dict[str, str]:
    """Column → property of the subscription fields (``[stages.subscriptions.fields]``):
    ``s_subscription_id``, ``s_plan``, ``s_mrr``, ``s_interval`` and ``s_amount_0``, ... (the
    amount properties in order of preference)."""
    fields = settings.stages.subscriptions.fields
    out = {
        "s_subscription_id": fields.subscription_id,
        "s_plan": fields.plan,
        "s_mrr": fields.mrr,
        "s_interval": fields.interval,
    }
    out.update({f"s_amount_{i}": key for i, key in enumerate(fields.amount)})
    return out


def property_column(key: str) -> str:
    """The column holding property ``key`` (``order.total`` → ``p_order__total``)."""
    return "p_" + re.sub(r"[^A-Za-z0-9_]", "__", key)


def narrow(engine: Engine, settings: Settings, events: ir.Table) -> ir.Table:
    """Landed events with only the columns the job reads and the JSON fields pulled out."""
    by_column: dict[str, dict[str, str]] = {"properties": {}, "context": {}}
    for name, (column, path) in BASE_FIELDS.items():
        by_column[column][name] = path
    for model in settings.models.values():
        for signal in model.signals:
            for key in signal.where:
                by_column["properties"][property_column(key)] = key
    for key in activation_property_keys(
        settings.segments, settings.playbook, settings.policy, settings.loyalty
    ):
        by_column["properties"][property_column(key)] = key
    for name, key in settings.metrics.fields.model_dump().items():
        by_column["properties"][METRIC_FIELD_PREFIX + name] = key
    by_column["properties"].update(subscription_fields(settings))
    with_fields = engine.json_fields(events, by_column)
    purchase = settings.stages.events.purchase
    is_purchase = (with_fields.type == "track") & with_fields.event.isin(purchase)
    secs = with_fields.timestamp.truncate("s").epoch_seconds().cast("int64")
    return with_fields.select(
        "message_id",
        "type",
        "event",
        "name",
        "user_id",
        "anonymous_id",
        "previous_id",
        "group_id",
        "email",
        "timestamp",
        *[c for c in by_column["properties"] if c != "path"],
        *[c for c in by_column["context"] if c != "page_path"],
        # A page's path sits in properties (Segment's page spec) or in context.page.
        path=ibis.coalesce(with_fields.path, with_fields.page_path),
        traits=ibis.ifelse(
            with_fields.type.isin(["identify", "group"]), with_fields.traits, ibis.null("string")
        ),
        properties=ibis.ifelse(is_purchase, with_fields.properties, ibis.null("string")),
        secs=secs,
        day=(secs // SECONDS_PER_DAY).cast("int64"),
    )


def of_contacts(contact_events: ir.Table) -> ir.Table:
    """The events that belong to a contact (the ones scoring, audience and stages read)."""
    return contact_events.filter(_.contact_id.notnull())


def activity(settings: Settings, contact_events: ir.Table) -> ir.Table:
    """The published ``activity`` table: every event of a contact, narrow, for the metrics.

    ``passive`` marks events that happen *to* a contact (``stages.events.passive``: email
    opens, renewals, agent replies); ``rating`` is the rating property as a number.
    """
    fields = settings.metrics.fields.model_dump()
    passive = (contact_events.type == "track") & contact_events.event.isin(
        settings.stages.events.passive
    )
    named = {
        name: contact_events[METRIC_FIELD_PREFIX + name] for name in fields if name != "rating"
    }
    return of_contacts(contact_events).select(
        "contact_id",
        "message_id",
        "type",
        "event",
        "timestamp",
        "secs",
        "day",
        "path",
        "channel",
        passive=passive.fill_null(False),
        rating=contact_events[METRIC_FIELD_PREFIX + "rating"].try_cast("float64"),
        **named,
    )
