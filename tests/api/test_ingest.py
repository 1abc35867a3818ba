"""Ingestion over HTTP (Segment's Tracking API): the real Segment client, keys, limits, bad
input, overload. What a 200 accepted is checked in the landed Parquet."""

from __future__ import annotations

import base64
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from live_server import LiveServer

from clientela.api import create_app
from clientela.api import log as log_module
from clientela.api.ingest import IngestOptions
from clientela.ingest import lander as lander_module
from clientela.keys import create_key
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import landed_events, quarantined

SMALL_LIMITS = "[ingest]\nmax_event_bytes = 2000\nmax_batch_bytes = 20000\nmax_batch_events = 50\n"


@dataclass
class Served:
    """An app with ingestion running (in-process), a write key and a read key."""

    ws: Workspace
    app: Any
    client: TestClient
    write_key: str
    read_key: str

    def post(self, call: str, body: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("auth", (self.write_key, ""))
        if isinstance(body, bytes):
            return self.client.post(f"/v1/{call}", content=body, **kwargs)
        return self.client.post(f"/v1/{call}", json=body, **kwargs)

    def land(self) -> list[dict[str, Any]]:
        """Land everything accepted so far; the landed events."""
        assert self.app.state.ingestion.land_now(60)
        return landed_events(self.ws)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start ingestion in-process on a fresh workspace (``toml`` added to its settings)."""
    clients: list[TestClient] = []

    def start(toml: str = "", options: IngestOptions | None = None) -> Served:
        ws = make_workspace(tmp_path / f"ws{len(clients)}", toml)
        _, write_key = create_key(ws, "write")
        _, read_key = create_key(ws, "read")
        app = create_app(ws)
        app.state.ingest_options = options or IngestOptions(rotate_seconds=3600)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return Served(ws, app, client, write_key, read_key)

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def _track(i: int, **extra: Any) -> dict[str, Any]:
    return {"userId": f"u{i}", "event": "Viewed", "messageId": f"m{i}", **extra}


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"], body
    return str(body["message"])


# -- what is stored ---------------------------------------------------------------------------


def test_each_call_endpoint_fills_in_its_type(serve: Callable[..., Served]) -> None:
    """/v1/identify, track, page, screen, group, alias: a message without type gets the
    endpoint's; the answer is Segment's 200 {"success": true}."""
    s = serve()
    bodies = {
        "identify": {"userId": "u1", "traits": {"email": "Ann@X.com"}},
        "track": {"userId": "u1", "event": "Signed Up"},
        "page": {"anonymousId": "a1", "name": "Home"},
        "screen": {"userId": "u1", "name": "Main"},
        "group": {"userId": "u1", "groupId": "acme"},
        "alias": {"userId": "u1", "previousId": "a1"},
    }
    for call, body in bodies.items():
        response = s.post(call, body)
        assert response.status_code == 200 and response.json() == {"success": True}
    rows = s.land()
    assert [r["type"] for r in rows] == list(bodies)
    assert rows[0]["email"] == "ann@x.com" and rows[4]["group_id"] == "acme"
    assert rows[5]["previous_id"] == "a1"
    assert not quarantined(s.ws)


def test_server_sets_received_at_and_never_stores_the_write_key(
    serve: Callable[..., Served],
) -> None:
    """receivedAt is the server's (a client's own is replaced); writeKey is not stored."""
    s = serve()
    before = time.time()
    body = _track(1, receivedAt="2001-01-01T00:00:00Z", writeKey=s.write_key)
    assert s.post("track", body, auth=None).status_code == 200
    (row,) = s.land()
    assert before - 1 <= row["received_at"].timestamp() <= time.time() + 1
    log_text = "".join(p.read_text() for p in log_module.log_dir(s.ws).glob("*.jsonl"))
    assert s.write_key not in str(row) and s.write_key not in log_text


def test_batch_context_and_sent_at_apply_to_items(serve: Callable[..., Served]) -> None:
    """A batch's context is merged under each item's, and its sentAt corrects clock skew."""
    s = serve()
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "A", "messageId": "a",
             "timestamp": "2025-01-01T10:00:00Z", "context": {"ip": "1.2.3.4"}},
            {"type": "track", "userId": "u1", "event": "B", "messageId": "b"},
        ],
        "context": {"library": {"name": "lib"}, "ip": "9.9.9.9"},
        "sentAt": "2025-01-01T10:00:10Z",
    }  # fmt: skip
    assert s.post("batch", body).status_code == 200
    a, b = s.land()
    assert orjson.loads(a["context"]) == {"library": {"name": "lib"}, "ip": "1.2.3.4"}
    assert orjson.loads(b["context"]) == {"library": {"name": "lib"}, "ip": "9.9.9.9"}
    # Sent 10 s after it happened, per the device: it happened 10 s before it was received.
    assert (a["received_at"] - a["timestamp"]).total_seconds() == pytest.approx(10, abs=0.01)
    assert [a["item"], b["item"]] == [1, 2]


def test_import_is_batch(serve: Callable[..., Served]) -> None:
    """/v1/import takes a batch, as at Segment."""
    s = serve()
    body = {"batch": [{"type": "track", **_track(1)}, {"type": "identify", "userId": "u2"}]}
    assert s.post("import", body).status_code == 200
    rows = s.land()
    assert [r["type"] for r in rows] == ["track", "identify"]
    assert rows[0]["message_id"] == "m1" and rows[1]["message_id"].startswith("md5:")


def test_retried_request_without_message_id_lands_once(serve: Callable[..., Served]) -> None:
    """A message without messageId gets one from its content, so a retry is deduplicated."""
    s = serve()
    body = {"userId": "u1", "event": "Clicked", "timestamp": "2025-01-01T00:00:00Z"}
    for _ in range(2):
        assert s.post("track", dict(body)).status_code == 200
    rows = s.land()
    assert len(rows) == 1 and rows[0]["message_id"].startswith("md5:")
    assert s.app.state.ingestion.compactor.stats.duplicates == 1


def test_message_ids_seen_before_are_not_landed_again(serve: Callable[..., Served]) -> None:
    """The same messageId sent again after landing is dropped as a duplicate (Segment dedupe)."""
    s = serve()
    assert s.post("batch", {"batch": [{"type": "track", **_track(i)} for i in range(3)]}).is_success
    assert len(s.land()) == 3
    assert s.post("track", _track(1, event="Again")).status_code == 200
    rows = s.land()
    assert len(rows) == 3 and {r["event"] for r in rows} == {"Viewed"}


# -- keys -------------------------------------------------------------------------------------


def test_write_key_in_basic_bearer_or_body(serve: Callable[..., Served]) -> None:
    """The write key works as Basic username, as Bearer, and as the body's writeKey."""
    s = serve()
    basic = "Basic " + base64.b64encode(f"{s.write_key}:".encode()).decode()
    assert s.post("track", _track(1), auth=None, headers={"Authorization": basic}).is_success
    bearer = {"Authorization": f"Bearer {s.write_key}"}
    assert s.post("track", _track(2), auth=None, headers=bearer).is_success
    assert s.post("track", _track(3, writeKey=s.write_key), auth=None).is_success
    batch = {"batch": [{"type": "track", **_track(4)}], "writeKey": s.write_key}
    assert s.post("batch", batch, auth=None).is_success
    assert sorted(r["message_id"] for r in s.land()) == ["m1", "m2", "m3", "m4"]


def test_missing_wrong_or_read_key_is_refused(serve: Callable[..., Served]) -> None:
    """No key or an unknown key is 401, a read key 403; nothing of theirs is stored."""
    s = serve()
    _error(s.post("track", _track(1), auth=None), 401, "unauthorized")
    _error(
        s.post("track", _track(1), auth=("cw_000000000000_" + "x" * 43, "")), 401, "unauthorized"
    )
    _error(s.post("track", _track(1, writeKey="nope"), auth=None), 401, "unauthorized")
    _error(s.post("track", _track(1), auth=(s.read_key, "")), 403, "forbidden")
    _error(s.post("batch", {"batch": [], "writeKey": s.read_key}, auth=None), 403, "forbidden")
    assert s.land() == []


def test_an_unauthenticated_body_is_not_parsed_before_the_401(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 6: a key in a header is checked before the body is read or decompressed; with
    no header key, a body holding no valid key is refused 401 without being parsed."""
    from clientela.api import ingest as ingest_module

    s = serve()
    calls: list[str] = []
    real_parse, real_gunzip = ingest_module.parse_json, ingest_module.gunzip

    def parse(body: bytes) -> Any:
        calls.append("parse")
        return real_parse(body)

    def gunzip(data: bytes, limit: int) -> bytes:
        calls.append("gunzip")
        return real_gunzip(data, limit)

    monkeypatch.setattr(ingest_module, "parse_json", parse)
    monkeypatch.setattr(ingest_module, "gunzip", gunzip)
    batch = {"batch": [{"type": "track", **_track(i)} for i in range(40)]}
    zipped = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    unknown = "cw_000000000000_" + "x" * 43
    # A key in the header: refused before the body is touched, whatever the body holds.
    for key, status in ((unknown, 401), (s.read_key, 403)):
        for body in (b"{not json", gzip.compress(orjson.dumps(batch))):
            headers = zipped if body[:2] == b"\x1f\x8b" else {}
            answer = s.post("batch", body, auth=(key, ""), headers=headers)
            _error(answer, status, "unauthorized" if status == 401 else "forbidden")
    assert calls == []
    # No header key: only a body naming a valid key is parsed.
    for body in (
        b"{not json",
        b"[" * 5000 + b"]" * 5000,
        orjson.dumps(batch),
        orjson.dumps({**batch, "writeKey": unknown}),
        orjson.dumps({**batch, "writeKey": "nope"}),
    ):
        _error(s.post("batch", body, auth=None), 401, "unauthorized")
    assert calls == []
    nested = {"batch": [{"type": "track", **_track(1, properties={"writeKey": s.write_key})}]}
    _error(s.post("batch", nested, auth=None), 401, "unauthorized")  # not the body's own key
    assert s.post("batch", {**batch, "writeKey": s.write_key}, auth=None).status_code == 200
    assert len(s.land()) == 40


@pytest.mark.parametrize("depth", [10, 200, 254, 255, 300, 1000, 1024, 1025, 5000, 150_000])
def test_deeply_nested_json_is_400_never_500(serve: Callable[..., Served], depth: int) -> None:
    """Finding 6: JSON nested 1,000 deep was a 500; any depth is either accepted or refused
    400 too_deep (every place a body nests: a message's fields, a batch item, its context)."""
    s = serve()
    deep = b"[" * depth + b"]" * depth
    bodies = [
        ("track", b'{"userId":"u1","event":"e","properties":{"x":' + deep + b"}}"),
        ("batch", b'{"batch":[{"type":"track","userId":"u1","event":"e","p":' + deep + b"}]}"),
        ("batch", b'{"batch":[],"context":{"x":' + deep + b"}}"),
        ("track", deep),
    ]
    for call, body in bodies:
        answer = s.post(call, body, headers={"Content-Type": "application/json"})
        assert answer.status_code in (200, 400), (call, answer.status_code, answer.text[:200])
        if depth > 250 and call == "track" and body is not deep:
            _error(answer, 400, "too_deep")
        if answer.status_code == 400:
            assert answer.json()["code"] in ("too_deep", "not_an_object", "request_too_large")
    assert s.post("track", _track(9)).status_code == 200
    assert "m9" in {r["message_id"] for r in s.land()}


# -- bad input ----------------------------------------------------------------------------------


def test_malformed_requests_are_400_and_the_server_keeps_serving(
    serve: Callable[..., Served],
) -> None:
    """Not JSON, not an object, wrong structural types: 400 with code and message; the next
    good request is accepted and only it lands."""
    s = serve()
    cases: list[tuple[str, Any, str]] = [
        ("track", b"{not json", "invalid_json"),
        ("track", b"", "invalid_json"),
        ("track", b'{"userId": "u1", "event": "\xff"}', "invalid_json"),
        ("track", b"[1, 2]", "not_an_object"),
        ("batch", {"batch": "nope"}, "wrong_type"),
        ("batch", {"batch": [{"type": "track", **_track(1)}, 7]}, "not_an_object"),
        ("batch", {"batch": [], "context": "x"}, "wrong_type"),
        ("batch", {"batch": [], "sentAt": 5}, "wrong_type"),
        ("batch", {"events": []}, "missing_batch"),
        ("track", {"batch": [_track(1)]}, "unexpected_batch"),
    ]
    for call, body, code in cases:
        _error(s.post(call, body), 400, code)
    assert s.post("track", _track(9)).status_code == 200
    assert [r["message_id"] for r in s.land()] == ["m9"]
    assert not quarantined(s.ws)


def test_semantic_errors_are_200_and_quarantined(serve: Callable[..., Served]) -> None:
    """As at Segment, a well-formed message with a semantic error (no userId/anonymousId, a
    track without event, an unknown type, a wrong field type, a bad timestamp) is answered
    200; it lands in quarantine with its reason, and the good messages beside it land."""
    s = serve()
    assert s.post("track", {"event": "No one", "messageId": "x1"}).status_code == 200
    batch = [
        {"type": "track", **_track(1)},
        {"type": "track", "userId": "u2", "messageId": "x2"},
        {"type": "shout", "userId": "u3", "messageId": "x3"},
        {"type": "identify", "userId": {"id": 4}, "messageId": "x4"},
        {"type": "track", **_track(5, timestamp="yesterday")},
        {"userId": "u6", "messageId": "x6"},
    ]
    assert s.post("batch", {"batch": batch}).status_code == 200
    assert [r["message_id"] for r in s.land()] == ["m1"]
    reasons = sorted(q["reason"] for q in quarantined(s.ws))
    assert reasons == [
        "bad_timestamp",
        "missing_event",
        "missing_id",
        "missing_type",
        "unknown_type",
        "wrong_type",
    ]


def test_unknown_call_is_404_and_get_is_405(serve: Callable[..., Served]) -> None:
    """/v1/foo is 404 naming the calls there are; GET on a call is 405; both JSON."""
    s = serve()
    assert "/v1/track" in _error(s.post("foo", _track(1)), 404, "not_found")
    _error(s.client.get("/v1/track"), 405, "method_not_allowed")
    assert s.post("track", _track(1)).status_code == 200


def test_size_and_count_limits(serve: Callable[..., Served]) -> None:
    """Over [ingest] limits: an event, a request, a batch's count: 400 and nothing kept."""
    s = serve(SMALL_LIMITS)
    big = _track(1, properties={"pad": "x" * 2000})
    assert "2,000" in _error(s.post("track", big), 400, "event_too_large")
    batch_big = {"batch": [{"type": "track", **_track(2)}, {"type": "track", **big}]}
    assert "item 1" in _error(s.post("batch", batch_big), 400, "event_too_large")
    many = {"batch": [{"type": "track", **_track(i)} for i in range(51)]}
    _error(s.post("batch", many), 400, "batch_too_large")
    pad = {"type": "track", **_track(1, properties={"pad": "y" * 1500})}
    _error(s.post("batch", {"batch": [pad] * 14}), 400, "request_too_large")
    # A declared length over the limit is refused before the body is read.
    _error(s.post("batch", b"{" + b" " * 30_000 + b"}"), 400, "request_too_large")
    assert s.land() == []


def test_accepted_is_never_over_a_limit_when_landed(serve: Callable[..., Served]) -> None:
    """What the server accepts lands, however close to the limits: an event of exactly
    max_event_bytes as stored, and a batch just under max_batch_bytes that grows past it with
    receivedAt (stored as several envelopes)."""
    s = serve(SMALL_LIMITS)
    base = _track(1, properties={"pad": ""})
    stored = len(orjson.dumps({**base, "type": "track", "receivedAt": "2025-01-01T00:00:00.000Z"}))
    exact = _track(1, properties={"pad": "z" * (2000 - stored)})
    assert s.post("track", exact).status_code == 200
    _error(s.post("track", _track(1, properties={"pad": "z" * (2001 - stored)})), 400,
           "event_too_large")  # fmt: skip
    items = [{"type": "track", **_track(i, properties={"pad": "p" * 1200})} for i in range(2, 17)]
    body = orjson.dumps({"batch": items})
    assert 19_000 < len(body) <= 20_000
    assert s.post("batch", body).status_code == 200
    rows = s.land()
    assert sorted(r["message_id"] for r in rows) == sorted(f"m{i}" for i in range(1, 17))
    assert not quarantined(s.ws)


def test_gzip_bodies_and_gzip_bombs(serve: Callable[..., Served]) -> None:
    """gzip is read; a bomb is refused after at most the limit is inflated; broken gzip and
    unknown encodings are 400."""
    s = serve()
    gz = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    body = orjson.dumps({"batch": [{"type": "track", **_track(i)} for i in range(3)]})
    assert s.post("batch", gzip.compress(body), headers=gz).status_code == 200
    # 200 gzip members of 1 MB of spaces each: 200 MB inflated from about 200 KB.
    bomb = gzip.compress(b" " * 1_000_000, compresslevel=9) * 200
    assert len(bomb) < 300_000
    started = time.perf_counter()
    _error(s.post("batch", bomb, headers=gz), 400, "request_too_large")
    assert time.perf_counter() - started < 5
    _error(s.post("batch", gzip.compress(body)[:-10], headers=gz), 400, "invalid_gzip")
    _error(s.post("batch", b"plain text", headers=gz), 400, "invalid_gzip")
    _error(s.post("batch", body, headers={"Content-Encoding": "br"}), 400, "unsupported_encoding")
    two_members = gzip.compress(body[:10]) + gzip.compress(body[10:])
    assert s.post("batch", two_members, headers=gz).status_code == 200
    assert len(s.land()) == 3


def test_fuzzed_bodies_never_break_the_server(serve: Callable[..., Served]) -> None:
    """Arbitrary JSON and bytes, as a message, a batch item or the whole body: always 200 or
    400 (never a 5xx), every error with code and message; then a good request still lands."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    s = serve()
    numbers = st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    scalars = st.none() | st.booleans() | numbers | st.text()
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
    fields = st.sampled_from(
        ["type", "userId", "anonymousId", "messageId", "event", "timestamp", "context", "batch"]
    )
    messages = st.dictionaries(fields | st.text(), values, max_size=6)
    bodies = (
        messages.map(orjson.dumps)
        | st.lists(messages | values, max_size=4).map(lambda b: orjson.dumps({"batch": b}))
        | values.map(orjson.dumps)
        | st.binary(max_size=200)
    )

    @given(call=st.sampled_from(["track", "batch", "identify"]), body=bodies)
    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(call: str, body: bytes) -> None:
        response = s.post(call, body)
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:
            assert set(response.json()) == {"code", "message"}

    check()
    assert s.post("track", _track(1, event="Still here")).status_code == 200
    assert "Still here" in {r["event"] for r in s.land()}
    assert s.app.state.ingestion.compactor.stats.errors == 0  # landing took all of it


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_v1_keeps_its_openapi_document(tmp_path: Path, mode: str) -> None:
    """Schemathesis from /openapi.json, with a write key: requests the document allows are
    answered as documented, and the ones it forbids are refused (never a 5xx)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    ws = make_workspace(tmp_path / "ws")
    _, key = create_key(ws, "write")
    app = create_app(ws)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex=r"^/v1/(track|identify|batch)$"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 3
    generation = schemathesis.GenerationMode(mode)
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=generation))
        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"})

        try:
            check()
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {exc}") from exc


# -- overload and failures ----------------------------------------------------------------------


def test_overload_answers_429_with_retry_after_and_drops_nothing(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While landing is stuck, closed log files pile up; past the backlog limit requests get
    429 with Retry-After (never a silent drop); once landing resumes, every 200 is landed."""
    gate = threading.Event()
    real_land = lander_module.EventLander.land

    def stuck_land(self: Any, lines: Any) -> Any:
        gate.wait(60)
        return real_land(self, lines)

    monkeypatch.setattr(lander_module.EventLander, "land", stuck_land)
    s = serve(options=IngestOptions(rotate_seconds=0.01, max_backlog_bytes=2000))
    acked: list[str] = []
    refused = None
    for i in range(200):
        response = s.post("track", _track(i))
        if response.status_code == 429:
            refused = response
            break
        assert response.status_code == 200
        acked.append(f"m{i}")
        time.sleep(0.02)  # let the log rotate: each file waits for the stuck compactor
    assert refused is not None, "never overloaded"
    _error(refused, 429, "overloaded")
    assert int(refused.headers["Retry-After"]) >= 1
    gate.set()
    rows = s.land()
    assert sorted(r["message_id"] for r in rows) == sorted(acked)
    assert s.post("track", _track(999)).status_code == 200


def test_disk_error_is_503_and_the_next_request_succeeds(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed flush answers 503 with Retry-After (not 200); the log starts a fresh file and
    the next request is accepted and landed."""
    s = serve()
    real_sync = log_module._sync
    failing = {"on": True}

    def sync(fd: int) -> None:
        if failing["on"]:
            raise OSError(5, "Input/output error")
        real_sync(fd)

    monkeypatch.setattr(log_module, "_sync", sync)
    response = s.post("track", _track(1))
    _error(response, 503, "unavailable")
    assert "Retry-After" in response.headers
    failing["on"] = False
    assert s.post("track", _track(2)).status_code == 200
    assert "m2" in {r["message_id"] for r in s.land()}


# -- the real Segment client ------------------------------------------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Callable[..., tuple[LiveServer, str, Workspace]]]:
    """Start ``clientela serve`` on a fresh workspace with a write key."""
    servers: list[LiveServer] = []

    def start(compact_seconds: float = 60.0) -> tuple[LiveServer, str, Workspace]:
        ws = make_workspace(tmp_path / "ws")
        _, key = create_key(ws, "write")
        servers.append(LiveServer(ws.root, compact_seconds))
        return servers[-1], key, ws

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.kill()


def test_real_segment_client_sync_and_batching_with_gzip(
    live: Callable[..., tuple[LiveServer, str, Workspace]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """segment-analytics-python, unchanged but for host: sync mode (one request per call) and
    batching mode (gzip, many events per request) — every event lands exactly once."""
    import segment.analytics as analytics
    from segment.analytics import Client

    server, key, ws = live()
    errors: list[Any] = []
    for name, value in {
        "write_key": key,
        "host": server.url,
        "sync_mode": True,
        "gzip": True,
        "on_error": lambda error, items: errors.append(error),
        "default_client": None,
    }.items():
        monkeypatch.setattr(analytics, name, value)
    sent: list[str] = []
    sent.append(
        analytics.identify("ann", {"email": "ann@example.com", "plan": "pro"})[1]["messageId"]
    )
    sent.append(analytics.track("ann", "Signed Up", {"plan": "pro"})[1]["messageId"])
    sent.append(analytics.page("ann", "Docs", "Install", {"path": "/docs"})[1]["messageId"])
    sent.append(analytics.screen("ann", "App", "Home")[1]["messageId"])
    sent.append(analytics.group("ann", "acme", {"name": "Acme"})[1]["messageId"])
    sent.append(analytics.alias("anon-1", "ann")[1]["messageId"])
    sent.append(analytics.track(anonymous_id="anon-2", event="Visited")[1]["messageId"])

    client = Client(
        key, host=server.url, gzip=True, upload_size=40, upload_interval=0.05, on_error=
        lambda error, items: errors.append(error), max_queue_size=10_000,
    )  # fmt: skip
    for i in range(600):
        ok, msg = client.track(f"user-{i % 37}", "Viewed Page", {"i": i, "path": f"/p/{i}"})
        assert ok
        sent.append(msg["messageId"])
    client.flush()
    client.join()
    assert errors == []
    server.stop()  # lands everything
    rows = landed_events(ws)
    assert sorted(r["message_id"] for r in rows) == sorted(sent)
    assert len({r["message_id"] for r in rows}) == len(rows) == 607
    types = [r["type"] for r in rows[:7]]
    assert types == ["identify", "track", "page", "screen", "group", "alias", "track"]
    assert rows[0]["email"] == "ann@example.com"
    assert all(r["received_at"] is not None for r in rows)
    assert not quarantined(ws)


@pytest.mark.slow
def test_real_client_events_reach_the_read_api(
    live: Callable[..., tuple[LiveServer, str, Workspace]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sent with the Segment client, landed by the running server's compactor, run through
    POST /api/runs: the contact's timeline in the read API lists exactly those events."""
    import httpx
    import segment.analytics as analytics

    server, key, ws = live(compact_seconds=0.2)
    _, admin_key = create_key(ws, "admin")  # starts the run, and may read
    for name, value in {
        "write_key": key, "host": server.url, "sync_mode": True, "default_client": None,
    }.items():  # fmt: skip
        monkeypatch.setattr(analytics, name, value)
    sent = {analytics.identify("ann", {"email": "ann@example.com"})[1]["messageId"]}
    sent |= {analytics.track("ann", f"Step {i}")[1]["messageId"] for i in range(3)}
    deadline = time.monotonic() + 60
    while len(landed_events(ws)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)  # the compactor lands while the server runs
    read = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=server.url, headers=read, timeout=30) as http:
        run = http.post("/api/runs", json={})
        assert run.status_code == 202, run.text
        status = run.json()
        while status["status"] == "running" and time.monotonic() < deadline + 120:
            time.sleep(0.2)
            status = http.get(f"/api/runs/{status['id']}").json()
        assert status["status"] == "succeeded", status
        timeline = http.get("/api/contacts/ann/timeline").json()
    assert {item["message_id"] for item in timeline["items"]} == sent
    server.stop()


# -- the HTTP server's own errors ---------------------------------------------------------------

BROKEN_REQUESTS = [
    b"GARBAGE\r\n\r\n",  # not a request line
    b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",  # a header without ':'
    b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",  # a space in a header name
    b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",  # a NUL in the target
]


def _raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes on a fresh connection; the status, headers and body of the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    return int(status_line.split()[1]), headers, body


@contextmanager
def _uvicorn(app: Any, **options: Any) -> Iterator[int]:
    """``app`` served by uvicorn (in a thread) on a free loopback port."""
    import uvicorn
    from live_server import free_port

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", lifespan="off", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.mark.parametrize("http", ["auto", "h11", "httptools"])
def test_the_http_servers_own_400_is_json(tmp_path: Path, http: str) -> None:
    """Finding 6: uvicorn answered a broken request (bad request line, bad header) with its
    own text/plain 400; served as clientela serves, it is JSON with code and message, with
    each of uvicorn's HTTP implementations."""
    from clientela.api.errors import HTTP_PROTOCOLS, server_options

    ws = make_workspace(tmp_path / "ws")
    with _uvicorn(create_app(ws), **{**server_options(), "http": HTTP_PROTOCOLS[http]}) as port:
        for request in BROKEN_REQUESTS:
            status, headers, body = _raw_exchange(port, request)
            assert status == 400, (request, body)
            assert headers["content-type"] == "application/json", (request, headers, body)
            assert int(headers["content-length"]) == len(body)
            answer = orjson.loads(body)
            assert answer["code"] == "invalid_http" and answer["message"], answer
        close = b"Host: x\r\nConnection: close\r\n"
        status, headers, body = _raw_exchange(port, b"GET /nope HTTP/1.1\r\n" + close + b"\r\n")
        assert status == 404 and orjson.loads(body)["code"] == "not_found"
        # The app has no WebSocket route: an upgrade request is an ordinary (JSON) 404.
        upgrade = b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        upgrade += b"Sec-WebSocket-Version: 13\r\n"
        status, headers, body = _raw_exchange(
            port, b"GET /v1/track HTTP/1.1\r\n" + close + upgrade + b"\r\n"
        )
        assert status == 405 and orjson.loads(body)["code"] == "method_not_allowed", body


def test_clientela_serve_answers_broken_requests_in_json(
    live: Callable[..., tuple[LiveServer, str, Workspace]],
) -> None:
    """`clientela serve` itself: a broken request line is a JSON 400, not uvicorn's text."""
    server, _key, _ws = live()
    status, headers, body = _raw_exchange(server.port, BROKEN_REQUESTS[0])
    server.stop()
    assert status == 400 and headers["content-type"] == "application/json", body
    assert orjson.loads(body)["code"] == "invalid_http"
