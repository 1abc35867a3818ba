"""The engine layer's own hardening: a validated memory limit, no half-written version folder
left behind, and one-sentence errors instead of DuckDB's for a busy workspace or a full disk."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from clientela.config import parse_settings
from clientela.engine import DiskFullError, Engine, WorkspaceBusyError, connect
from clientela.engine.core import CURRENT
from clientela.errors import ClientelaError, ConfigError
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import run_job

# -- [engine] memory_limit -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [("1.5GB", "1.5GB"), ("512MiB", "512MiB"), ("80%", "80%"), (" 4 gb ", "4GB"), ("", "")],
)
def test_memory_limit_accepts_sizes_and_percentages(given: str, kept: str) -> None:
    settings = parse_settings({"engine": {"memory_limit": given}})
    assert settings.engine.memory_limit == kept


@pytest.mark.parametrize(
    "bad",
    ["4GB'; SELECT 1; --", "lots", "4 parsecs", "150%", "0%", "0GB", "-1GB", "GB", "1.5.2GB"],
)
def test_a_bad_memory_limit_is_a_config_error_naming_the_key(bad: str) -> None:
    """Before: pasted into SQL as is (``SET memory_limit = '{value}'``)."""
    with pytest.raises(ConfigError, match=r"engine\.memory_limit"):
        parse_settings({"engine": {"memory_limit": bad}})


@pytest.mark.parametrize("limit", ["512MiB", "50%"])
def test_the_engine_applies_the_memory_limit(tmp_path: Path, limit: str) -> None:
    ws = make_workspace(tmp_path / "ws", f'[engine]\nmemory_limit = "{limit}"\n')
    engine = connect(ws, reader=True)
    try:
        shown = engine.backend.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        engine.close()
    if limit == "512MiB":
        assert shown == "512.0 MiB"
    else:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        number, unit = shown.split()
        scale = {"MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]
        assert abs(float(number) * scale - total / 2) < total * 0.02


# -- half-written versions -------------------------------------------------------------------


def _versions(ws: Workspace) -> set[str]:
    return {p.name for p in ws.results_dir.iterdir() if p.is_dir()}


def test_a_failed_publish_leaves_no_version_folder(workspace: Workspace) -> None:
    """A publish that fails half-way removes its own folder (and publishes nothing)."""
    engine = connect(workspace)
    try:
        good = engine.backend.sql("SELECT 1 AS x")
        bad = engine.backend.sql("SELECT CAST('x' AS INTEGER) AS x")
        with pytest.raises(Exception, match="Conversion"):
            engine.publish({"good": good, "bad": bad})
    finally:
        engine.close()
    assert _versions(workspace) == set()
    assert not (workspace.results_dir / CURRENT).exists()


KILLED_PUBLISH = """
import os, sys, time
from clientela.engine import connect
from clientela.workspace import open_workspace
engine = connect(open_workspace(sys.argv[1]))
slow = engine.backend.sql("SELECT 1 AS x")
def stall(name):
    print("WRITING", flush=True)
    time.sleep(600)
engine.publish({"first": slow, "second": slow}, on_table=stall)
"""


def _start_publish(ws: Workspace) -> subprocess.Popen[str]:
    """A process that publishes one table, then stalls mid-publish (until killed)."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_PUBLISH, str(ws.root)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "WRITING"
    return child


def test_a_killed_publish_is_cleaned_by_the_next_one_but_a_live_one_is_not(
    tmp_path: Path,
) -> None:
    """Before: the folder of a killed publish stayed forever. Now the next publish removes
    it, and never removes the current version or one a live process is still writing."""
    ws = make_workspace(tmp_path / "ws")
    run_job(ws)
    current = (ws.results_dir / CURRENT).read_text().strip()
    killed = _start_publish(ws)
    half = _versions(ws) - {current}
    assert len(half) == 1
    killed.kill()
    killed.wait()
    # Another process is now writing a version (it is stalled, but alive).
    live = _start_publish(ws)
    try:
        writing = _versions(ws) - {current} - half
        assert len(writing) == 1
        # Its writer holds the workspace's DuckDB file, so the next publish comes from a
        # reader engine here (a publish writes Parquet; any engine can).
        engine = connect(ws, reader=True)
        try:
            done = engine.publish({"t": engine.backend.sql("SELECT 1 AS x")})
        finally:
            engine.close()
        assert _versions(ws) == {current, done, *writing}  # the killed one is gone
    finally:
        live.kill()
        live.wait()


# -- a busy workspace, a full disk ---------------------------------------------------------------


HOLD_LOCK = """
import sys, time
from clientela.engine import connect
from clientela.workspace import open_workspace
engine = connect(open_workspace(sys.argv[1]))
print("HOLDING", flush=True)
time.sleep(600)
"""


def test_a_busy_workspace_is_one_sentence_naming_the_other_process(workspace: Workspace) -> None:
    """Before: DuckDB's 'IO Error: Could not set lock on file ... Conflicting lock is held'."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(workspace.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "HOLDING"
        with pytest.raises(WorkspaceBusyError) as caught:
            connect(workspace)
        message = str(caught.value)
        assert f"pid {holder.pid}" in message
        assert "in use by another clientela process" in message
        assert "Conflicting lock" not in message and "\n" not in message
        assert isinstance(caught.value, ClientelaError)
    finally:
        holder.kill()
        holder.wait()


def _to_dev_full(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every Parquet file the engine writes go to /dev/full (ENOSPC on write)."""
    real = engine.backend.to_parquet

    def full(expr: Any, path: Any, **kwargs: Any) -> Any:
        return real(expr, "/dev/full", **kwargs)

    monkeypatch.setattr(engine.backend, "to_parquet", full)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_sentence_saying_what_to_do(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: DuckDB's 'IO Error: Could not write file ...: No space left on device'."""
    engine = connect(workspace)
    try:
        _to_dev_full(engine, monkeypatch)
        table = engine.backend.sql("SELECT range AS x FROM range(100000)")
        began = time.monotonic()
        with pytest.raises(DiskFullError) as caught:
            engine.publish({"t": table})
        assert time.monotonic() - began < 30
    finally:
        engine.close()
    message = str(caught.value)
    assert "no space left" in message.lower() and "free" in message and "\n" not in message
    assert _versions(workspace) == set()


def test_engine_errors_are_translated_in_one_place() -> None:
    """The translation is by message, so any path that meets these errors says the same."""
    from clientela.engine.core import translate_engine_error

    busy = translate_engine_error(
        OSError(
            'IO Error: Could not set lock on file "/w/state/clientela.duckdb": Conflicting '
            "lock is held in /usr/bin/python3.11 (PID 4242) by user me. See also https://x"
        )
    )
    assert isinstance(busy, WorkspaceBusyError) and "pid 4242" in str(busy)
    full = translate_engine_error(OSError(28, "No space left on device"))
    assert isinstance(full, DiskFullError)
    assert translate_engine_error(ValueError("something else")) is None
