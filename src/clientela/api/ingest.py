"""Ingestion: Segment's HTTP Tracking API, so a Segment library works unchanged.

Endpoints: ``POST /v1/identify``, ``/v1/track``, ``/v1/page``, ``/v1/screen``, ``/v1/group``,
``/v1/alias`` (one message; its ``type`` is the endpoint's unless the message says otherwise)
and ``POST /v1/batch`` (``{"batch": [...], "context": ..., "sentAt": ...}``; ``/v1/import``
is the same, as at Segment). The body is JSON, optionally ``Content-Encoding: gzip``.

The write key is taken from HTTP Basic auth (the key as username, what Segment's libraries
send), ``Authorization: Bearer KEY`` or the body's ``writeKey``; it is never stored. No key
or an unknown one is ``401``, a read or admin key ``403`` (:mod:`clientela.api.auth`). A key
in a header is checked before the body is read. With no key in a header, only the body's
``writeKey`` can authenticate: the body is read (within the size limits below; gzip is
inflated at most to them) and, before it is parsed, scanned for ``"writeKey": "<a key>"``;
unless that names an active key, the answer is ``401`` and the body is never parsed. (Found,
the parsed body's top-level ``writeKey`` must then be that valid write key.) So a client with
no key never gets its JSON parsed, nor learns anything of it from a ``400``.

Answers (every error body is ``{"code": ..., "message": ...}``):

* ``200 {"success": true}``: the messages are on disk (flushed) and will be landed.
* ``400`` when the request cannot be taken apart into messages or is over a limit, the whole
  request being refused (nothing of it is kept), as Segment does: ``invalid_json`` (not JSON,
  or not UTF-8), ``not_an_object`` (the body, or an item of ``batch``, is not a JSON object),
  ``wrong_type`` (``batch`` not an array, batch ``context`` not an object, ``sentAt`` not a
  string), ``missing_batch`` (``/v1/batch`` without ``batch``), ``unexpected_batch`` (a batch
  sent to a single-call endpoint), ``request_too_large`` (body over ``[ingest]
  max_batch_bytes``, 500 KB, after decompression), ``event_too_large`` (a message over
  ``max_event_bytes``, 32 KB, as stored), ``batch_too_large`` (over ``max_batch_events``,
  2,500), ``too_deep`` (a message, or a batch's ``context``, with objects and arrays nested
  more than 254 deep; the body more than 1,024), ``invalid_gzip``, ``unsupported_encoding``.
* Messages that are well-formed JSON objects but semantically wrong (no ``userId`` or
  ``anonymousId``, a ``track`` without ``event``, an unknown ``type``, a field of the wrong
  type, a bad timestamp) are answered ``200`` like Segment does, and go to quarantine with
  their reason when landed, exactly as from a file (``clientela quarantine list``): one
  validation code path, and a batch's good messages are never refused for a bad one.
* ``404`` for an unknown call (``/v1/foo``), ``405`` for a method other than POST.
* ``401 unauthorized`` / ``403 forbidden`` for keys (above); ``503 not_ready`` while the server
  starts or stops; ``503 ingestion_unavailable`` from an app whose workspace another server
  already ingests into (its reads still work).
* ``429`` with ``Retry-After`` when the server is behind (too much waiting to be flushed, or
  to be landed); ``503`` with ``Retry-After`` when the log cannot be written. Nothing is ever
  dropped silently: a request is either answered ``200`` and kept, or refused.

What is stored, per message: the message as sent, with ``type`` filled in from the endpoint
when missing, ``receivedAt`` set by the server (as Segment does; a client's own is replaced),
and a ``messageId`` when it has none (``md5:`` of the message, so a retried request is still
deduplicated). ``writeKey`` is removed. See :mod:`clientela.api.log` for the log and its
compaction into Parquet.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import math
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response, Security

from clientela.api.auth import WRITE, KeyInfo, authenticate, write_key
from clientela.api.errors import ApiError
from clientela.api.log import (
    Compactor,
    HttpLog,
    LogLock,
    LogUnavailable,
    leftover_logs,
    log,
    log_dir,
)
from clientela.errors import WorkspaceError
from clientela.ingest.segment import Limits
from clientela.keys import KEY_PATTERN
from clientela.schema import CALL_TYPES
from clientela.workspace import Workspace

BATCH_CALLS = ("batch", "import")
FLUSH_TIMEOUT = 30.0  # seconds a request waits for its flush before it is answered 503
MAX_DEPTH = 254  # objects and arrays nested in one message (what orjson can write back)
_SUCCESS = b'{"success":true}'
_LONG_DIGITS = re.compile(rb"[0-9]{20}")  # an integer that may not fit in 64 bits
# '"writeKey": "<something shaped like a key>"' anywhere in a raw body (JSON whitespace allowed).
_BODY_KEY = re.compile(rb'"writeKey"[ \t\r\n]*:[ \t\r\n]*"(' + KEY_PATTERN.encode() + rb')"')
_BODY_KEYS_TRIED = 4  # a body naming more candidate keys than this gets only these checked


@dataclass(frozen=True)
class IngestOptions:
    """How the server keeps and lands what it accepts (the limits are ``[ingest]``'s)."""

    rotate_seconds: float = 10.0  # close the log file this often (then it is landed)
    rotate_bytes: int = 64 << 20  # ... or when it is this big
    max_pending_bytes: int = 64 << 20  # accepted, waiting for the disk: more -> 429
    max_backlog_bytes: int = 1 << 30  # closed log files not landed yet: more -> 429
    compactor_threads: int = 1  # DuckDB threads for landing (leave a core for requests)


class Ingestion:
    """The ingestion of one running app: its limits, its log and its compactor."""

    def __init__(self, workspace: Workspace, options: IngestOptions) -> None:
        settings = workspace.settings.ingest
        self.workspace = workspace
        self.options = options
        self.limits = Limits(
            max_event_bytes=settings.max_event_bytes,
            max_batch_bytes=settings.max_batch_bytes,
            max_batch_events=settings.max_batch_events,
        )
        self.folder = log_dir(workspace)
        self.lock = LogLock(self.folder)
        self.compactor = Compactor(workspace, self.folder, threads=options.compactor_threads)
        self.log = HttpLog(
            self.folder,
            rotate_bytes=options.rotate_bytes,
            rotate_seconds=options.rotate_seconds,
            on_closed=self.compactor.submit,
        )

    def start(self) -> None:
        """Lock the log folder, queue the files earlier runs left for landing, and start."""
        self.lock.acquire()
        try:
            self.compactor.start(leftover_logs(self.folder))
            self.log.start()
        except BaseException:
            self.lock.release()
            raise

    def stop(self) -> None:
        """Flush and close the log, land everything, release the folder."""
        try:
            self.log.close()
            self.compactor.stop()
        finally:
            self.lock.release()

    def land_now(self, timeout: float | None = None) -> bool:
        """Close the current log file and wait until everything is landed (for tests)."""
        self.log.rotate_now()
        return self.compactor.wait_idle(timeout)

    def check_load(self) -> None:
        """``429`` when the disk or the compactor is behind."""
        if self.log.pending_bytes > self.options.max_pending_bytes:
            raise ApiError(
                429,
                "overloaded",
                "the server is waiting for the disk; retry shortly",
                headers={"Retry-After": "1"},
            )
        if self.compactor.backlog_bytes > self.options.max_backlog_bytes:
            raise ApiError(
                429,
                "overloaded",
                "landing accepted events is behind; retry later",
                headers={"Retry-After": "5"},
            )


# -- request bodies ---------------------------------------------------------------------------


def _too_large(what: str, limit: int) -> ApiError:
    return ApiError(400, "request_too_large", f"{what} is over the limit of {limit:,} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed, at most ``limit`` bytes (else ``400``)."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise ApiError(
            400,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; send plain JSON or gzip",
        )
    gzipped = encoding in ("gzip", "x-gzip")
    # Compressed JSON is smaller than the JSON but for a few header bytes; allow some slack.
    wire_limit = limit + limit // 16 + 1024 if gzipped else limit
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > wire_limit:
        raise _too_large(f"the request body ({int(declared):,} bytes)", wire_limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > wire_limit:
            raise _too_large("the request body", wire_limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    return gunzip(body, limit) if gzipped else body


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip (one or more members), refusing more than ``limit`` bytes of output
    without ever producing more than ``limit + 1`` (a gzip bomb costs nothing)."""
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while True:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            piece = inflater.decompress(rest, limit - size + 1)
            size += len(piece)
            if size > limit or inflater.unconsumed_tail:
                raise _too_large("the decompressed body", limit)
            out.append(piece)
            if not inflater.eof:
                raise ApiError(400, "invalid_gzip", "the gzip body is truncated")
            rest = inflater.unused_data
            if not rest.strip(b"\0"):
                break
    except zlib.error as exc:
        raise ApiError(400, "invalid_gzip", f"the body is not valid gzip: {exc}") from None
    return b"".join(out)


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, else ``400``.

    orjson reads integers beyond 64 bits as floats (losing digits); a body with a run of 20
    or more digits is read instead by the standard library, which keeps every integer exact
    (and refuses what orjson refuses: NaN, Infinity and numbers beyond a double)."""
    if not body.strip():
        raise ApiError(400, "invalid_json", "the body is empty; expected a JSON object")
    try:
        value = _exact_loads(body) if _LONG_DIGITS.search(body) else orjson.loads(body)
    except (orjson.JSONDecodeError, ValueError) as exc:
        if "depth" in str(exc):  # orjson: 'depth limit exceeded' (over 1,024 levels)
            raise ApiError(
                400, "too_deep", f"the body nests objects and arrays too deep: {exc}"
            ) from None
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "not_an_object", f"the body is {_kind(value)}; expected a JSON object")
    return value


def _exact_loads(body: bytes) -> Any:
    """``body`` parsed keeping integers exact; ``ValueError`` where it is not JSON orjson
    would read, or nests deeper than the interpreter's recursion limit."""
    try:
        return json.loads(body, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("depth limit exceeded") from None


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:40]} is infinity when parsed as double")
    return number


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON value")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
    }.get(type(value), "a value")


# -- messages -> log lines ----------------------------------------------------------------------


def received_now() -> str:
    """The server's receive time as Segment writes it: ISO 8601 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(value: Any, what: str, option: int | None = None) -> bytes:
    """``value`` (parsed JSON) as JSON, else ``400 too_deep``: writing parsed JSON back fails
    only when it nests more than :data:`MAX_DEPTH` objects and arrays."""
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError as exc:
        if "64-bit" in str(exc):  # an exact integer beyond 64 bits (see parse_json)
            return _exact_dumps(value, what, sort_keys=bool(option))
        raise ApiError(
            400,
            "too_deep",
            f"{what} nests objects and arrays more than {MAX_DEPTH} deep ({exc})",
        ) from None


def _exact_dumps(value: Any, what: str, *, sort_keys: bool) -> bytes:
    """``value`` as compact JSON by the standard library, which writes any integer exactly;
    the same depth limit as orjson's."""
    if _depth(value) > MAX_DEPTH:
        raise ApiError(
            400, "too_deep", f"{what} nests objects and arrays more than {MAX_DEPTH} deep"
        )
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    return text.encode()


def _depth(value: Any) -> int:
    """How many objects and arrays nest in ``value`` (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def message_bytes(
    msg: dict[str, Any], call: str | None, received: str, what: str = "the message"
) -> bytes:
    """One message as stored: ``type`` filled in, ``receivedAt`` set, ``writeKey`` removed,
    a ``messageId`` given when missing."""
    msg.pop("writeKey", None)
    if call is not None and msg.get("type") is None:
        msg["type"] = call
    given = msg.get("messageId")
    if given is None or (isinstance(given, str) and not given.strip()):
        msg.pop("messageId", None)
        msg.pop("receivedAt", None)
        digest = hashlib.md5(dumps(msg, what, orjson.OPT_SORT_KEYS)).hexdigest()
        msg["messageId"] = f"md5:{digest}"
    msg["receivedAt"] = received
    return dumps(msg, what)


def single_lines(body: dict[str, Any], call: str, limits: Limits, received: str) -> bytes:
    """The log line of a single call."""
    if "batch" in body:
        raise ApiError(400, "unexpected_batch", f"a batch is sent to /v1/batch, not to /v1/{call}")
    line = message_bytes(body, call, received)
    if len(line) > limits.max_event_bytes:
        raise ApiError(
            400,
            "event_too_large",
            f"the message is {len(line):,} bytes as stored; the limit is "
            f"{limits.max_event_bytes:,} bytes",
        )
    return line + b"\n"


def batch_lines(body: dict[str, Any], limits: Limits, received: str) -> bytes:
    """The log lines of a batch: envelopes of at most ``max_batch_bytes`` each, so whatever
    is accepted here is never over a limit when landed."""
    if "batch" not in body:
        raise ApiError(400, "missing_batch", "a batch request needs 'batch': an array of messages")
    items = body["batch"]
    if not isinstance(items, list):
        raise ApiError(400, "wrong_type", f"'batch' is {_kind(items)}; expected an array")
    if len(items) > limits.max_batch_events:
        raise ApiError(
            400,
            "batch_too_large",
            f"the batch has {len(items):,} messages; the limit is {limits.max_batch_events:,}",
        )
    tail = b""
    context = body.get("context")
    if context is not None:
        if not isinstance(context, dict):
            raise ApiError(
                400, "wrong_type", f"batch 'context' is {_kind(context)}; expected an object"
            )
        tail += b',"context":' + dumps(context, "batch 'context'")
    sent_at = body.get("sentAt")
    if sent_at is not None:
        if not isinstance(sent_at, str):
            raise ApiError(400, "wrong_type", f"'sentAt' is {_kind(sent_at)}; expected a string")
        tail += b',"sentAt":' + orjson.dumps(sent_at)
    encoded: list[bytes] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(
                400,
                "not_an_object",
                f"batch item {index} is {_kind(item)}; expected a JSON object",
            )
        data = message_bytes(item, None, received, f"batch item {index}")
        if len(data) > limits.max_event_bytes:
            raise ApiError(
                400,
                "event_too_large",
                f"batch item {index} is {len(data):,} bytes as stored; the limit is "
                f"{limits.max_event_bytes:,} bytes",
            )
        encoded.append(data)
    return b"".join(_envelopes(encoded, tail, limits.max_batch_bytes))


def _envelopes(items: list[bytes], tail: bytes, limit: int) -> Iterator[bytes]:
    """``{"batch":[...]<tail>}`` lines of at most ``limit`` bytes each (without the break)."""
    head = b'{"batch":['
    overhead = len(head) + len(b"]") + len(tail) + len(b"}")
    start = 0
    size = overhead
    for i, item in enumerate(items):
        extra = len(item) + (1 if i > start else 0)
        if size + extra > limit and i > start:
            yield head + b",".join(items[start:i]) + b"]" + tail + b"}\n"
            start, size, extra = i, overhead, len(item)
        if size + extra > limit:
            raise ApiError(
                400,
                "request_too_large",
                f"the batch's context and sentAt take {len(tail):,} bytes; with a message "
                f"the batch is over the {limit:,}-byte limit",
            )
        size += extra
    if items:
        yield head + b",".join(items[start:]) + b"]" + tail + b"}\n"


# -- routes ---------------------------------------------------------------------------------------

router = APIRouter(tags=["ingestion"])

_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        }
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Accepted: the messages are on disk and will be landed.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["success"],
                    "properties": {"success": {"type": "boolean", "enum": [True]}},
                }
            }
        },
    },
    400: {"description": "Not JSON, not an object, or over a size or count limit.", **_ERROR},
    401: {"description": "No write key, or an unknown or revoked one.", **_ERROR},
    403: {"description": "The key is a read or an admin key.", **_ERROR},
    429: {"description": "Overloaded: retry after Retry-After seconds.", **_ERROR},
    503: {"description": "The log cannot be written: retry after Retry-After seconds.", **_ERROR},
}
# Any JSON object is accepted (answered 200); what makes a message valid is checked when it
# lands, and an invalid one is quarantined with its reason (as Segment answers 200 and drops
# it). So the fields are described, not constrained: the schema promises what is accepted.
_FIELDS_DOC = {
    "type": "identify, track, page, screen, group or alias (default: the endpoint's).",
    "userId": "A string or whole number; userId or anonymousId is required.",
    "anonymousId": "A string or whole number; userId or anonymousId is required.",
    "messageId": "A string; deduplicates retries (given from the content when missing).",
    "event": "The event name (track).",
    "name": "The page or screen name.",
    "groupId": "The group (group).",
    "previousId": "The id being aliased (alias).",
    "properties": "An object.",
    "traits": "An object.",
    "context": "An object.",
    "timestamp": "ISO 8601 time it happened (by the device's clock).",
    "sentAt": "ISO 8601 time it was sent (by the device's clock; corrects its skew).",
    "writeKey": "The write key, when not given in the Authorization header. Never stored.",
}
_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Segment message. Answered 200 when it is a JSON object within the size "
    "limits; a message missing what its call needs is quarantined when landed.",
    "properties": {name: {"description": text} for name, text in _FIELDS_DOC.items()},
}
_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": _MESSAGE_SCHEMA, "maxItems": 2500},
        "context": {
            "anyOf": [{"type": "object"}, {"type": "null"}],
            "description": "Merged under each message's context.",
        },
        "sentAt": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "For messages without their own.",
        },
        "writeKey": {"description": _FIELDS_DOC["writeKey"]},
    },
}


def _body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


def _ingestion(request: Request) -> Ingestion:
    ingestion: Ingestion | None = getattr(request.app.state, "ingestion", None)
    if ingestion is None:
        refused = getattr(request.app.state, "ingestion_refused", None)
        if refused:
            raise ApiError(503, "ingestion_unavailable", refused)
        raise ApiError(503, "not_ready", "ingestion is not running", headers={"Retry-After": "1"})
    return ingestion


def check_body_key(request: Request, raw: bytes) -> None:
    """Before a body is parsed, when no header carries a key: ``401`` (or ``403``) unless the
    raw body names an active write key as ``"writeKey": "..."``. A regular-expression scan,
    linear in the body (already within the size limit), whatever the body nests or holds."""
    candidates = [m.group(1).decode("ascii") for m in _BODY_KEY.finditer(raw)]
    refused: ApiError | None = None
    for candidate in dict.fromkeys(candidates[:_BODY_KEYS_TRIED]):
        try:
            authenticate(request, WRITE, candidate)
            return
        except ApiError as exc:
            if refused is None or exc.status > refused.status:  # 403 says more than 401
                refused = exc
    if refused is not None:
        raise refused
    authenticate(request, WRITE, None)  # raises: no key anywhere


async def accept(request: Request, call: str, key: KeyInfo | None = None) -> Response:
    """Check, authenticate, store and answer one ingestion request. ``key`` is the write key
    of a header, already checked; None when no header carries a key."""
    ingestion = _ingestion(request)
    ingestion.check_load()
    limits = ingestion.limits
    raw = await read_body(request, limits.max_batch_bytes)
    if key is None:
        check_body_key(request, raw)
    body = parse_json(raw)
    if key is None:
        # The scan found a valid key; it must be the body's own top-level writeKey.
        body_key = body.get("writeKey")
        authenticate(request, WRITE, body_key if isinstance(body_key, str) else None)
    received = received_now()
    if call in BATCH_CALLS:
        lines = batch_lines(body, limits, received)
    else:
        lines = single_lines(body, call, limits, received)
    if lines:
        try:
            await asyncio.wait_for(ingestion.log.append(lines), FLUSH_TIMEOUT)
        except LogUnavailable as exc:
            raise ApiError(503, "unavailable", str(exc), headers={"Retry-After": "5"}) from None
        except TimeoutError:
            raise ApiError(
                503,
                "unavailable",
                f"the log was not flushed within {FLUSH_TIMEOUT:.0f} s",
                headers={"Retry-After": "5"},
            ) from None
    return Response(_SUCCESS, media_type="application/json")


def _route(call: str) -> Callable[..., Any]:
    async def endpoint(
        request: Request, key: Annotated[KeyInfo | None, Security(write_key)]
    ) -> Response:
        return await accept(request, call, key)

    endpoint.__name__ = f"ingest_{call}"
    return endpoint


for _call in (*CALL_TYPES, *BATCH_CALLS):
    router.add_api_route(
        f"/v1/{_call}",
        _route(_call),
        methods=["POST"],
        summary=(
            f"Segment {_call}" if _call not in BATCH_CALLS else f"Segment {_call}: many messages"
        ),
        description=(__doc__ or "").split("\n\n")[0],
        responses=_RESPONSES,
        openapi_extra=_body_doc(_BATCH_SCHEMA if _call in BATCH_CALLS else _MESSAGE_SCHEMA),
        response_class=Response,
    )


async def unknown_call(request: Request) -> Response:
    """``/v1/<anything else>``: 404 naming the calls there are (405 for a known call's GET)."""
    call = request.path_params.get("call", "")
    if call in (*CALL_TYPES, *BATCH_CALLS):
        raise ApiError(405, "method_not_allowed", f"/v1/{call} takes POST")
    raise ApiError(
        404,
        "not_found",
        f"there is no call '{call}'; the calls are "
        + ", ".join(f"/v1/{c}" for c in (*CALL_TYPES, *BATCH_CALLS)),
    )


router.add_api_route(
    "/v1/{call:path}",
    unknown_call,
    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    include_in_schema=False,
)


@asynccontextmanager
async def ingestion_running(app: FastAPI) -> AsyncIterator[None]:
    """Run ingestion for the app's life: start the log and compactor, and on shutdown flush,
    land everything and stop. Options come from ``app.state.ingest_options``."""
    options = getattr(app.state, "ingest_options", None) or IngestOptions()
    ingestion = Ingestion(app.state.workspace, options)
    try:
        await asyncio.to_thread(ingestion.start)
    except WorkspaceError as exc:
        # Another server (or app) ingests into this workspace: this one still serves reads,
        # and answers /v1 with 503. (`clientela serve` refuses to start instead.)
        log.warning("ingestion is off: %s", exc)
        app.state.ingestion_refused = f"ingestion is off in this server: {exc}"
        yield
        return
    app.state.ingestion = ingestion
    try:
        yield
    finally:
        app.state.ingestion = None
        await asyncio.to_thread(ingestion.stop)


def tune_gc() -> None:
    """Garbage collection for a server process (call once, after the app is built).

    Parsing a batch makes thousands of dicts at once, which made CPython collect several
    times per request, and every third-generation pass walked the whole heap (FastAPI,
    pydantic, Ibis...): pauses of up to ~200 ms, the worst of the latency tail. Freezing what
    exists at start-up takes it out of every collection, and a higher first threshold makes
    collections rare (the server's garbage is nearly all freed by reference counting).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def install(app: FastAPI) -> None:
    """Add the ingestion routes to ``app`` and run ingestion within its lifespan (around any
    lifespan it already has)."""
    app.include_router(router)
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with ingestion_running(app), inner(a) as state:
            yield state

    app.router.lifespan_context = lifespan
