"""Quarantine: list, show, and retry after fixing the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clientela.errors import NotFoundError
from clientela.ingest import quarantine
from clientela.ingest.files import ingest_files
from clientela.workspace import open_workspace
from conftest import make_workspace
from helpers import landed_events, quarantined
from journeys import Journeys


def test_retry_lands_records_once_config_allows_them(tmp_path: Path) -> None:
    """Too-large events land after max_event_bytes is raised and they are retried."""
    ws = make_workspace(tmp_path / "ws")
    big = {
        "type": "track",
        "event": "Big",
        "userId": "u1",
        "messageId": "big",
        "properties": {"notes": "n" * 40_000},
    }
    path = Journeys().raw(json.dumps(big)).raw("garbage").write(tmp_path / "e.jsonl")
    ingest_files(ws, [path])
    assert sorted(r["reason"] for r in quarantined(ws)) == ["invalid_json", "too_large"]

    (ws.root / "clientela.toml").write_text("[ingest]\nmax_event_bytes = 100000\n")
    ws = open_workspace(ws.root)
    report = quarantine.retry(ws)
    assert report.retried == 2
    assert (report.landing.accepted, report.landing.quarantined) == (1, 1)
    [still] = quarantined(ws)
    assert still["reason"] == "invalid_json" and still["line"] == 2
    [landed] = landed_events(ws)
    assert landed["message_id"] == "big" and landed["source"] == str(path) and landed["line"] == 1

    again = quarantine.retry(ws)  # idempotent: the landed one is no longer open
    assert again.retried == 1 and again.landing.accepted == 0
    assert len(landed_events(ws)) == 1


def test_filters_summary_and_show(tmp_path: Path) -> None:
    """Records filter by reason; show finds one by id prefix; unknown ids are a clear error."""
    ws = make_workspace(tmp_path / "ws")
    path = Journeys().raw("nope").raw('{"type":"track","userId":"u"}').write(tmp_path / "e.jsonl")
    ingest_files(ws, [path])
    assert quarantine.summary(ws) == [("events", "invalid_json", 1), ("events", "missing_event", 1)]
    [only] = quarantine.open_records(
        ws, quarantine.QuarantineFilter(reason="missing_event")
    ).to_pylist()
    shown = quarantine.get(ws, only["quarantine_id"][:8])
    assert shown["line"] == 2 and bytes(shown["raw"]) == b'{"type":"track","userId":"u"}'
    with pytest.raises(NotFoundError, match="no open quarantined record"):
        quarantine.get(ws, "zzzz")


def test_reingesting_a_bad_file_does_not_duplicate_quarantine(tmp_path: Path) -> None:
    """The same bad line landed twice is one open quarantined record."""
    ws = make_workspace(tmp_path / "ws")
    path = Journeys().raw("nope").write(tmp_path / "e.jsonl")
    ingest_files(ws, [path])
    ingest_files(ws, [path])
    assert len(quarantined(ws)) == 1
