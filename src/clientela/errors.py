"""One error hierarchy. Every message says what was wrong, where, and what was expected."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """``"; did you mean 'prospect'?"`` when one of ``known`` is close to ``value`` (the same
    but for case, or a close spelling), else ``""``: the tail of an "unknown ..." message."""
    choices = list(known)
    by_case = {c.lower(): c for c in choices}
    close = [by_case[value.lower()]] if value.lower() in by_case else []
    if not close:
        lowered = difflib.get_close_matches(value.lower(), list(by_case), n=1, cutoff=0.5)
        close = [by_case[c] for c in lowered]
    return f"; did you mean {close[0]!r}?" if close else ""


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
