"""Record shapes: the columns of landed data and of computed tables.

Landed tables are Parquet files both engines read. JSON payloads (properties, traits, context)
are stored as JSON text so every engine can read them as strings.
"""

from __future__ import annotations

# Segment call types accepted on landing.
CALL_TYPES: tuple[str, ...] = ("identify", "track", "page", "screen", "group", "alias")

EVENTS: dict[str, str] = {
    "message_id": "string",
    "message_hash": "int64",
    "type": "string",
    "event": "string",
    "name": "string",
    "user_id": "string",
    "anonymous_id": "string",
    "previous_id": "string",
    "group_id": "string",
    "email": "string",
    "timestamp": "timestamp('UTC')",
    "original_timestamp": "timestamp('UTC')",
    "sent_at": "timestamp('UTC')",
    "received_at": "timestamp('UTC')",
    "properties": "string",
    "traits": "string",
    "context": "string",
    "source": "string",
    "line": "int64",
    "item": "int32",
    "raw": "string",
    "ingest_id": "string",
}

CONTACTS: dict[str, str] = {
    "user_id": "string",
    "email": "string",
    "account_id": "string",
    "created_at": "timestamp('UTC')",
    "traits": "string",
    "source": "string",
    "line": "int64",
    "imported_at": "timestamp('UTC')",
}

ACCOUNTS: dict[str, str] = {
    "account_id": "string",
    "name": "string",
    "domain": "string",
    "traits": "string",
    "source": "string",
    "line": "int64",
    "imported_at": "timestamp('UTC')",
}

QUARANTINE: dict[str, str] = {
    "quarantine_id": "string",
    "kind": "string",
    "source": "string",
    "line": "int64",
    "item": "int32",
    "reason": "string",
    "field": "string",
    "detail": "string",
    "raw": "binary",
    "quarantined_at": "timestamp('UTC')",
    "ingest_id": "string",
}

LANDED_SCHEMAS: dict[str, dict[str, str]] = {
    "events": EVENTS,
    "contacts": CONTACTS,
    "accounts": ACCOUNTS,
}

# Quarantine reasons: the code stored with each rejected record, and what it means for an
# event (kind "events"); QUARANTINE_REASONS_BY_KIND says it for CRM rows, and
# quarantine_meaning() picks the right text.
QUARANTINE_REASONS: dict[str, str] = {
    "invalid_utf8": "the line is not valid UTF-8 text",
    "invalid_json": "the line is not valid JSON",
    "not_an_object": "a record must be a JSON object",
    "too_large": "the record is over the size limit",
    "batch_too_large": "the batch is over the size or count limit",
    "missing_type": "the record has no 'type'",
    "unknown_type": "'type' must be one of " + ", ".join(CALL_TYPES),
    "wrong_type": "a field has the wrong JSON type",
    "missing_id": "the record has no usable userId or anonymousId",
    "missing_event": "a track call needs 'event'",
    "missing_group_id": "a group call needs 'groupId'",
    "missing_previous_id": "an alias call needs 'previousId'",
    "bad_timestamp": "a time is not ISO-8601 or is outside [ingest] earliest..latest",
    "bad_id": "an id or the email holds a control character (NUL, a line break...)",
    "conflicting_duplicate": "a messageId already used by a record with other content",
    "empty_batch": "a batch with no events",
    "unprocessable": "the engine could not normalise this record (its message says why)",
}

# CRM rows (clientela import contacts|accounts): a row of a file, not an event.
_CRM_ROW_REASONS: dict[str, str] = {
    "wrong_field_count": "the row has more or fewer fields than the header (often a delimiter "
    "inside a field that is not in double quotes); fix the file and import it again",
    "malformed_row": "the row is not valid CSV (e.g. a quote never closed); fix the file and "
    "import it again",
    "bad_date": "a date column holds a value that is not a date in the formats read "
    "(set date_format and retry)",
    "duplicate_id": "another row of the same file has this id and was kept instead "
    "(the newest by the modified-at column, else the last row)",
}
QUARANTINE_REASONS_BY_KIND: dict[str, dict[str, str]] = {
    "contacts": {
        **_CRM_ROW_REASONS,
        "missing_id": "the row has neither a contact id nor a valid email (map the id or "
        "email column and retry)",
    },
    "accounts": {
        **_CRM_ROW_REASONS,
        "missing_id": "the row has no account id (map the id column and retry)",
    },
}


def quarantine_meaning(kind: str, reason: str) -> str:
    """What a quarantine reason means for a record of this kind ('' when unknown)."""
    by_kind = QUARANTINE_REASONS_BY_KIND.get(kind, {})
    return by_kind.get(reason) or QUARANTINE_REASONS.get(reason, "")
