"""Workspace settings: defaults, and errors that name the key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientela.config import DEFAULT_TOML, Settings, load_settings, parse_settings
from clientela.errors import ConfigError, WorkspaceError
from clientela.workspace import init_workspace, open_workspace


def test_default_toml_is_the_defaults(tmp_path: Path) -> None:
    """The commented file `clientela init` writes parses to exactly the built-in defaults."""
    path = tmp_path / "clientela.toml"
    path.write_text(DEFAULT_TOML)
    assert load_settings(path) == Settings()


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"engine": {"kind": "postgres"}}, r"engine.kind' = 'postgres'.*'duckdb' or 'spark'"),
        ({"ingest": {"max_event_bytes": -1}}, r"ingest.max_event_bytes' = -1.*greater than 0"),
        ({"engine": {"kindd": "duckdb"}}, r"engine.kindd.*no such setting"),
        ({"identity": {"merge_identified_on_email": "maybe"}}, r"merge_identified_on_email"),
        ({"report": {"timezone": "Mars/Olympus"}}, r"report.timezone' = 'Mars/Olympus'.*IANA"),
    ],
)
def test_bad_settings_name_key_value_and_expectation(data: dict[str, object], pattern: str) -> None:
    """Each bad setting raises ConfigError with key, value and what is expected."""
    with pytest.raises(ConfigError, match=pattern):
        parse_settings(data)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    """A TOML syntax error names the file."""
    path = tmp_path / "clientela.toml"
    path.write_text("[engine\nkind=1")
    with pytest.raises(ConfigError, match=r"clientela\.toml"):
        load_settings(path)


def test_open_requires_a_workspace(tmp_path: Path) -> None:
    """Opening a folder that is not a workspace says how to create one."""
    with pytest.raises(WorkspaceError, match="clientela init"):
        open_workspace(tmp_path)
    ws = init_workspace(tmp_path / "new")
    assert (ws.root / "clientela.toml").exists() and ws.events_dir.is_dir()
