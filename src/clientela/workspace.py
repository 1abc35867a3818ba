"""A workspace: one folder with ``clientela.toml`` and the data landed and computed in it.

Layout::

    clientela.toml
    landed/events/      append-only Parquet segments of normalised events
    landed/contacts/    CRM contact imports (Parquet, one file per import)
    landed/accounts/    CRM account imports
    quarantine/         rejected records with source, line and reason; resolutions of retries
    state/              the DuckDB file and other engine state
    results/            published computation results
    tmp/                files being written (renamed into place when whole)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clientela.config import (
    CONFIG_FILE,
    DEFAULT_TOML,
    PRESETS,
    Settings,
    load_settings,
    model_toml,
)
from clientela.errors import ConfigError, WorkspaceError

WORKSPACE_ENV = "CLIENTELA_WORKSPACE"
FOLDERS = (
    "landed/events",
    "landed/contacts",
    "landed/accounts",
    "quarantine",
    "state",
    "results",
    "tmp",
)


@dataclass(frozen=True)
class Workspace:
    """An opened workspace: its root folder and validated settings."""

    root: Path
    settings: Settings

    @property
    def events_dir(self) -> Path:
        return self.root / "landed" / "events"

    @property
    def contacts_dir(self) -> Path:
        return self.root / "landed" / "contacts"

    @property
    def accounts_dir(self) -> Path:
        return self.root / "landed" / "accounts"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def segments(self, folder: Path, prefix: str = "") -> list[Path]:
        """Whole Parquet files in a folder, oldest first (names sort by creation time)."""
        if not folder.exists():
            return []
        return sorted(p for p in folder.glob(f"{prefix}*.parquet") if p.is_file())

    @contextmanager
    def atomic_file(self, target: Path) -> Iterator[Path]:
        """Yield a temporary path to write; on success fsync it and rename it to ``target``.

        A crash before the rename leaves only a file in ``tmp/`` (ignored and cleaned later),
        never a torn file where readers look.
        """
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_dir / f"{target.name}.{uuid.uuid4().hex}.partial"
        try:
            yield tmp
            _fsync_file(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        finally:
            if tmp.exists():
                tmp.unlink()

    def clean_tmp(self) -> int:
        """Remove files left in ``tmp/`` by an interrupted run; returns how many."""
        removed = 0
        if self.tmp_dir.exists():
            for leftover in self.tmp_dir.glob("*.partial"):
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed


def new_segment_name(kind: str) -> str:
    """A file name that sorts by creation time and never collides: ``kind-<utc>-<random>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{kind}-{stamp}-{uuid.uuid4().hex[:12]}.parquet"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def resolve_root(path: Path | str | None) -> Path:
    """The workspace folder: the given path, else ``$CLIENTELA_WORKSPACE``, else the cwd."""
    if path is not None:
        return Path(path).expanduser().resolve()
    env = os.environ.get(WORKSPACE_ENV)
    return Path(env).expanduser().resolve() if env else Path.cwd().resolve()


def init_workspace(path: Path | str, preset: str | None = None) -> Workspace:
    """Create a workspace (folders and a commented ``clientela.toml``); existing files are kept.

    With ``preset`` ('b2b' or 'b2c'), the settings file holds that scoring model written out
    in full (as ``[models.main]``) instead of the two default models, ready to edit.
    """
    root = Path(path).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    config = root / CONFIG_FILE
    if not config.exists():
        text = DEFAULT_TOML
        if preset is not None:
            if preset not in PRESETS:
                raise ConfigError("--preset", preset, "one of " + ", ".join(PRESETS))
            start = text.index("[models.b2b]")
            end = text.index("[scoring]")
            text = text[:start] + model_toml("main", preset, applies_to="all") + "\n" + text[end:]
        config.write_text(text, encoding="utf-8")
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    return open_workspace(root)


def open_workspace(path: Path | str | None = None) -> Workspace:
    """Open an existing workspace; a folder without ``clientela.toml`` is refused."""
    root = resolve_root(path)
    config = root / CONFIG_FILE
    if not config.exists():
        raise WorkspaceError(
            f"{root} is not a clientela workspace (no {CONFIG_FILE}); "
            f"create one with: clientela init {root}"
        )
    settings: Settings = load_settings(config)
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    return Workspace(root=root, settings=settings)
