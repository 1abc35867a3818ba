"""Landing hostile records: each bad record goes to quarantine alone; the rest always lands."""

from __future__ import annotations

import json
import tempfile
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientela.ingest import lander as lander_module
from clientela.ingest.files import ingest_files
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import landed_events, quarantined
from journeys import Journeys

GOOD = '{"type":"track","event":"ok","userId":"good","messageId":"good-1"}'


def land_lines(ws: Workspace, tmp_path: Path, *lines: str, name: str = "in.jsonl") -> Any:
    """Land a file holding a good record, then ``lines``; return the landing report."""
    j = Journeys().raw(GOOD)
    for line in lines:
        j.raw(line)
    return ingest_files(ws, [j.write(tmp_path / name)])


def track(**fields: Any) -> str:
    return json.dumps({"type": "track", "event": "e", "userId": "x", **fields})


# Each of these used to land or to stop the whole chunk from landing (issue 10, findings 1, 2
# and 6): infinite times, years out of range, a sentAt skew far into the past, impossible offsets.
OUT_OF_RANGE = [
    pytest.param(
        track(timestamp="2026-01-01T00:00:00Z", sentAt="infinity"), "sentAt", id="sent-inf"
    ),
    pytest.param(track(timestamp="infinity"), "timestamp", id="ts-infinity"),
    pytest.param(track(timestamp="-infinity"), "timestamp", id="ts-minus-infinity"),
    pytest.param(track(timestamp="10000-01-01T00:00:00Z"), "timestamp", id="year-10000"),
    pytest.param(track(originalTimestamp="1901-01-01T00:00:00Z"), "originalTimestamp", id="1901"),
    pytest.param(track(receivedAt="2100-01-01T00:00:00Z"), "receivedAt", id="received-2100"),
    pytest.param(track(timestamp="2026-01-01T00:00:00+99:99"), "timestamp", id="offset-99:99"),
    pytest.param(track(timestamp="epoch"), "timestamp", id="epoch-word"),
    pytest.param(
        # 2026-01-01 - (2099-12-31 - 1970-01-02) lands in 1896: each time is in the window,
        # the corrected one is not.
        track(
            originalTimestamp="1970-01-02T00:00:00Z",
            sentAt="2099-12-31T00:00:00Z",
            receivedAt="2026-01-01T00:00:00Z",
        ),
        "sentAt",
        id="skew-before-1970",
    ),
]


@pytest.mark.parametrize(("line", "field"), OUT_OF_RANGE)
def test_out_of_range_times_quarantine_only_that_record(
    workspace: Workspace, tmp_path: Path, line: str, field: str
) -> None:
    """A time that is infinite, outside 1970..2100 or skewed out of it is bad_timestamp."""
    report = land_lines(workspace, tmp_path, line, GOOD.replace("good-1", "good-2"))
    assert (report.accepted, report.quarantined) == (2, 1)
    [record] = quarantined(workspace)
    assert (record["reason"], record["field"]) == ("bad_timestamp", field)
    assert record["line"] == 2 and bytes(record["raw"]).decode() == line
    assert "1970-01-01" in record["detail"] and "2100-01-01" in record["detail"]


def test_infinite_sent_at_in_a_batch_rejects_only_that_item(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A batch item (or a batch sentAt) that breaks time arithmetic spoils no other item."""
    j = Journeys()
    good = j.message("track", event="A", user_id="u1")
    bad = j.message("track", event="B", user_id="u2", sent_at="infinity")
    j.batch([good, bad])
    j.batch([j.message("track", event="C", user_id="u3")], sent_at="-infinity")
    j.raw(GOOD)
    report = ingest_files(workspace, [j.write(tmp_path / "b.jsonl")])
    assert (report.accepted, report.quarantined) == (2, 2)
    assert {r["event"] for r in landed_events(workspace)} == {"A", "ok"}
    assert sorted((r["line"], r["item"], r["reason"]) for r in quarantined(workspace)) == [
        (1, 2, "bad_timestamp"),
        (2, 1, "bad_timestamp"),
    ]


def test_time_window_is_configurable(tmp_path: Path) -> None:
    """[ingest] earliest and latest move the window: old history can be let in."""
    ws = make_workspace(tmp_path / "ws", '[ingest]\nearliest = "1900-01-01"\n')
    report = land_lines(ws, tmp_path, track(timestamp="1950-06-01T00:00:00Z"))
    assert (report.accepted, report.quarantined) == (2, 0)
    stamps = {r["user_id"]: r["timestamp"] for r in landed_events(ws)}
    assert stamps["x"] == datetime(1950, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (track(userId="a\u0000b"), "userId"),
        (track(anonymousId="a\nb"), "anonymousId"),
        (json.dumps({"type": "group", "userId": "u", "groupId": "g\u0007"}), "groupId"),
        (json.dumps({"type": "alias", "userId": "u", "previousId": "\u001bp"}), "previousId"),
        (
            json.dumps({"type": "identify", "userId": "u", "traits": {"email": "a\u0000@x.com"}}),
            "traits.email",
        ),
    ],
)
def test_ids_with_control_characters_are_quarantined(
    workspace: Workspace, tmp_path: Path, line: str, field: str
) -> None:
    """An id (or email) holding a NUL or other control character can never be looked up:
    it is rejected as bad_id, not stored."""
    report = land_lines(workspace, tmp_path, line)
    assert (report.accepted, report.quarantined) == (1, 1)
    [record] = quarantined(workspace)
    assert (record["reason"], record["field"]) == ("bad_id", field)
    assert "control character" in record["detail"]


def test_reused_message_id_with_other_content_is_kept_in_quarantine(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A messageId already landed, sent again with different content, is not dropped without
    a trace: it is quarantined as conflicting_duplicate. A true retry (same content, new
    sentAt/receivedAt) is a plain duplicate."""
    first = track(messageId="m1", timestamp="2026-01-01T00:00:00Z", properties={"n": 1})
    ingest_files(workspace, [Journeys().raw(first).write(tmp_path / "a.jsonl")])
    retry = track(
        messageId="m1",
        timestamp="2026-01-01T00:00:00Z",
        properties={"n": 1},
        sentAt="2026-01-01T00:00:05Z",
        receivedAt="2026-01-01T00:00:06Z",
    )
    changed = track(messageId="m1", timestamp="2026-01-01T00:00:00Z", properties={"n": 2})
    report = ingest_files(
        workspace, [Journeys().raw(retry).raw(changed).write(tmp_path / "b.jsonl")]
    )
    assert (report.accepted, report.duplicates, report.quarantined) == (0, 1, 1)
    [record] = quarantined(workspace)
    assert (record["reason"], record["field"], record["line"]) == (
        "conflicting_duplicate",
        "messageId",
        2,
    )
    assert "m1" in record["detail"]
    assert [json.loads(r["properties"]) for r in landed_events(workspace)] == [{"n": 1}]


def test_reused_message_id_inside_one_file(workspace: Workspace, tmp_path: Path) -> None:
    """Inside one file the first record wins and a later one with other content is kept."""
    a = track(messageId="m1", timestamp="2026-01-01T00:00:00Z", event="A")
    b = track(messageId="m1", timestamp="2026-01-01T00:00:00Z", event="B")
    report = ingest_files(workspace, [Journeys().raw(a).raw(a).raw(b).write(tmp_path / "c.jsonl")])
    assert (report.accepted, report.duplicates, report.quarantined) == (1, 1, 1)
    [record] = quarantined(workspace)
    assert (record["reason"], record["line"]) == ("conflicting_duplicate", 3)


def test_a_record_that_breaks_normalisation_is_isolated(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever makes the engine raise on one record (here an injected error), only that record
    goes to quarantine, as unprocessable with the engine's message; the chunk lands."""
    original = lander_module.normalise_statements

    def sabotaged(*args: Any, **kwargs: Any) -> list[str]:
        statements = original(*args, **kwargs)
        # The first statement parses the lines: make it raise for any line holding "boom".
        statements[0] = (
            statements[0].replace("FROM ", "FROM (SELECT * FROM ", 1).rstrip()
            + " WHERE CASE WHEN contains(raw, 'boom') THEN error('kaboom') ELSE true END)\n"
        )
        return statements

    monkeypatch.setattr(lander_module, "normalise_statements", sabotaged)
    lines = [track(messageId=f"m{i}", event="boom" if i == 7 else "fine") for i in range(20)]
    report = land_lines(workspace, tmp_path, *lines)
    assert (report.accepted, report.quarantined) == (20, 1)
    [record] = quarantined(workspace)
    assert (record["reason"], record["line"]) == ("unprocessable", 9)
    assert "kaboom" in record["detail"]


# -- property: arbitrary JSON in any field never stalls landing ---------------------------------

FIELDS = [
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
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "infinity",
            "-infinity",
            "NaN",
            "10000-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "2026-01-01T00:00:00+99:99",
            "2026-02-30",
            "\u0000",
            "[/bold]",
            "null",
            "2026-01-01T00:00:00Z",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from([*FIELDS, "email", "x"]), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.sampled_from(FIELDS), json_values), min_size=1, max_size=8))
def test_arbitrary_values_in_any_field_never_stall_landing(
    tmp_path: Path, mutations: list[tuple[str, Any]]
) -> None:
    """Good events each with one field set to an arbitrary JSON value, between untouched good
    events: every record lands once or is quarantined with a reason; nothing raises; every
    landed time is inside the window and no landed id holds a control character."""
    ws = make_workspace(Path(tempfile.mkdtemp(dir=tmp_path)) / "ws")  # one per example
    j = Journeys()
    hostile = 0
    for n, (field, value) in enumerate(mutations):
        j.track("ok", user_id=f"good-{n}", message_id=f"good-{n}")
        msg = j.message("track", event="e", user_id=f"u{n}", message_id=f"bad-{n}")
        msg[field] = value
        j.add(msg)
        hostile += 1
    report = ingest_files(ws, [j.write(ws.root / "in.jsonl")])
    landed = landed_events(ws)
    held = quarantined(ws)
    # Every line is accounted for exactly once (a batch line may hold several records).
    landed_lines = {r["line"] for r in landed}
    held_lines = {r["line"] for r in held}
    assert landed_lines | held_lines == set(range(1, 2 * hostile + 1))
    good = [r for r in landed if str(r["message_id"]).startswith("good-")]
    assert sorted(r["message_id"] for r in good) == sorted(f"good-{n}" for n in range(hostile))
    assert all(r["reason"] and r["detail"] for r in held)
    assert report.accepted == len(landed) and report.quarantined == len(held)
    low, high = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    for row in landed:
        for column in ("timestamp", "original_timestamp", "sent_at", "received_at"):
            assert row[column] is None or low <= row[column] < high, (column, row)
        for column in ("user_id", "anonymous_id", "previous_id", "group_id", "email"):
            value = row[column]
            assert value is None or all(unicodedata.category(c) != "Cc" for c in value), row


def test_empty_batch_is_kept_and_a_typed_message_with_batch_key_lands(
    workspace: Workspace, tmp_path: Path
) -> None:
    """An envelope with no events is quarantined (not silently gone); a message that has a
    'type' is a message even if it carries a 'batch' key."""
    report = land_lines(workspace, tmp_path, '{"batch": []}', track(batch=[]))
    assert (report.accepted, report.quarantined) == (2, 1)
    [record] = quarantined(workspace)
    assert (record["reason"], record["field"], record["line"]) == ("empty_batch", "batch", 2)


def test_c1_control_characters_count_too(workspace: Workspace, tmp_path: Path) -> None:
    """U+0085 (next line) is a control character like NUL; other Unicode ids are fine."""
    report = land_lines(workspace, tmp_path, track(userId="a\u0085b"), track(userId="Ñandú-東京"))
    assert (report.accepted, report.quarantined) == (2, 1)
    assert {r["user_id"] for r in landed_events(workspace)} == {"good", "Ñandú-東京"}
