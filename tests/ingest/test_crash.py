"""A crash half-way through landing leaves whole segments only; a re-run completes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientela.ingest import lander as lander_module
from clientela.ingest.files import ingest_files
from conftest import make_workspace
from helpers import landed_events
from journeys import Journeys


class Crash(Exception):
    pass


def _many(n: int) -> Journeys:
    j = Journeys()
    for i in range(n):
        j.track("Viewed", user_id=f"u{i % 7}", properties={"i": i, "pad": "x" * 200})
    return j


def test_crash_between_chunks_then_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after two chunks: the landed part is whole; the re-run adds only the rest."""
    ws = make_workspace(tmp_path / "ws", "[ingest]\nchunk_bytes = 4096\n")
    path = _many(300).write(tmp_path / "e.jsonl")
    real_land = lander_module.EventLander.land
    calls = {"n": 0}

    def crashing_land(self: lander_module.EventLander, lines: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash("power cut")
        return real_land(self, lines)  # type: ignore[arg-type]

    monkeypatch.setattr(lander_module.EventLander, "land", crashing_land)
    with pytest.raises(Crash):
        ingest_files(ws, [path])
    partial = landed_events(ws)
    assert 0 < len(partial) < 300
    monkeypatch.setattr(lander_module.EventLander, "land", real_land)
    report = ingest_files(ws, [path])
    rows = landed_events(ws)
    assert report.accepted == 300 - len(partial)
    assert report.duplicates == len(partial)
    assert sorted(r["line"] for r in rows) == list(range(1, 301))


def test_crash_while_writing_a_segment_leaves_no_torn_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash mid-write leaves nothing where readers look; the re-run lands everything once."""
    ws = make_workspace(tmp_path / "ws")
    path = _many(50).write(tmp_path / "e.jsonl")
    import clientela.workspace as workspace_module

    original = workspace_module.os.replace

    def crash_before_rename(src: object, dst: object) -> None:
        raise Crash("killed before rename")

    monkeypatch.setattr(workspace_module.os, "replace", crash_before_rename)
    with pytest.raises(Crash):
        ingest_files(ws, [path])
    assert ws.segments(ws.events_dir) == []
    monkeypatch.setattr(workspace_module.os, "replace", original)
    report = ingest_files(ws, [path])
    assert report.accepted == 50 and len(landed_events(ws)) == 50
    assert not list(ws.tmp_dir.glob("*.partial"))
