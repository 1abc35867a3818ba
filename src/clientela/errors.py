"""One error hierarchy. Every message says what was wrong, where, and what was expected."""

from __future__ import annotations

from pathlib import Path


class ClientelaError(Exception):
    """Base of every error clientela raises on purpose; the CLI prints its message in one line."""


class ConfigError(ClientelaError):
    """A setting in ``clientela.toml`` (or given as a flag) is wrong."""

    def __init__(self, key: str, value: object, expected: str, source: Path | str | None = None):
        self.key = key
        self.value = value
        self.expected = expected
        where = f"{source}: " if source else ""
        super().__init__(f"{where}setting '{key}' = {value!r} is not valid; expected {expected}")


class WorkspaceError(ClientelaError):
    """The workspace is missing, or not a clientela workspace."""


class InputError(ClientelaError):
    """An input file cannot be read at all (not a record-level problem: those go to quarantine)."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.reason = reason
        at = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{at}: {reason}")


class NotFoundError(ClientelaError):
    """A contact, account or record asked for by id does not exist."""
