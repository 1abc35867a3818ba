"""A small builder of Segment-spec event files for tests: say what people do, get JSONL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds, as Segment libraries write it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journeys:
    """Collects Segment messages; every message gets a deterministic messageId unless told.

    ``at`` is a datetime or a number of hours after the builder's start.
    """

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.lines: list[str] = []
        self._n = 0

    def _time(self, at: datetime | float | None) -> datetime:
        if at is None:
            return self.start + timedelta(minutes=self._n)
        if isinstance(at, datetime):
            return at
        return self.start + timedelta(hours=at)

    def message(
        self, kind: str, at: datetime | float | None = None, **fields: Any
    ) -> dict[str, Any]:
        """A message dict (not yet added): type, timestamp, messageId, then the fields."""
        self._n += 1
        msg: dict[str, Any] = {"type": kind, "messageId": f"msg-{self._n:05d}"}
        if "timestamp" not in fields:
            msg["timestamp"] = iso(self._time(at))
        for key, value in fields.items():
            if value is not _OMIT:
                msg[_camel(key)] = value
            else:
                msg.pop(_camel(key), None)
        return msg

    def add(self, msg: dict[str, Any]) -> Journeys:
        self.lines.append(json.dumps(msg))
        return self

    def identify(self, at: datetime | float | None = None, **fields: Any) -> Journeys:
        return self.add(self.message("identify", at, **fields))

    def track(self, event: str, at: datetime | float | None = None, **fields: Any) -> Journeys:
        return self.add(self.message("track", at, event=event, **fields))

    def page(self, at: datetime | float | None = None, **fields: Any) -> Journeys:
        return self.add(self.message("page", at, **fields))

    def screen(self, at: datetime | float | None = None, **fields: Any) -> Journeys:
        return self.add(self.message("screen", at, **fields))

    def group(self, group_id: str, at: datetime | float | None = None, **fields: Any) -> Journeys:
        return self.add(self.message("group", at, group_id=group_id, **fields))

    def alias(
        self, previous_id: str, user_id: str, at: datetime | float | None = None, **fields: Any
    ) -> Journeys:
        return self.add(
            self.message("alias", at, previous_id=previous_id, user_id=user_id, **fields)
        )

    def batch(self, messages: list[dict[str, Any]], **envelope: Any) -> Journeys:
        return self.add({"batch": messages, **{_camel(k): v for k, v in envelope.items()}})

    def raw(self, line: str) -> Journeys:
        """A line exactly as given (for malformed input)."""
        self.lines.append(line)
        return self

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        return path


class _Omit:
    pass


_OMIT = _Omit()
OMIT: Any = _OMIT
"""Pass as a field value to leave the key out (e.g. ``messageId=OMIT``)."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
