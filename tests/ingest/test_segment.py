"""Landing Segment-spec files: call types, normalisation, dedupe, quarantine reasons."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clientela.ingest.files import ingest_files
from clientela.ingest.lander import LandingReport
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import landed_events, quarantined
from journeys import OMIT, Journeys


def land(ws: Workspace, j: Journeys, tmp_path: Path, name: str = "events.jsonl") -> LandingReport:
    return ingest_files(ws, [j.write(tmp_path / name)])


def test_each_call_type_lands_with_its_fields(workspace: Workspace, tmp_path: Path) -> None:
    """identify, track, page, screen, group and alias each land with their ids and payloads."""
    j = Journeys()
    j.identify(user_id="u1", anonymous_id="a1", traits={"email": "ann@x.com", "plan": "pro"})
    j.track("Order Completed", user_id="u1", properties={"revenue": 42.5})
    j.page(anonymous_id="a1", name="Pricing", properties={"path": "/pricing"})
    j.screen(user_id="u1", name="Home")
    j.group("acc-1", user_id="u1", traits={"name": "Acme", "employees": 50})
    j.alias("a-old", "u1")
    report = land(workspace, j, tmp_path)
    assert report.accepted == 6 and report.quarantined == 0
    rows = {r["type"]: r for r in landed_events(workspace)}
    assert set(rows) == {"identify", "track", "page", "screen", "group", "alias"}
    assert rows["identify"]["email"] == "ann@x.com"
    assert json.loads(rows["identify"]["traits"]) == {"email": "ann@x.com", "plan": "pro"}
    assert rows["track"]["event"] == "Order Completed"
    assert json.loads(rows["track"]["properties"]) == {"revenue": 42.5}
    assert rows["page"]["name"] == "Pricing" and rows["page"]["user_id"] is None
    assert rows["screen"]["name"] == "Home"
    assert rows["group"]["group_id"] == "acc-1"
    assert json.loads(rows["group"]["traits"]) == {"name": "Acme", "employees": 50}
    assert rows["group"]["email"] is None
    assert rows["alias"]["previous_id"] == "a-old" and rows["alias"]["user_id"] == "u1"


def test_raw_line_is_kept_verbatim_when_asked(tmp_path: Path) -> None:
    """With [ingest] keep_raw, the stored raw text is the input line byte for byte (spacing
    and key order kept)."""
    workspace = make_workspace(tmp_path / "ws", "[ingest]\nkeep_raw = true\n")
    line = '{ "type" : "track", "event":"X",  "userId":"u1", "zeta": 1, "alpha": [1, 2] }'
    report = land(workspace, Journeys().raw(line), tmp_path)
    assert report.accepted == 1
    assert landed_events(workspace)[0]["raw"] == line


def test_raw_line_is_not_kept_by_default(workspace: Workspace, tmp_path: Path) -> None:
    """By default an accepted event keeps its normalised fields only; a quarantined record
    and a conflicting duplicate keep their raw bytes."""
    first = '{"type": "track", "event": "X", "userId": "u1", "messageId": "m1"}'
    clash = '{"type": "track", "event": "Y", "userId": "u1", "messageId": "m1"}'
    broken = '{"type": "track", "userId": "u1"'
    report = land(workspace, Journeys().raw(first).raw(clash).raw(broken), tmp_path)
    assert (report.accepted, report.quarantined) == (1, 2)
    [event] = landed_events(workspace)
    assert event["raw"] is None and event["event"] == "X"
    raws = sorted(bytes(r["raw"]).decode() for r in quarantined(workspace))
    assert raws == sorted([clash, broken])


def test_context_traits_merge_under_identify_traits(workspace: Workspace, tmp_path: Path) -> None:
    """context.traits fill in identify traits; an explicit trait wins over context.traits."""
    j = Journeys().identify(
        user_id="u1",
        traits={"name": "New"},
        context={"traits": {"email": " Ann@X.COM ", "name": "Old"}, "ip": "1.2.3.4"},
    )
    land(workspace, j, tmp_path)
    row = landed_events(workspace)[0]
    assert json.loads(row["traits"]) == {"email": " Ann@X.COM ", "name": "New"}
    assert row["email"] == "ann@x.com"  # lower-cased and trimmed for identity


def test_batch_context_merges_into_each_item(workspace: Workspace, tmp_path: Path) -> None:
    """A batch's context applies to every item; an item's own keys win."""
    j = Journeys()
    items = [
        j.message("track", event="A", user_id="u1"),
        j.message("track", event="B", user_id="u1", context={"ip": "9.9.9.9"}),
    ]
    j.batch(items, context={"ip": "1.1.1.1", "library": {"name": "lib"}})
    report = land(workspace, j, tmp_path)
    assert report.accepted == 2
    rows = landed_events(workspace)
    assert [r["item"] for r in rows] == [1, 2]
    assert json.loads(rows[0]["context"]) == {"ip": "1.1.1.1", "library": {"name": "lib"}}
    assert json.loads(rows[1]["context"]) == {"ip": "9.9.9.9", "library": {"name": "lib"}}


def test_sent_at_corrects_clock_skew(workspace: Workspace, tmp_path: Path) -> None:
    """timestamp = receivedAt - (sentAt - originalTimestamp) when sentAt is present."""
    j = Journeys().track(
        "Skewed",
        user_id="u1",
        timestamp=OMIT,
        original_timestamp="2025-03-01T10:00:00Z",  # device clock
        sent_at="2025-03-01T10:05:00Z",  # device clock, 5 min later
        received_at="2025-03-01T12:00:30Z",  # server clock
    )
    land(workspace, j, tmp_path)
    row = landed_events(workspace)[0]
    # 12:00:30 - (10:05:00 - 10:00:00) = 11:55:30
    assert row["timestamp"] == datetime(2025, 3, 1, 11, 55, 30, tzinfo=UTC)
    assert row["original_timestamp"] == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def test_batch_sent_at_applies_to_items(workspace: Workspace, tmp_path: Path) -> None:
    """A batch-level sentAt corrects items that carry a timestamp but no sentAt."""
    j = Journeys()
    item = j.message("track", event="A", user_id="u1", timestamp="2025-03-01T10:00:00Z")
    item["receivedAt"] = "2025-03-01T10:00:10Z"
    j.batch([item], sent_at="2025-03-01T10:00:04Z")
    land(workspace, j, tmp_path)
    # 10:00:10 - (10:00:04 - 10:00:00) = 10:00:06
    assert landed_events(workspace)[0]["timestamp"] == datetime(2025, 3, 1, 10, 0, 6, tzinfo=UTC)


def test_timestamps_are_stored_in_utc(workspace: Workspace, tmp_path: Path) -> None:
    """An offset time is converted to UTC; a time without offset is read as UTC."""
    j = Journeys()
    j.track("A", user_id="u1", timestamp="2025-03-01T10:00:00+02:00")
    j.track("B", user_id="u1", timestamp="2025-03-01T10:00:00")
    land(workspace, j, tmp_path)
    rows = landed_events(workspace)
    assert rows[0]["timestamp"] == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert rows[1]["timestamp"] == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def test_received_at_is_stamped_when_absent(workspace: Workspace, tmp_path: Path) -> None:
    """Without receivedAt in the record, the landing time is stamped."""
    before = datetime.now(UTC)
    land(workspace, Journeys().track("A", user_id="u1"), tmp_path)
    stamped = landed_events(workspace)[0]["received_at"]
    assert before <= stamped <= datetime.now(UTC)


def test_numeric_ids_become_text_and_null_other_id_is_allowed(
    workspace: Workspace, tmp_path: Path
) -> None:
    """userId 42 is stored as '42'; anonymousId null is fine when userId is there."""
    land(workspace, Journeys().track("A", user_id=42, anonymous_id=None), tmp_path)
    row = landed_events(workspace)[0]
    assert row["user_id"] == "42" and row["anonymous_id"] is None


def test_reingesting_the_same_file_adds_nothing(workspace: Workspace, tmp_path: Path) -> None:
    """Dedupe on messageId: a second landing of the same file lands zero events."""
    j = Journeys().track("A", user_id="u1").track("B", user_id="u1")
    path = j.write(tmp_path / "e.jsonl")
    first = ingest_files(workspace, [path])
    second = ingest_files(workspace, [path])
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (second.accepted, second.duplicates) == (0, 2)
    assert len(landed_events(workspace)) == 2


def test_records_without_message_id_get_a_content_id(workspace: Workspace, tmp_path: Path) -> None:
    """Without messageId, an id from the content makes re-landing idempotent too."""
    j = (
        Journeys()
        .track("A", user_id="u1", message_id=OMIT)
        .track("B", user_id="u1", message_id=OMIT)
    )
    path = j.write(tmp_path / "e.jsonl")
    ingest_files(workspace, [path])
    again = ingest_files(workspace, [path])
    rows = landed_events(workspace)
    assert again.accepted == 0 and len(rows) == 2
    assert all(r["message_id"].startswith("md5:") for r in rows)
    assert rows[0]["message_id"] != rows[1]["message_id"]


def test_duplicates_inside_one_file_keep_the_first(workspace: Workspace, tmp_path: Path) -> None:
    """Two records with one messageId in a file: the first (in file order) lands; a retry
    with the same content is a duplicate, one with other content is quarantined."""
    j = Journeys()
    first = j.message("track", event="First", user_id="u1", message_id="same")
    j.add(first).add({**first, "sentAt": "2025-01-06T09:00:05Z"})
    j.track("Second", user_id="u1", message_id="same")
    report = land(workspace, j, tmp_path)
    assert (report.accepted, report.duplicates, report.quarantined) == (1, 1, 1)
    assert landed_events(workspace)[0]["event"] == "First"
    assert [r["reason"] for r in quarantined(workspace)] == ["conflicting_duplicate"]


def test_gzip_and_folders_and_crlf(workspace: Workspace, tmp_path: Path) -> None:
    """Gzipped files, folders of files and Windows line breaks all land."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(
        b'{"type":"track","event":"A","userId":"u1","messageId":"1"}\r\n\r\n'
    )
    with gzip.open(folder / "b.jsonl.gz", "wb") as fh:
        fh.write(b'{"type":"track","event":"B","userId":"u1","messageId":"2"}\n')
    report = ingest_files(workspace, [folder])
    assert (report.accepted, report.quarantined, report.blank) == (2, 0, 1)
    assert [r["event"] for r in landed_events(workspace)] == ["A", "B"]


BAD_LINES = [
    ("not json at all", "invalid_json", None),
    ("[1, 2, 3]", "not_an_object", None),
    ('{"event":"A","userId":"u1"}', "missing_type", "type"),
    ('{"type":"teleport","userId":"u1"}', "unknown_type", "type"),
    ('{"type":"track","event":"A"}', "missing_id", "userId/anonymousId"),
    ('{"type":"track","event":"A","userId":"undefined"}', "missing_id", "userId/anonymousId"),
    ('{"type":"track","userId":"u1"}', "missing_event", "event"),
    ('{"type":"group","userId":"u1"}', "missing_group_id", "groupId"),
    ('{"type":"alias","userId":"u1"}', "missing_previous_id", "previousId"),
    ('{"type":"track","event":"A","userId":{"id":1}}', "wrong_type", "userId"),
    ('{"type":"track","event":"A","userId":1.5}', "wrong_type", "userId"),
    ('{"type":"track","event":"A","userId":"u1","properties":"x"}', "wrong_type", "properties"),
    ('{"type":"track","event":7,"userId":"u1"}', "wrong_type", "event"),
    (
        '{"type":"track","event":"A","userId":"u1","timestamp":"yesterday"}',
        "bad_timestamp",
        "timestamp",
    ),
    ('{"type":"track","event":"A","userId":"u1","sentAt":12345}', "bad_timestamp", "sentAt"),
    ('{"batch": {"not": "a list"}}', "wrong_type", "batch"),
]


@pytest.mark.parametrize(("line", "reason", "field"), BAD_LINES)
def test_each_quarantine_reason(
    workspace: Workspace, tmp_path: Path, line: str, reason: str, field: str | None
) -> None:
    """A bad record goes to quarantine verbatim, with its file, line, reason and field."""
    good = '{"type":"track","event":"ok","userId":"u1","messageId":"good"}'
    path = Journeys().raw(good).raw(line).write(tmp_path / "bad.jsonl")
    report = ingest_files(workspace, [path])
    assert report.accepted == 1 and report.quarantined == 1
    [record] = quarantined(workspace)
    assert record["reason"] == reason
    assert record["field"] == field
    assert record["source"] == str(path) and record["line"] == 2
    assert bytes(record["raw"]).decode() == line
    assert record["detail"]


def test_too_large_event_is_quarantined(workspace: Workspace, tmp_path: Path) -> None:
    """An event over 32 KB is rejected with its size in the detail."""
    big = json.dumps(
        {"type": "track", "event": "A", "userId": "u1", "properties": {"x": "y" * 40_000}}
    )
    report = land(workspace, Journeys().raw(big), tmp_path)
    [record] = quarantined(workspace)
    assert report.quarantined == 1 and record["reason"] == "too_large"
    assert str(len(big)) in record["detail"] and "32768" in record["detail"]
    assert bytes(record["raw"]).decode() == big


def test_too_large_item_in_a_batch_rejects_only_that_item(
    workspace: Workspace, tmp_path: Path
) -> None:
    """In a batch, each item is checked on its own: the other items land."""
    j = Journeys()
    small = j.message("track", event="A", user_id="u1")
    large = j.message("track", event="B", user_id="u1", properties={"x": "y" * 40_000})
    j.batch([small, large])
    report = land(workspace, j, tmp_path)
    assert (report.accepted, report.quarantined) == (1, 1)
    [record] = quarantined(workspace)
    assert record["reason"] == "too_large" and record["item"] == 2 and record["line"] == 1


def test_invalid_utf8_is_kept_as_bytes(workspace: Workspace, tmp_path: Path) -> None:
    """A line that is not UTF-8 is quarantined with its exact bytes; other lines land."""
    path = tmp_path / "e.jsonl"
    bad = b'{"type":"track","event":"caf\xe9","userId":"u1"}'
    path.write_bytes(b'{"type":"track","event":"A","userId":"u1"}\n' + bad + b"\n")
    report = ingest_files(workspace, [path])
    [record] = quarantined(workspace)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert record["reason"] == "invalid_utf8" and bytes(record["raw"]) == bad


def test_configured_junk_ids_count_as_missing(tmp_path: Path) -> None:
    """identity.junk_ids extends the built-in placeholder list."""
    ws = make_workspace(tmp_path / "ws", '[identity]\njunk_ids = ["nobody"]\n')
    j = Journeys().track("A", user_id="nobody").track("B", user_id="nobody", anonymous_id="a1")
    report = land(ws, j, tmp_path)
    assert (report.accepted, report.quarantined) == (1, 1)
    row = landed_events(ws)[0]
    assert row["user_id"] is None and row["anonymous_id"] == "a1"


def test_long_lines_across_chunks(tmp_path: Path) -> None:
    """Lines longer than a read chunk, and chunk edges inside lines, lose nothing."""
    ws = make_workspace(tmp_path / "ws", "[ingest]\nchunk_bytes = 1024\n")
    j = Journeys()
    for i in range(200):
        j.track("A", user_id=f"u{i}", properties={"pad": "x" * (i * 13 % 3000)})
    report = land(ws, j, tmp_path)
    rows = landed_events(ws)
    assert report.accepted == 200 and len(rows) == 200
    assert [r["line"] for r in rows] == list(range(1, 201))
