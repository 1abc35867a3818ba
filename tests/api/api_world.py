"""A small published world for the read API's tests, with a read and a write key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clientela.keys import create_key
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, run_job
from journeys import Journeys
from worlds import CUSTOMER_AS_OF, customer_journeys

AS_OF = CUSTOMER_AS_OF


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class World:
    ws: Workspace
    read_key: str
    write_key: str
    tables: dict[str, list[dict[str, object]]]

    @property
    def read(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.read_key}"}


def journeys() -> Journeys:
    """The customer world (tests/worlds.py) plus an account (a and c at Acme, e at Beta),
    a student (excluded, with evidence) and an anonymous visitor with several pages."""
    j = customer_journeys()
    j.group(
        "acme",
        user_id="a",
        traits={"name": "Acme", "website": "acme.example", "employees": 200},
        at=at("2025-01-05 09:00"),
    )
    j.group("acme", user_id="c", traits={"name": "Acme"}, at=at("2025-02-05 10:00"))
    j.group(
        "beta",
        user_id="e",
        traits={"name": "Beta Ltd", "website": "beta.example"},
        at=at("2025-03-01 10:00"),
    )
    j.identify(user_id="s", traits={"email": "sam@uni.edu"}, at=at("2025-03-05 09:00"))
    j.track("Logged In", user_id="s", at=at("2025-03-06 09:00"))
    for day in range(1, 8):
        j.page(
            anonymous_id="visitor", properties={"path": f"/p{day}"}, at=at(f"2025-04-0{day} 12:00")
        )
    return j


def build(root: Path) -> World:
    ws = make_workspace(root)
    land(ws, journeys())
    tables = run_job(ws, AS_OF)
    _, read_key = create_key(ws, "read", "tests-read")
    _, write_key = create_key(ws, "write", "tests-write")
    return World(ws, read_key, write_key, tables)
