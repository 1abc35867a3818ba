"""A small world for the segment commands and routes: ``buyers`` (an order in the last 30
days) evaluated at two as-of times, so its history has an entry, an exit and a new entry.

Run 1 at T: a ordered at T-5d (in), b at T-40d (out). Run 2 at T+30d: a's order is 35 days
old (a left), c ordered at T+20d (c entered), b still out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clientela.workspace import Workspace
from helpers import land, run_job
from journeys import Journeys

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LATER = T + timedelta(days=30)

SETTINGS = """
[segments.buyers]
description = "Ordered in the last 30 days"
all = [{ did = "Order Completed", within_days = 30 }]
"""


def build(ws: Workspace) -> None:
    """Land the journeys and run the job at T, then at LATER."""
    j = Journeys()
    for who, day in (("a", -5), ("b", -40), ("c", 20)):
        j.identify(user_id=who, traits={"email": f"{who}@home.example"}, at=T + timedelta(days=-50))
        j.track(
            "Order Completed", user_id=who, properties={"total": 10}, at=T + timedelta(days=day)
        )
    land(ws, j)
    run_job(ws, T)
    run_job(ws, LATER)
