"""Funnels: how many contacts go through a series of steps, and how long it takes them.

**funnel** — options ``steps``, ``mode``, ``window`` and ``against``.

* A *step* is a track event name (``Signed Up``) or a page view of one exact path
  (``page:/pricing``). ``steps`` lists them, separated by commas; the same step may appear
  twice (``Order Completed,Order Completed``: two different orders).
* A contact *enters* the funnel at their first occurrence of step 1 in a period (events in
  the same second are taken in message-id order); the entry belongs to that period. Each
  contact enters at most once per period, so step 1 counts every entrant once; an entry in
  the next period is a new, independent attempt.
* The conversion *window* (``30d``, ``12h``, ``90m``, ``2w``) is measured from the entry:
  a later step counts only if it happens at most ``window`` after step 1. Steps may happen
  after the end of the range (up to the as-of) as long as they are inside the window.
* ``mode``:

  - ``ordered`` (default): step k is the first occurrence of its event at or after step
    k − 1 — the same second counts (ties are allowed), but one event never counts for two
    steps. Other events in between do not matter.
  - ``strict``: step k must be the contact's very next event after step k − 1. The events
    that can come between are the contact's track, page and screen events; *passive* events
    (things that happen to a contact: email opens, renewals, agent replies) and identify,
    group and alias calls never break a strict funnel unless they are themselves a step.
    Events are ordered by timestamp, then message id.
  - ``unordered``: step 1 is still the entry, but steps 2.. may happen in any order after
    it, inside the window. A contact reaches step k when each of steps 1..k happened at
    least once (a step listed twice needs two events), at the time the last of them
    happened.

* ``against``: ``first`` (default) — conversion = contacts at step k / contacts at step 1;
  ``previous`` — contacts at step k / contacts at step k − 1.

Columns per (period, step): ``contacts`` reached the step; ``conversion`` (%); ``dropped`` =
reached step k − 1 but not step k (0 at step 1); ``median_hours`` and ``p90_hours`` — time
from step 1 to this step of the contacts who reached it, nearest-rank (0 at step 1).
Step labels are ``1 Signed Up``, ``2 page:/pricing``, ...

The facts have one row per (entry, step): ``entered_secs`` (UTC epoch second of step 1),
``reached`` and ``reached_previous`` (1 or 0) and ``seconds_to_step`` (empty when not
reached), so ``who`` with ``reached=1`` lists the contacts who reached a step and
``reached=0`` those who did not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce
from typing import Any

import ibis
import ibis.expr.types as ir

from clientela.errors import ClientelaError
from clientela.metrics.base import NA, Context, Metric, Value, ratio, register
from clientela.metrics.limits import LimitError

MODES = ("ordered", "strict", "unordered")
AGAINST = ("first", "previous")
WINDOW_UNITS = {"m": 60, "h": 3_600, "d": 86_400, "w": 7 * 86_400}
ANY = "any"


@dataclass(frozen=True)
class EventSpec:
    """One kind of event: a track event by name, a page view by exact path, or (``any``)
    any non-passive event of a contact."""

    text: str
    kind: str  # "event", "page" or "any"
    value: str

    def matches(self, table: ir.Table) -> ir.BooleanValue:
        """True for the rows of ``table`` (the ``activity`` table) that are this event."""
        if self.kind == "page":
            return (table.type == "page") & (table.path == self.value)
        if self.kind == "any":
            return ~table.passive
        return (table.type == "track") & (table.event == self.value)


def parse_event(text: str, option: str, allow_any: bool = False) -> EventSpec:
    """``Signed Up`` → a track event; ``page:/pricing`` → a page view of /pricing;
    ``any`` (where allowed) → any non-passive event."""
    text = text.strip()
    if allow_any and text.lower() == ANY:
        return EventSpec(ANY, "any", "")
    if text.lower().startswith("page:"):
        path = text[len("page:") :].strip()
        if not path:
            raise ClientelaError(
                f"option {option!r}: 'page:' needs a path, as in 'page:/pricing' (got {text!r})"
            )
        return EventSpec(f"page:{path}", "page", path)
    if not text:
        raise ClientelaError(
            f"option {option!r}: an empty event name; give event names or page:/path, "
            "separated by commas"
        )
    return EventSpec(text, "event", text)


def parse_events(text: str, option: str, allow_any: bool = False) -> list[EventSpec]:
    """A comma-separated list of events (see :func:`parse_event`)."""
    return [parse_event(part, option, allow_any) for part in text.split(",")]


def matches_any(table: ir.Table, specs: list[EventSpec]) -> ir.BooleanValue:
    """True for the rows that are any of ``specs``.

    One ``IN`` list per kind of event, not one ``OR`` per name: nested ``OR``s of a long
    list overflowed the stack when the expression was compiled."""
    names = list(dict.fromkeys(s.value for s in specs if s.kind == "event"))
    paths = list(dict.fromkeys(s.value for s in specs if s.kind == "page"))
    parts: list[ir.BooleanValue] = []
    if any(s.kind == "any" for s in specs):
        parts.append(~table.passive)
    if names:
        parts.append((table.type == "track") & table.event.isin(names))
    if paths:
        parts.append((table.type == "page") & table.path.isin(paths))
    return reduce(lambda a, b: a | b, parts)


def _steps(ctx: Context) -> list[EventSpec]:
    steps = parse_events(ctx.option("steps"), "steps")
    if len(steps) < 2:
        raise ClientelaError(
            "option 'steps': a funnel needs at least two steps, separated by commas "
            f"(got {ctx.option('steps')!r})"
        )
    limit = ctx.limits.funnel_steps
    if len(steps) > limit:
        raise LimitError(
            "steps",
            len(steps),
            limit,
            f"option 'steps': {len(steps)} steps is more than the limit of {limit} steps "
            "of one funnel; split it into shorter funnels",
        )
    return steps


def _mode(ctx: Context) -> str:
    return ctx.option("mode")  # one of MODES: the metric's choices


def _against(ctx: Context) -> str:
    return ctx.option("against")  # one of AGAINST


def window_seconds(text: str) -> int:
    """``30d``, ``12h``, ``90m`` or ``2w`` → seconds (a whole, positive number of units)."""
    found = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text.lower())
    if not found or int(found.group(1)) == 0:
        raise ClientelaError(
            "option 'window' must be a positive whole number of minutes, hours, days or "
            f"weeks, like 90m, 12h, 30d or 2w (not {text!r})"
        )
    return int(found.group(1)) * WINDOW_UNITS[found.group(2)]


def step_labels(steps: list[EventSpec]) -> list[str]:
    """``1 Signed Up``, ``2 page:/pricing``, ... (numbers padded so labels sort in order)."""
    width = len(str(len(steps)))
    return [f"{n:0{width}d} {spec.text}" for n, spec in enumerate(steps, start=1)]


def _first_per_entry(table: ir.Table, order: list[str]) -> ir.Table:
    """The first row of ``table`` per (period, contact_id) by ``order``."""
    w = ibis.window(group_by=[table.period, table.contact_id], order_by=[table[c] for c in order])
    ranked = table.mutate(_rn=ibis.row_number().over(w))
    return ranked.filter(ranked._rn == 0).drop("_rn")


def _ordered(
    ctx: Context, entries: ir.Table, events: ir.Table, defs: list[int], window: int
) -> list[ir.Table]:
    """Per step k ≥ 2: (period, contact_id, k, reach_secs) of the entries that reached it.

    Step k depends on where step k − 1 was reached, so the steps are found one after the
    other; each step's matches are computed (cached) before the next one is built from
    them. Built as one expression instead, step k nested the k − 1 before it: 18 steps
    overflowed the stack and the engine's plan grew exponentially with the steps."""
    reached: list[ir.Table] = []
    current = entries.select("period", "contact_id", "t1", prev=entries.t1, m_1=entries.m1)
    for k in range(2, len(defs) + 1):
        candidates = events.filter(events.def_index == defs[k - 1]).select(
            e_contact="contact_id", e_secs="secs", e_msg="message_id"
        )
        same = [j for j in range(1, k) if defs[j - 1] == defs[k - 1]]
        joined = current.join(
            candidates,
            [
                current.contact_id == candidates.e_contact,
                candidates.e_secs >= current.prev,
                candidates.e_secs <= current.t1 + window,
                *[candidates.e_msg != current[f"m_{j}"] for j in same],
            ],
        )
        first = _first_per_entry(joined, ["e_secs", "e_msg"])
        used = [f"m_{j}" for j in range(1, k)]
        current = ctx.engine.cache(
            first.select(
                "period", "contact_id", "t1", *used, prev=first.e_secs, **{f"m_{k}": first.e_msg}
            )
        )
        reached.append(
            current.select("period", "contact_id", k=ibis.literal(k, "int64"), reach_secs="prev")
        )
    return reached


def _strict(entries: ir.Table, events: ir.Table, defs: list[int], window: int) -> list[ir.Table]:
    """Strict steps: step k is the contact's (k − 1)-th next event (``seq``) after step 1.

    One flat join for all steps: an entry's events at offsets 1..n − 1 that are the step
    of their offset, inside the window; the entry reached step k when offsets 1..k − 1 all
    matched, i.e. while the j-th matched offset (in order) is j itself."""
    candidates = events.select(
        e_contact="contact_id", e_secs="secs", e_seq="seq", e_def="def_index"
    )
    joined = entries.join(
        candidates,
        [
            entries.contact_id == candidates.e_contact,
            candidates.e_seq > entries.seq,
            candidates.e_seq < entries.seq + len(defs),
            candidates.e_secs <= entries.t1 + window,
        ],
    )
    placed = joined.select("period", "contact_id", "e_secs", "e_def", gap=joined.e_seq - joined.seq)
    wanted = ibis.cases(*[(placed.gap == j, defs[j]) for j in range(1, len(defs))], else_=-1)
    matched = placed.filter(placed.e_def == wanted)
    w = ibis.window(group_by=[matched.period, matched.contact_id], order_by=[matched.gap])
    ranked = matched.mutate(_nth=ibis.row_number().over(w) + 1)
    prefix = ranked.filter(ranked.gap == ranked._nth)
    return [
        prefix.select("period", "contact_id", k=(prefix.gap + 1).cast("int64"), reach_secs="e_secs")
    ]


def _unordered(entries: ir.Table, events: ir.Table, defs: list[int], window: int) -> list[ir.Table]:
    """Step k is reached when every step 1..k has happened (as often as it is listed)
    inside the window, at the time of the last of them."""
    needs: dict[str, list[int]] = {"k": [], "def_index": [], "need": [], "defs": []}
    for k in range(2, len(defs) + 1):
        counts: dict[int, int] = {}
        for d in defs[:k]:
            counts[d] = counts.get(d, 0) + 1
        for d, need in counts.items():
            needs["k"].append(k)
            needs["def_index"].append(d)
            needs["need"].append(need)
            needs["defs"].append(len(counts))
    need_table = ibis.memtable(needs).cast(
        {"k": "int64", "def_index": "int64", "need": "int64", "defs": "int64"}
    )
    candidates = events.select(
        e_contact="contact_id", e_secs="secs", e_msg="message_id", e_def="def_index"
    )
    inside = entries.join(
        candidates,
        [
            entries.contact_id == candidates.e_contact,
            candidates.e_secs >= entries.t1,
            candidates.e_secs <= entries.t1 + window,
        ],
    )
    w = ibis.window(
        group_by=[inside.period, inside.contact_id, inside.e_def],
        order_by=[inside.e_secs, inside.e_msg],
    )
    ranked = inside.mutate(_rank=ibis.row_number().over(w) + 1)
    matched = ranked.join(
        need_table,
        [ranked.e_def == need_table.def_index, ranked._rank == need_table.need],
    )
    per_step = matched.group_by("period", "contact_id", "k", "defs").aggregate(
        satisfied=matched.e_def.count(), reach_secs=matched.e_secs.max()
    )
    done = per_step.filter(per_step.satisfied == per_step.defs)
    return [done.select("period", "contact_id", "k", "reach_secs")]


def _funnel_facts(ctx: Context) -> ir.Table:
    steps = _steps(ctx)
    mode = _mode(ctx)
    window = window_seconds(ctx.option("window"))
    _against(ctx)
    distinct = list(dict.fromkeys(steps))
    defs = [distinct.index(spec) for spec in steps]
    acts = ctx.activity()
    def_index = ibis.cases(*[(spec.matches(acts), n) for n, spec in enumerate(distinct)])
    if mode == "strict":
        # The contact's sequence: what they do (track, page, screen; not passive events)
        # plus every step event; numbered in time order, then narrowed to the steps.
        acting = acts.type.isin(["track", "page", "screen"]) & ~acts.passive
        sequence = acts.filter(acting | matches_any(acts, distinct))
        w = ibis.window(
            group_by=sequence.contact_id, order_by=[sequence.timestamp, sequence.message_id]
        )
        numbered = sequence.select(
            "contact_id",
            "message_id",
            "secs",
            seq=ibis.row_number().over(w),
            def_index=ibis.cases(
                *[(spec.matches(sequence), n) for n, spec in enumerate(distinct)], else_=-1
            ).cast("int64"),
        )
        events = ctx.engine.cache(numbered.filter(numbered.def_index >= 0))
        order = ["seq"]
    else:
        matched = acts.filter(matches_any(acts, distinct))
        events = ctx.engine.cache(
            matched.select("contact_id", "message_id", "secs", def_index=def_index.cast("int64"))
        )
        order = ["secs", "message_id"]
    firsts = ctx.in_range(events.filter(events.def_index == defs[0]))
    entries = _first_per_entry(firsts, order)
    entries = ctx.engine.cache(entries.mutate(t1=entries.secs, m1=entries.message_id))
    if mode == "strict":
        later = _strict(entries, events, defs, window)
    elif mode == "ordered":
        later = _ordered(ctx, entries, events, defs, window)
    else:
        later = _unordered(entries, events, defs, window)
    reached = entries.select("period", "contact_id", k=ibis.literal(1, "int64"), reach_secs="t1")
    for more in later:
        reached = reached.union(more)
    # Steps reached are always 1..depth: reaching step k means steps 1..k were reached.
    depth = reached.group_by("period", "contact_id").aggregate(depth=reached.k.max())
    labels = step_labels(steps)
    step_table = ibis.memtable({"k": list(range(1, len(steps) + 1)), "step": labels}).cast(
        {"k": "int64", "step": "string"}
    )
    base = entries.select("period", "contact_id", "t1").join(depth, ["period", "contact_id"])
    grid = base.cross_join(step_table)
    times = reached.select(r_period="period", r_contact="contact_id", r_k="k", r_secs="reach_secs")
    joined = grid.left_join(
        times,
        [
            grid.period == times.r_period,
            grid.contact_id == times.r_contact,
            grid.k == times.r_k,
        ],
    )
    facts = joined.select(
        "period",
        "step",
        "contact_id",
        entered_secs=joined.t1,
        reached=(joined.k <= joined.depth).cast("int64"),
        reached_previous=(joined.k - 1 <= joined.depth).cast("int64"),
        seconds_to_step=joined.r_secs - joined.t1,
    )
    return ctx.engine.cache(facts)


def _finish_funnel(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    contacts = int(cell["contacts"])
    previous = int(cell["previous"])
    entered = int(cell["entered"])
    if _against(ctx) == "first":
        conversion = ratio(contacts, entered, "nobody entered the funnel")
    else:
        conversion = ratio(contacts, previous, "nobody reached the previous step")
    out: dict[str, Value] = {
        "contacts": contacts,
        "conversion": conversion,
        "dropped": previous - contacts,
    }
    for name in ("median_hours", "p90_hours"):
        seconds = cell.get(name)
        out[name] = NA("nobody reached this step") if seconds is None else seconds / 3600.0
    return out


register(
    Metric(
        name="funnel",
        title="Funnel",
        family="funnels",
        formula="contacts entering at their first step 1 in the period; step k reached within "
        "the window from step 1 (ordered: at or after step k−1; strict: the very next event; "
        "unordered: any order after step 1); conversion = contacts at step k / contacts at "
        "step 1 (against=first) or at step k−1 (against=previous) × 100; dropped = reached "
        "step k−1 − reached step k; median and p90 hours from step 1 (nearest rank)",
        facts=_funnel_facts,
        measures=lambda f: {
            "contacts": f.reached.sum(),
            "previous": f.reached_previous.sum(),
            "entered": f.count(),
        },
        finish=_finish_funnel,
        columns={
            "contacts": "count",
            "conversion": "%",
            "dropped": "count",
            "median_hours": "hours",
            "p90_hours": "hours",
        },
        keys=("step",),
        quantiles={
            "median_hours": ("seconds_to_step", 0.5),
            "p90_hours": ("seconds_to_step", 0.9),
        },
        options={
            "steps": "page:/pricing,Signed Up,Order Completed",
            "mode": "ordered",
            "window": "30d",
            "against": "first",
        },
        choices={"mode": MODES, "against": AGAINST},
        times=("entered_secs",),
    )
)
