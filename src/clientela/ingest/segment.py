"""Segment-spec records -> normalised event rows, or quarantine rows with their reason.

One code path for every source (files today, the HTTP API later): the input is a relation of
``(source, line, item, raw, bad_bytes)``, one text line each (``raw`` is NULL and
``bad_bytes`` holds the bytes when the line is not UTF-8), and the output is one table with
accepted and rejected messages apart by ``reason``. The work runs as vectorised SQL in an
embedded DuckDB, which parses JSON far faster
than Python can.

Normalisation follows Segment:

* ``userId`` or ``anonymousId`` is required (JSON ``null`` allowed for the other); numbers are
  accepted as ids and stored as text; placeholder ids (``null``, ``undefined``, ``0``, ...) count
  as missing.
* ``event`` is required for ``track``; ``groupId`` for ``group``; ``previousId`` and ``userId``
  for ``alias``.
* Batch envelopes ``{"batch": [...], "context": ..., "sentAt": ...}``: the batch-level
  ``context`` is merged under each item's own context (the item's keys win), and the batch
  ``sentAt`` applies to items without their own.
* ``context.traits`` is merged under ``identify`` traits (explicit traits win); for other calls
  but ``group`` the user traits are ``context.traits``. ``group`` traits are the company's.
* ``receivedAt`` is the record's own (exports carry it) or the landing time. When ``sentAt`` is
  known, ``timestamp = receivedAt - (sentAt - originalTimestamp)`` corrects device clock skew,
  where ``originalTimestamp`` is the record's ``originalTimestamp`` or else its ``timestamp``;
  otherwise ``timestamp`` is the record's ``timestamp``, its ``originalTimestamp``, or
  ``receivedAt``. Times without an offset are UTC; everything is stored in UTC.
* Every time must be an ISO-8601 string (offsets up to ±18:00) inside the window of
  :class:`TimeWindow` (1970 to 2100 unless ``[ingest] earliest``/``latest`` say otherwise), and
  so must the skew-corrected ``timestamp``; anything else (``infinity``, year 10000, ``+99:99``)
  is ``bad_timestamp``, so no impossible time ever reaches a table.
* Ids (and the identify email) must be printable: a control character (NUL, a line break) is
  ``bad_id``, since such an id could never be looked up.
* ``messageId`` identifies a record for dedupe; a record without one gets ``md5:`` + the MD5 of
  its JSON text, so landing the same file twice adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from clientela.schema import CALL_TYPES

# Fields pulled out of every message in its one JSON parse (as JSON text; absent or null -> NULL).
_FIELDS: tuple[str, ...] = (
    "type",
    "event",
    "messageId",
    "userId",
    "anonymousId",
    "previousId",
    "groupId",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
    "properties",
    "traits",
    "context",
    "name",
    "batch",
)
_STRUCT = "{" + ", ".join(f'"{f}": "JSON"' for f in _FIELDS) + "}"
ENVELOPE = "__envelope__"
BLANK = "blank"  # an empty or all-space line: skipped and counted, not an error


@dataclass(frozen=True)
class TimeWindow:
    """The times landing accepts: ``earliest <= t < latest`` (both UTC)."""

    earliest: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    latest: datetime = datetime(2100, 1, 1, tzinfo=UTC)

    def sql_bounds(self) -> tuple[str, str]:
        return (
            f"'{self.earliest.isoformat()}'::TIMESTAMPTZ",
            f"'{self.latest.isoformat()}'::TIMESTAMPTZ",
        )

    def describe(self) -> str:
        return f"between {self.earliest.date()} and {self.latest.date()}"


# ISO-8601 as Segment writes it (and the common variants): date, optional time with optional
# fraction, optional Z or an offset of at most 18 hours. DuckDB's own cast is laxer (it takes
# 'epoch', zone names and offsets like +99:99), so it only parses what this admits.
ISO_TIME = (
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"([Tt ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?"
    r" ?([Zz]|[+-](0[0-9]|1[0-8])(:?[0-5][0-9])?)?"
)
# C0 and C1 control characters (NUL, line breaks, escape...): never part of a usable id.
_CONTROL = r"[\x00-\x1f\x7f-\x9f]"
_ID_FIELDS = (
    ("userId", "user_id"),
    ("anonymousId", "anonymous_id"),
    ("previousId", "previous_id"),
    ("groupId", "group_id"),
)
_TIME_FIELDS = (
    ("timestamp", "ts_given"),
    ("originalTimestamp", "ts_original"),
    ("sentAt", "ts_sent"),
    ("receivedAt", "ts_received"),
)


@dataclass(frozen=True)
class Limits:
    """Segment's size limits, in bytes and events."""

    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    max_batch_events: int = 2500


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(_sql_str(v) for v in values) + "]"


def _v(name: str) -> str:
    """A field's JSON text, as extracted (SQL NULL when absent or null)."""
    return f'j."{name}"'


def _kind(expr: str) -> str:
    """The JSON kind of an extracted value, read from its first character (extracted values
    are compact JSON, so no second parse is needed): string, object, array, boolean, number."""
    return (
        f"CASE ord({expr}::VARCHAR) WHEN 34 THEN 'string' WHEN 123 THEN 'object' "
        f"WHEN 91 THEN 'array' WHEN 116 THEN 'boolean' WHEN 102 THEN 'boolean' "
        f"ELSE 'number' END"
    )


def _kind_name(json_type_sql: str) -> str:
    """SQL turning a DuckDB json_type() result into the JSON words a user knows."""
    return (
        f"CASE {json_type_sql} WHEN 'VARCHAR' THEN 'a string' WHEN 'OBJECT' THEN 'an object' "
        f"WHEN 'ARRAY' THEN 'an array' WHEN 'BOOLEAN' THEN 'a boolean' WHEN 'NULL' THEN 'null' "
        f"ELSE 'a number' END"
    )


def _jt(name: str) -> str:
    return _kind(_v(name))


def _is_int(expr: str) -> str:
    return f"regexp_full_match({expr}::VARCHAR, '-?[0-9]{{1,38}}')"


def _id_text(name: str) -> str:
    """An id field as trimmed text (strings and whole numbers), else NULL."""
    return (
        f"CASE WHEN {_jt(name)} = 'string' THEN trim(json_extract_string({_v(name)}, '$')) "
        f"WHEN {_is_int(_v(name))} THEN {_v(name)}::VARCHAR END"
    )


def _str(name: str) -> str:
    """A string field's text, else NULL."""
    return f"CASE WHEN {_jt(name)} = 'string' THEN json_extract_string({_v(name)}, '$') END"


def junk_id_sql(expr: str, junk_ids: list[str]) -> str:
    """SQL condition: ``expr`` is a placeholder, not a real id."""
    return f"(lower(trim({expr})) IN (SELECT unnest({_sql_list(junk_ids)})))"


def envelope_items_sql(norm: str) -> str:
    """The messages inside the batch envelopes that :func:`normalise_sql` set aside, as a
    relation of the same shape as its input plus the batch-level context and sentAt."""
    return f"""
SELECT source, line, generate_subscripts(items, 1)::INTEGER AS item,
       unnest(items)::VARCHAR AS raw, NULL::BLOB AS bad_bytes, batch_context, batch_sent_at
FROM (
    SELECT source, line, json_extract(raw, '$.batch[*]') AS items,
           json_extract(raw, '$.context') AS batch_context,
           json_extract(raw, '$.sentAt') AS batch_sent_at
    FROM {norm} WHERE reason = '{ENVELOPE}'
)
"""


def _parsed_time(expr: str) -> str:
    """An ISO-8601 string's time (possibly infinite or out of the window), else NULL."""
    return (
        f"CASE WHEN regexp_full_match({expr}, '{ISO_TIME}') "
        f"THEN try_cast({expr} AS TIMESTAMPTZ) END"
    )


def normalise_statements(
    lines: str,
    target: str,
    *,
    limits: Limits,
    junk_ids: list[str],
    received_at: str,
    in_batch: bool = False,
    window: TimeWindow | None = None,
) -> list[str]:
    """SQL statements that read ``lines`` and create the temp table ``target`` with one row per
    message: normalised columns with ``reason`` NULL when accepted, or the quarantine
    ``reason``, the ``field`` at fault and a one-sentence ``detail``. Batch envelopes come out
    with reason ``__envelope__``: feed :func:`envelope_items_sql` of them back through here
    with ``in_batch=True``. Blank lines come out with reason ``blank``.

    Costly tests (a trim, a second JSON parse) sit behind a ``CASE`` that admits only the
    rows needing them, never on the right of an ``AND``/``OR``: DuckDB evaluates both sides of
    those for every row, and a ``trim(raw) = ''`` there cost more than the parse itself.

    The parse is materialised on purpose: DuckDB inlines a subquery's expressions into every
    place that uses them, so a single nested query parsed each line's JSON once per
    reference. The stages after it (field extraction, checks) are views read by the one
    statement that writes ``target``: their expressions are cheap next to writing every
    line's text into one more temp table, which is what staging them as tables cost.
    """
    window = window or TimeWindow()
    earliest, latest = window.sql_bounds()
    batch_cols = (
        "batch_context::JSON AS batch_context, batch_sent_at::JSON AS batch_sent_at"
        if in_batch
        else "NULL::JSON AS batch_context, NULL::JSON AS batch_sent_at"
    )
    line_limit = limits.max_event_bytes if in_batch else limits.max_batch_bytes
    id_type_checks = "\n".join(
        f"WHEN {_v(f)} IS NOT NULL AND {_jt(f)} <> 'string' AND NOT {_is_int(_v(f))} THEN '{f}'"
        for f, _ in _ID_FIELDS
    )
    str_type_checks = "\n".join(
        f"WHEN {_v(f)} IS NOT NULL AND {_jt(f)} <> 'string' THEN '{f}'"
        for f in ("type", "event", "messageId", "name")
    )
    obj_type_checks = "\n".join(
        f"WHEN {_v(f)} IS NOT NULL AND {_jt(f)} <> 'object' THEN '{f}'"
        for f in ("properties", "traits", "context")
    )
    # Each time is parsed once (extract stage) and judged from the parsed value (check stage):
    # a field that is present but not a string, not ISO-8601, infinite or out of the window is
    # bad; only good times are kept, so the skew arithmetic can never overflow.
    parsed_times = ",\n    ".join(
        f"{_v(f)} IS NOT NULL AS has_{col}, "
        f"CASE WHEN {_jt(f)} = 'string' THEN {_parsed_time(_str(f))} END AS {col}_parsed"
        for f, col in _TIME_FIELDS
    )
    batch_sent = "json_extract_string(batch_sent_at, '$')"
    parsed_times += (
        ",\n    batch_sent_at IS NOT NULL AS has_batch_sent, "
        f"CASE WHEN json_type(batch_sent_at) = 'VARCHAR' THEN {_parsed_time(batch_sent)} END "
        "AS batch_sent_parsed"
    )

    def good(col: str) -> str:
        return f"CASE WHEN {col} >= {earliest} AND {col} < {latest} THEN {col} END"

    good_times = ", ".join(
        f"{good(f'{col}_parsed')} AS {col}_ok" for _, col in [*_TIME_FIELDS, ("", "batch_sent")]
    )
    bad_time = "\n".join(
        f"WHEN has_{col} AND {col}_ok IS NULL THEN '{f}'" for f, col in _TIME_FIELDS
    )
    # The batch's sentAt applies to an item without its own.
    bad_time += "\nWHEN NOT has_ts_sent AND has_batch_sent AND batch_sent_ok IS NULL THEN 'sentAt'"
    # A batch envelope has 'batch' and no 'type' (a message with a type keeps its own shape,
    # whatever extra keys it carries).
    envelope_test = "FALSE" if in_batch else f"{_v('batch')} IS NOT NULL AND {_v('type')} IS NULL"
    ids = ("uid_text", "aid_text", "pid_text", "gid_text")
    clean = {
        name: f"CASE WHEN {t} IS NULL OR {junk_id_sql(t, junk_ids)} THEN NULL ELSE {t} END"
        for name, t in zip(("user_id", "anonymous_id", "previous_id", "group_id"), ids, strict=True)
    }
    bad_id_checks = "\n".join(
        f"WHEN regexp_matches({t}, '{_CONTROL}') THEN '{f}'"
        for (f, _), t in zip(_ID_FIELDS, ids, strict=True)
    )
    what = "the event" if in_batch else "the record"
    parsed, fields, checked = f"{target}_parsed", f"{target}_fields", f"{target}_checked"

    parse = f"""
CREATE OR REPLACE TEMP TABLE {parsed} AS
SELECT source, line, item, raw, bad_bytes, {batch_cols},
    coalesce(strlen(raw), octet_length(bad_bytes)) AS nbytes,
    CASE WHEN CASE WHEN ord(raw) = 123 THEN TRUE ELSE json_valid(raw) END
         THEN try(json_transform(raw, '{_STRUCT}')) END AS j
FROM {lines}
"""
    extract = f"""
CREATE OR REPLACE TEMP VIEW {fields} AS
SELECT source, line, item, raw, bad_bytes, nbytes, batch_context, batch_sent_at,
    j IS NULL AS unparsed,
    {envelope_test} AS is_envelope,
    {_jt("batch")} AS batch_kind,
    {_id_text("userId")} AS uid_text,
    {_id_text("anonymousId")} AS aid_text,
    {_id_text("previousId")} AS pid_text,
    {_id_text("groupId")} AS gid_text,
    {_v("type")} IS NOT NULL AS has_type,
    {_str("type")} AS call_type,
    trim({_str("event")}) AS event,
    {_str("name")} AS name,
    CASE WHEN {_jt("messageId")} = 'string' THEN trim({_str("messageId")}) END AS given_id,
    CASE WHEN {_jt("properties")} = 'object' THEN {_v("properties")} END AS properties,
    CASE WHEN {_jt("traits")} = 'object' THEN {_v("traits")} END AS own_traits,
    CASE WHEN {_jt("context")} = 'object' THEN {_v("context")} END AS own_context,
    CASE WHEN {_jt("context")} = 'object' AND contains({_v("context")}, '"traits"')
         AND json_type({_v("context")}, '$.traits') = 'OBJECT'
         THEN json_extract({_v("context")}, '$.traits') END AS context_traits,
    CASE {id_type_checks} {str_type_checks} {obj_type_checks} END AS bad_type_field,
    {parsed_times}
FROM {parsed}
"""
    check = f"""
CREATE OR REPLACE TEMP VIEW {checked} AS
SELECT * EXCLUDE (own_traits, own_context, context_traits, given_id),
    CASE
        WHEN raw IS NULL THEN 'invalid_utf8'
        WHEN CASE WHEN ord(raw) = 123 THEN FALSE ELSE trim(raw) = '' END THEN '{BLANK}'
        WHEN nbytes > {line_limit} THEN 'too_large'
        WHEN CASE WHEN unparsed THEN NOT json_valid(raw) ELSE FALSE END THEN 'invalid_json'
        WHEN unparsed OR CASE WHEN ord(raw) = 123 THEN FALSE ELSE json_type(raw) <> 'OBJECT' END
            THEN 'not_an_object'
        WHEN is_envelope AND batch_kind <> 'array' THEN 'wrong_type'
        WHEN is_envelope AND json_array_length(raw, '$.batch') > {limits.max_batch_events}
            THEN 'batch_too_large'
        WHEN is_envelope AND json_array_length(raw, '$.batch') = 0 THEN 'empty_batch'
        WHEN is_envelope THEN '{ENVELOPE}'
        WHEN nbytes > {limits.max_event_bytes} THEN 'too_large'
        WHEN NOT has_type THEN 'missing_type'
        WHEN bad_type_field IS NOT NULL THEN 'wrong_type'
        WHEN call_type NOT IN (SELECT unnest({_sql_list(CALL_TYPES)})) THEN 'unknown_type'
        WHEN user_id IS NULL AND anonymous_id IS NULL THEN 'missing_id'
        WHEN call_type = 'track' AND coalesce(event, '') = '' THEN 'missing_event'
        WHEN call_type = 'group' AND group_id IS NULL THEN 'missing_group_id'
        WHEN call_type = 'alias' AND previous_id IS NULL THEN 'missing_previous_id'
        WHEN call_type = 'alias' AND user_id IS NULL THEN 'missing_id'
        WHEN bad_id_field IS NOT NULL THEN 'bad_id'
        WHEN bad_time_field IS NOT NULL THEN 'bad_timestamp'
        WHEN ts_event IS NULL THEN 'bad_timestamp'
    END AS reason,
    CASE WHEN call_type = 'group' THEN own_traits
         WHEN call_type = 'identify' AND context_traits IS NOT NULL
            THEN json_merge_patch(context_traits, coalesce(own_traits, '{{}}'::JSON))
         WHEN call_type = 'identify' THEN own_traits
         ELSE context_traits
    END AS traits,
    CASE WHEN batch_context IS NULL THEN own_context
         WHEN own_context IS NULL THEN batch_context
         ELSE json_merge_patch(batch_context, own_context)
    END AS context,
    CASE WHEN given_id <> '' THEN given_id ELSE 'md5:' || md5(raw) END AS message_id
FROM (
    SELECT *,
        -- timestamp = receivedAt - (sentAt - originalTimestamp) when sentAt is known; NULL
        -- when that correction leaves the window.
        CASE WHEN ts_sent IS NOT NULL AND coalesce(ts_original, ts_given) IS NOT NULL
             THEN {good("ts_received - (ts_sent - coalesce(ts_original, ts_given))")}
             ELSE coalesce(ts_given, ts_original, ts_received)
        END AS ts_event
    FROM (
        SELECT *,
            {clean["user_id"]} AS user_id,
            {clean["anonymous_id"]} AS anonymous_id,
            {clean["previous_id"]} AS previous_id,
            {clean["group_id"]} AS group_id,
            CASE {bad_id_checks} END AS bad_id_field,
            CASE {bad_time} END AS bad_time_field,
            ts_given_ok AS ts_given,
            ts_original_ok AS ts_original,
            coalesce(ts_sent_ok, batch_sent_ok) AS ts_sent,
            coalesce(ts_received_ok, {received_at}) AS ts_received
        FROM (SELECT *, {good_times} FROM {fields})
    )
)
"""
    email = (
        "CASE WHEN call_type <> 'group' AND traits IS NOT NULL AND contains(traits, '\"email\"') "
        "AND json_type(traits, '$.email') = 'VARCHAR' AND contains(traits ->> '$.email', '@') "
        "THEN lower(trim(traits ->> '$.email')) END"
    )
    email_bad = f"reason IS NULL AND regexp_matches(email_found, '{_CONTROL}')"
    output = f"""
CREATE OR REPLACE TEMP TABLE {target} AS
SELECT
    message_id, (hash(message_id) >> 1)::BIGINT AS message_hash, call_type AS type,
    event, name, user_id, anonymous_id, previous_id, group_id,
    CASE WHEN reason IS NULL THEN email_found END AS email,
    ts_event AS timestamp,
    coalesce(ts_original, ts_given) AS original_timestamp,
    ts_sent AS sent_at,
    ts_received AS received_at,
    properties::VARCHAR AS properties, traits::VARCHAR AS traits, context::VARCHAR AS context,
    source, line, item,
    CASE WHEN reason IS NULL OR reason = '{ENVELOPE}' THEN raw END AS raw,
    reason,
    CASE reason
        WHEN 'wrong_type' THEN coalesce(bad_type_field, 'batch')
        WHEN 'empty_batch' THEN 'batch'
        WHEN 'bad_timestamp' THEN coalesce(bad_time_field, 'sentAt')
        WHEN 'bad_id' THEN bad_id_field
        WHEN 'missing_type' THEN 'type'
        WHEN 'unknown_type' THEN 'type'
        WHEN 'missing_event' THEN 'event'
        WHEN 'missing_group_id' THEN 'groupId'
        WHEN 'missing_previous_id' THEN 'previousId'
        WHEN 'missing_id' THEN CASE WHEN call_type = 'alias' THEN 'userId'
                                    ELSE 'userId/anonymousId' END
    END AS field,
    CASE reason
        WHEN 'invalid_utf8' THEN 'the line is not valid UTF-8 text'
        WHEN 'too_large' THEN '{what} is ' || nbytes || ' bytes; the limit is '
            || (CASE WHEN is_envelope OR nbytes > {line_limit} THEN {line_limit}
                     ELSE {limits.max_event_bytes} END) || ' bytes'
        WHEN 'invalid_json' THEN '{what} is not valid JSON'
        WHEN 'not_an_object' THEN 'expected a JSON object, found ' || {_kind_name("json_type(raw)")}
        WHEN 'batch_too_large' THEN 'the batch has ' || json_array_length(raw, '$.batch')
            || ' events; the limit is {limits.max_batch_events}'
        WHEN 'empty_batch' THEN 'the batch has no events'
        WHEN 'missing_type' THEN '{what} has no ''type'''
        WHEN 'wrong_type' THEN CASE WHEN bad_type_field IS NULL
            THEN 'field ''batch'' must be an array'
            ELSE 'field ''' || bad_type_field || ''' is '
                || {_kind_name("json_type(raw, '$.' || bad_type_field)")} || '; expected '
                || CASE WHEN bad_type_field IN ('properties', 'traits', 'context')
                        THEN 'an object'
                        WHEN bad_type_field IN ('userId', 'anonymousId', 'previousId', 'groupId')
                        THEN 'a string or whole number'
                        ELSE 'a string' END END
        WHEN 'unknown_type' THEN '''type'' is ''' || coalesce(call_type, '?')
            || '''; expected one of {", ".join(CALL_TYPES)}'
        WHEN 'missing_id' THEN
            CASE WHEN coalesce(uid_text, aid_text) IS NOT NULL
                 THEN 'id ''' || coalesce(uid_text, aid_text)
                      || ''' is a placeholder, not a real id; '
                 ELSE '' END
            || CASE WHEN call_type = 'alias' THEN 'an alias call needs userId'
                    ELSE 'a userId or anonymousId is required' END
        WHEN 'missing_event' THEN 'a track call needs a non-empty ''event'''
        WHEN 'missing_group_id' THEN 'a group call needs ''groupId'''
        WHEN 'missing_previous_id' THEN 'an alias call needs ''previousId'''
        WHEN 'bad_id' THEN 'field ''' || bad_id_field || ''' holds a control character '
            || '(NUL, a line break...); an id must be printable text'
        WHEN 'bad_timestamp' THEN CASE
            WHEN bad_time_field = 'sentAt' AND NOT has_ts_sent
                THEN 'the batch''s ''sentAt'' is ' || batch_sent_at::VARCHAR
            WHEN bad_time_field IS NOT NULL THEN 'field ''' || bad_time_field || ''' is '
                || (raw -> ('$.' || bad_time_field))::VARCHAR
            ELSE 'the clock-skew correction receivedAt - (sentAt - timestamp) gives '
                || (ts_received - (ts_sent - coalesce(ts_original, ts_given)))::VARCHAR
            END || '; expected an ISO-8601 time {window.describe()}'
    END AS detail,
    CASE WHEN reason IS NOT NULL AND reason NOT IN ('{ENVELOPE}', '{BLANK}')
         THEN coalesce(encode(raw), bad_bytes) END AS raw_bytes
FROM (
    SELECT * REPLACE (
        CASE WHEN {email_bad} THEN 'bad_id' ELSE reason END AS reason,
        CASE WHEN {email_bad} THEN 'traits.email' ELSE bad_id_field END AS bad_id_field)
    FROM (SELECT *, {email} AS email_found FROM {checked})
)
"""
    return [
        parse,
        extract,
        check,
        output,
        f"DROP VIEW {checked}",
        f"DROP VIEW {fields}",
        f"DROP TABLE {parsed}",
    ]
