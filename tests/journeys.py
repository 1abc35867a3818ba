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


def subscriber_journeys() -> Journeys:
    """Five subscribers in 2025 (UTC; default settings: a monthly plan is due again after
    31 days + 7 days of grace = 38 days). Every expected number in the tests comes from this:

    ann  identifies 10 Jan 08:00; Order Completed 10 Jan 09:00 (subscription s-ann, plan
         basic, total 30, monthly); renewed on the 10th of Feb and Mar; on 10 Apr renewed
         on plan pro for 50; renewed 10 May and 10 Jun. Never logs in.
    bob  Subscription Started 15 Jan 09:00, plan team, 1200 a year (MRR 1200 / 12 = 100).
    cy   Subscription Started 1 Feb 09:00, plan pro, 50; Invoice Paid 1 Mar 09:00 on plan
         basic, 30; nothing after: lapses 1 Mar 09:00 + 38 days = 8 Apr 09:00.
    dee  Subscription Started 5 Jan 09:00 (d1, 20), renewed 5 Feb, cancelled 20 Feb 09:00;
         Subscription Started 3 May 09:00 (d2, 25), lapses 3 May + 38 days = 10 Jun 09:00.
    eve  Subscription Started 3 Mar 09:00 (40), cancelled 20 Mar 09:00.
    """
    j = Journeys()

    def on(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    for user, day in (("ann", "01-10"), ("bob", "01-15"), ("cy", "02-01"), ("dee", "01-05")):
        j.identify(
            user_id=user, traits={"email": f"{user}@mail.example"}, at=on(f"2025-{day} 08:00")
        )
    j.identify(user_id="eve", traits={"email": "eve@mail.example"}, at=on("2025-03-03 08:00"))
    basic = {"subscription_id": "s-ann", "plan": "basic", "total": 30, "interval": "monthly"}
    j.track("Order Completed", user_id="ann", properties=basic, at=on("2025-01-10 09:00"))
    for month in ("02", "03"):
        j.track(
            "Subscription Renewed",
            user_id="ann",
            at=on(f"2025-{month}-10 09:00"),
            properties={"subscription_id": "s-ann"},
        )
    pro = {"subscription_id": "s-ann", "plan": "pro", "amount": 50}
    j.track("Subscription Renewed", user_id="ann", properties=pro, at=on("2025-04-10 09:00"))
    for month in ("05", "06"):
        j.track(
            "Subscription Renewed",
            user_id="ann",
            at=on(f"2025-{month}-10 09:00"),
            properties={"subscription_id": "s-ann"},
        )
    team = {"plan": "team", "amount": 1200, "interval": "year"}
    j.track("Subscription Started", user_id="bob", properties=team, at=on("2025-01-15 09:00"))
    j.track(
        "Subscription Started",
        user_id="cy",
        properties={"plan": "pro", "amount": 50},
        at=on("2025-02-01 09:00"),
    )
    j.track(
        "Invoice Paid",
        user_id="cy",
        properties={"plan": "basic", "amount": 30},
        at=on("2025-03-01 09:00"),
    )
    d1 = {"subscription_id": "d1", "amount": 20}
    j.track("Subscription Started", user_id="dee", properties=d1, at=on("2025-01-05 09:00"))
    j.track(
        "Subscription Renewed",
        user_id="dee",
        properties={"subscription_id": "d1"},
        at=on("2025-02-05 09:00"),
    )
    j.track(
        "Subscription Cancelled",
        user_id="dee",
        properties={"subscription_id": "d1"},
        at=on("2025-02-20 09:00"),
    )
    d2 = {"subscription_id": "d2", "amount": 25}
    j.track("Subscription Started", user_id="dee", properties=d2, at=on("2025-05-03 09:00"))
    j.track(
        "Subscription Started", user_id="eve", properties={"amount": 40}, at=on("2025-03-03 09:00")
    )
    j.track("Subscription Cancelled", user_id="eve", at=on("2025-03-20 09:00"))
    return j
