"""The shapes of the published activation tables (the contract between its parts, the
report, the API and the CLI). Times are UTC timestamps."""

from __future__ import annotations

import pyarrow as pa

_UTC = pa.timestamp("us", tz="UTC")

SEGMENTS_SCHEMA = pa.schema(
    [
        ("segment", pa.string()),
        ("description", pa.string()),
        ("source", pa.string()),
        ("definition", pa.string()),
        ("members", pa.int64()),
    ]
)
"""One row per segment: ``source`` is ``config`` (``[segments.NAME]`` in ``clientela.toml``)
or ``saved`` (created from the CLI or the API); ``definition`` is its conditions as JSON."""

SEGMENT_MEMBERS_SCHEMA = pa.schema(
    [("segment", pa.string()), ("contact_id", pa.string()), ("since", _UTC)]
)
"""Who is in each segment as of the run, and since when (the time of the ``entered`` change
that opened the current membership)."""

SEGMENT_HISTORY_SCHEMA = pa.schema(
    [
        ("segment", pa.string()),
        ("contact_id", pa.string()),
        ("change", pa.string()),
        ("at", _UTC),
    ]
)
"""Every membership change: ``change`` is ``entered`` or ``left``, ``at`` the as-of time of the
run that saw it. Carried from run to run: a run keeps the previous version's rows up to its
own as-of time and appends the changes it sees."""

LOYALTY_LEDGER_SCHEMA = pa.schema(
    [
        ("contact_id", pa.string()),
        ("at", _UTC),
        ("kind", pa.string()),
        ("rule", pa.string()),
        ("points", pa.float64()),
        ("message_id", pa.string()),
        ("expires_at", _UTC),
        ("reason", pa.string()),
    ]
)
"""Every point: ``kind`` is ``earned``, ``redeemed`` or ``expired`` (the last two negative);
``rule`` the earn rule (or ``redemption``/``expiry``); ``message_id`` the event behind it;
``expires_at`` when earned points lapse; ``reason`` in words."""

LOYALTY_SCHEMA = pa.schema(
    [
        ("contact_id", pa.string()),
        ("balance", pa.float64()),
        ("earned", pa.float64()),
        ("redeemed", pa.float64()),
        ("expired", pa.float64()),
        ("rolling_points", pa.float64()),
        ("tier", pa.string()),
        ("tier_since", _UTC),
        ("next_expiry_at", _UTC),
        ("next_expiry_points", pa.float64()),
    ]
)
"""One row per programme member as of the run: balance = earned + redeemed + expired (the
last two negative); ``rolling_points`` what sets the tier."""

REFERRALS_SCHEMA = pa.schema(
    [
        ("referrer_id", pa.string()),
        ("invited_id", pa.string()),
        ("invited", pa.string()),
        ("referred_at", _UTC),
        ("joined_at", _UTC),
        ("converted_at", _UTC),
        ("reward_points", pa.float64()),
    ]
)
"""Referrer → invited → converted: ``invited`` is how the invitation named the person (an
email or a code), ``invited_id`` their contact once known; ``reward_points`` what the
referrer earned for the conversion (null until it happens)."""

CONSENT_SCHEMA = pa.schema(
    [
        ("contact_id", pa.string()),
        ("channel", pa.string()),
        ("granted", pa.bool_()),
        ("at", _UTC),
        ("source", pa.string()),
    ]
)
"""The consent in force per contact and channel (latest wins), with where it came from
(e.g. ``event Unsubscribed``, ``trait email_opt_in``, ``do-not-contact list``)."""

ACTIONS_SCHEMA = pa.schema(
    [
        ("action_id", pa.string()),
        ("contact_id", pa.string()),
        ("action", pa.string()),
        ("channel", pa.string()),
        ("purpose", pa.string()),
        ("priority", pa.int64()),
        ("reason", pa.string()),
        ("products", pa.string()),
        ("status", pa.string()),
        ("suppressed_reason", pa.string()),
        ("as_of", _UTC),
    ]
)
"""At most one action per contact per run. ``action_id`` is stable for (contact, action, day):
re-running the same day proposes the same id, which destinations use as idempotency key.
``purpose`` is ``transactional``, ``service``, ``sales``, ``marketing`` or ``courtesy``;
``priority`` 1 is the most urgent; ``products`` the recommended products as JSON (or null);
``status`` is ``planned`` or ``suppressed``, and then ``suppressed_reason`` says why."""

PROPOSED_SCHEMA = pa.schema(
    [f for f in ACTIONS_SCHEMA if f.name not in ("status", "suppressed_reason")]
)
"""What the playbook proposes, before the policy decides (the policy adds status and reason)."""

SENT_SCHEMA = pa.schema(
    [
        ("contact_id", pa.string()),
        ("channel", pa.string()),
        ("purpose", pa.string()),
        ("action", pa.string()),
        ("sent_at", _UTC),
    ]
)
"""Messages that really went out, as the delivery store records them (frequency caps count
these together with ``Email Sent``-style events)."""
