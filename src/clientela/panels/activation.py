"""The report's Activation section: segment members over time, the latest run's actions
(planned by action, suppressed by reason) and the loyalty club's tiers.

Every panel is a function of published activation tables (:class:`Tables`, pyarrow) and a
:class:`~clientela.panels.Canvas`; an empty table gives a short sentence saying why instead of
an empty chart. :func:`read` loads the tables from an engine; :func:`section` assembles it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from clientela.activation import actions as published_actions
from clientela.activation import segment_reads
from clientela.activation.loyalty import published as published_loyalty
from clientela.panels import Canvas
from clientela.report import PALETTE, _layout, _table, esc


@dataclass
class Tables:
    """The published activation tables one Activation section is drawn from."""

    segment_history: pa.Table
    actions: pa.Table
    loyalty: pa.Table
    tiers: list[str]
    """The tiers of ``[loyalty] tiers``, lowest first."""


def read(engine: Any, tiers: list[str]) -> Tables:
    """The current published version's activation tables (empty ones if it predates them)."""
    history = segment_reads.table(engine, "segment_history").select("segment", "change", "at")
    actions = published_actions.table(engine, "actions").select(
        "action", "status", "suppressed_reason"
    )
    loyalty = published_loyalty.table(engine, "loyalty").select("tier", "balance")
    return Tables(
        segment_history=engine.to_arrow(history),
        actions=engine.to_arrow(actions),
        loyalty=engine.to_arrow(loyalty),
        tiers=tiers,
    )


def _empty(reason: str) -> str:
    return f'<p class="empty"><span class="na">n/a</span> ({esc(reason)})</p>'


def members_over_time(history: pa.Table) -> dict[str, list[tuple[datetime, int]]]:
    """Per segment, its member count after each run that changed it: the running sum of
    +1 per ``entered`` and -1 per ``left``, in time order."""
    changes: dict[str, Counter[datetime]] = defaultdict(Counter)
    for row in history.to_pylist():
        changes[row["segment"]][row["at"]] += 1 if row["change"] == "entered" else -1
    series: dict[str, list[tuple[datetime, int]]] = {}
    for segment in sorted(changes):
        count, points = 0, []
        for at in sorted(changes[segment]):
            count += changes[segment][at]
            points.append((at, count))
        series[segment] = points
    return series


def segment_counts(canvas: Canvas, tables: Tables) -> str:
    """Members of every segment after each run (one line per segment)."""
    series = members_over_time(tables.segment_history)
    if not series:
        body = _empty("no segment has had a member yet: define [segments.NAME] and run")
        what = "How many contacts each segment holds, run after run."
    else:
        data = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": segment,
                "x": [at.isoformat() for at, _ in points],
                "y": [n for _, n in points],
                "line": {"shape": "hv", "color": PALETTE[i % len(PALETTE)]},
                "hovertemplate": f"{esc(segment)}: %{{y:,}} members<extra></extra>",
            }
            for i, (segment, points) in enumerate(series.items())
        ]
        layout = _layout(
            xaxis={"type": "date", "title": {"text": "run"}},
            yaxis={"title": {"text": "members"}, "rangemode": "tozero"},
        )
        body = canvas.plot(data, layout, 300, "Segment members after each run")
        latest = ", ".join(f"{s} {points[-1][1]:,}" for s, points in series.items())
        what = f"Members after the latest run: {latest}."
    return canvas.figure(
        "Segment members over time",
        what,
        "members after a run = entered \u2212 left, summed over the runs up to it",
        body,
    )


def actions_of_the_day(canvas: Canvas, tables: Tables) -> str:
    """The latest run's actions: planned by action, and suppressed by the policy's reason."""
    rows = tables.actions.to_pylist()
    planned = Counter(r["action"] for r in rows if r["status"] == "planned")
    stopped = Counter(
        (r["suppressed_reason"] or "").split(":", 1)[0] for r in rows if r["status"] != "planned"
    )
    if not rows:
        body = _empty("the playbook proposed nothing in the latest run")
        what = "What the playbook proposed and what the contact policy let through."
    else:
        body_rows = [
            [esc(action), esc("planned"), esc(f"{n:,}")] for action, n in planned.most_common()
        ]
        body_rows += [
            [esc(reason), esc("suppressed"), esc(f"{n:,}")] for reason, n in stopped.most_common()
        ]
        body = _table(("action or reason", "status", "actions"), body_rows, (False, False, True))
        what = (
            f"{sum(planned.values()):,} planned and {sum(stopped.values()):,} suppressed by "
            "the contact policy, each with its reason."
        )
    return canvas.figure(
        "Actions of the latest run",
        what,
        "at most one action per contact; the policy's first reason wins: do-not-contact, "
        "consent, non-buyer class, quiet hours, frequency cap",
        body,
    )


def loyalty_tiers(canvas: Canvas, tables: Tables) -> str:
    """Members and points held per loyalty tier."""
    rows = tables.loyalty.to_pylist()
    if not rows:
        body = _empty("no loyalty member in this published version")
        what = "The loyalty club's members by tier."
    else:
        members = Counter(r["tier"] for r in rows)
        points: defaultdict[str, float] = defaultdict(float)
        for r in rows:
            # A balance that is not a finite number (hostile input) counts as none held.
            balance = r["balance"]
            points[r["tier"]] += balance if balance is not None and math.isfinite(balance) else 0.0
        order = [t for t in tables.tiers if t in members] + sorted(
            t for t in members if t not in tables.tiers
        )
        data = [
            {
                "type": "bar",
                "x": order,
                "y": [members[t] for t in order],
                "customdata": [round(points[t]) for t in order],
                "marker": {"color": PALETTE[2]},
                "hovertemplate": "%{x}: %{y:,} members holding %{customdata:,} points"
                "<extra></extra>",
            }
        ]
        layout = _layout(
            xaxis={"type": "category", "title": {"text": "tier"}},
            yaxis={"title": {"text": "members"}},
            showlegend=False,
        )
        body = canvas.plot(data, layout, 260, "Loyalty members by tier")
        liability = sum(points.values())
        what = f"{len(rows):,} members holding {liability:,.0f} points (the liability)."
    return canvas.figure(
        "Loyalty tiers",
        what,
        "tier = the highest whose threshold the points earned in the rolling window reach",
        body,
    )


def section(canvas: Canvas, tables: Tables) -> str:
    """The Activation section of the report."""
    figures = [
        segment_counts(canvas, tables),
        actions_of_the_day(canvas, tables),
        loyalty_tiers(canvas, tables),
    ]
    return (
        '<section id="activation"><h2>Activation</h2>'
        '<p class="what">What the latest run decided to do: segments, the next best actions '
        "the contact policy let through, and the loyalty club.</p>"
        f'<div class="grid">{"".join(figures)}</div></section>'
    )
