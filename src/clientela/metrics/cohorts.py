"""Cohorts and activity over time: retention matrix, lifecycle, stickiness (DAU/WAU/MAU).

*Active* means doing any non-passive event (passive events happen *to* a contact: email
opens, renewals, agent replies). Periods and days are local to ``[report] timezone``.

**retention** — options ``cohort``, ``start_event``, ``return_event``. The ``period`` of a
row is the *cohort* period; ``offset`` is the number of periods after it (0 = the cohort
period itself).

* ``cohort = first_time`` (default): a contact's cohort is the period of their first ever
  ``start_event``. Contacts whose first one came before the range belong to an earlier
  cohort and are not counted. ``cohort = recurring``: every period in which the contact did
  the start event is a cohort entry of that period.
* ``start_event`` / ``return_event``: ``any`` (default: any non-passive event), or event
  names and ``page:/path`` views separated by commas (any of them).
* retained(cohort, offset) = cohort members who did a return event in period cohort +
  offset; retention = retained / cohort_size × 100 (n/a when the cohort is empty). Offset 0
  counts return events anywhere in the cohort period (also before the start event).
* Offsets whose period has not started by the as-of are ``n/a (period not reached yet)``;
  offsets after the end of the range (when ``--to`` is before the as-of) are ``n/a (after
  the end of the range)``. The period holding the as-of is counted as it stands (partial).

**lifecycle** (as in PostHog) — per period, the active contacts split into

* ``new``: their first ever activity is in this period;
* ``returning``: active in this period and in the previous one;
* ``resurrecting``: active in this period, not in the previous one, but active before;
* ``dormant``: active in the previous period but not in this one — reported as a positive
  count (the contacts lost this period), not a negative one.

"First ever" looks at all history up to the as-of, not only the range. The period holding
the as-of is counted as it stands: its dormant contacts may still come back before it ends.

**stickiness** — for each local day d: DAU(d) = contacts active on d; WAU(d) = contacts
active on some day of d−6..d; MAU(d) = contacts active on some day of d−29..d (activity
before the range counts). Per period, over its days up to the as-of day: ``avg_dau``,
``avg_wau``, ``avg_mau`` = Σ X(d) / days; ``stickiness`` = Σ DAU(d) / Σ MAU(d) × 100 (the
average DAU over the average MAU, exact from integer sums). The facts have one row per
contact and period with the number of days the contact counts in each measure
(``active_days``, ``wau_days``, ``mau_days``), so breakdowns split the numbers by contact
and ``who`` lists the contacts in the period's MAU. Each active day a covers the days
[a, min(next active day, a + 30)) of MAU (and + 7 of WAU): summing these interval overlaps
with the period gives Σ MAU(d) without one row per contact and day.
``active_contacts`` = distinct contacts active on some day of the period (up to the as-of).
``-o mau=calendar`` is seed 004's calendar reading: stickiness = average DAU / the unique
users of the calendar period × 100 = Σ DAU(d) / (days × active_contacts) × 100 — with
``--period month``, the average DAU of the month over the month's active users.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from clientela.metrics.base import NA, Context, Metric, Value, ratio, register
from clientela.metrics.funnels import matches_any, parse_events
from clientela.metrics.periods import EPOCH, Calendar, next_start

COHORTS = ("first_time", "recurring")
NOT_REACHED = "period not reached yet"


def _active(ctx: Context) -> ir.Table:
    """Non-passive events of the included contacts, up to the as-of."""
    acts = ctx.activity()
    return acts.filter(~acts.passive)


def _events(ctx: Context, option: str) -> ir.Table:
    acts = ctx.activity()
    return acts.filter(matches_any(acts, parse_events(ctx.option(option), option, True)))


def _indexed(ctx: Context, table: ir.Table) -> ir.Table:
    """``table`` (with ``period``) plus the period's index in the calendar (0 = lead-in)
    and the UTC second it starts."""
    bounds = ctx.calendar.bounds().select("period", "period_index", "start_secs")
    return table.join(bounds, "period")


def _as_of_day(ctx: Context) -> date:
    return ctx.as_of.astimezone(ZoneInfo(ctx.settings.report.timezone)).date()


# -- retention ---------------------------------------------------------------------------------


def _cohort(ctx: Context) -> str:
    return ctx.option("cohort")  # one of COHORTS: the metric's choices


def _retention_facts(ctx: Context) -> ir.Table:
    cohort = _cohort(ctx)
    starts = _events(ctx, "start_event")
    returns = _events(ctx, "return_event")
    if cohort == "first_time":
        first = starts.group_by("contact_id").aggregate(secs=starts.secs.min())
        members = ctx.in_range(first).select("contact_id", "period")
    else:
        members = ctx.in_range(starts.select("contact_id", "secs"))
        members = members.select("contact_id", "period").distinct()
    members = _indexed(ctx, members)
    members = members.filter(members.period_index >= 1)  # the lead-in is not shown
    back = ctx.in_range(returns.select("contact_id", "secs")).select("contact_id", "period")
    back = _indexed(ctx, back.distinct()).select(r_contact="contact_id", r_index="period_index")
    shown = len(ctx.calendar.periods) - 1
    offsets = ibis.memtable({"offset": list(range(shown))}).cast({"offset": "int64"})
    grid = members.cross_join(offsets)
    grid = grid.mutate(target=grid.period_index + grid.offset)
    joined = grid.left_join(back, [grid.contact_id == back.r_contact, grid.target == back.r_index])
    return joined.select(
        "period",
        "offset",
        "contact_id",
        retained=joined.r_contact.notnull().cast("int64"),
    )


def _unreached(ctx: Context, period: str, offset: int) -> str | None:
    """Why period + offset cannot be counted, or None when it can."""
    periods = ctx.calendar.periods
    index = [p.label for p in periods].index(period) + offset
    if index < len(periods):
        return NOT_REACHED if periods[index].start_secs > ctx.as_of_secs else None
    start = periods[-1].start
    for _ in range(index - len(periods) + 1):
        start = next_start(start, ctx.calendar.kind)
    if ctx.calendar.utc_secs(start) > ctx.as_of_secs:
        return NOT_REACHED
    return "after the end of the range"


def _finish_retention(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    size = int(cell["cohort_size"])
    why = _unreached(ctx, str(cell["period"]), int(cell["offset"]))
    if why is not None:
        return {"cohort_size": size, "retained": NA(why), "retention": NA(why)}
    retained = int(cell["retained"])
    return {
        "cohort_size": size,
        "retained": retained,
        "retention": ratio(retained, size, "empty cohort: nobody started in this period"),
    }


register(
    Metric(
        name="retention",
        title="Retention by cohort",
        family="cohorts",
        formula="cohort = contacts whose first start event (first_time) or any start event "
        "(recurring) is in the period; retained at offset n = cohort members with a return "
        "event in the n-th period after; retention = retained / cohort_size × 100",
        facts=_retention_facts,
        measures=lambda f: {"cohort_size": f.count(), "retained": f.retained.sum()},
        finish=_finish_retention,
        columns={"cohort_size": "count", "retained": "count", "retention": "%"},
        keys=("offset",),
        period_limit="retention_periods",  # cohorts × offsets: the square of the periods
        options={"cohort": "first_time", "start_event": "any", "return_event": "any"},
        choices={"cohort": COHORTS},
    )
)


# -- lifecycle ---------------------------------------------------------------------------------


def _lifecycle_facts(ctx: Context) -> ir.Table:
    active = _active(ctx)
    first = active.group_by("contact_id").aggregate(first_secs=active.secs.min())
    seen = ctx.in_range(active.select("contact_id", "secs")).select("contact_id", "period")
    seen = _indexed(ctx, seen.distinct())
    before = seen.select(p_contact="contact_id", p_next=seen.period_index + 1)
    now = seen.left_join(
        before, [seen.contact_id == before.p_contact, seen.period_index == before.p_next]
    )
    now = now.join(first, now.contact_id == first.contact_id)
    status = ibis.cases(
        (now.first_secs >= now.start_secs, "new"),
        (now.p_contact.notnull(), "returning"),
        else_="resurrecting",
    )
    statuses = now.select("period", "period_index", "contact_id", status=status)
    # Dormant: active in period i, not in i + 1 (only periods that have started).
    after = seen.select(n_contact="contact_id", n_index="period_index")
    gone = seen.left_join(
        after,
        [seen.contact_id == after.n_contact, seen.period_index + 1 == after.n_index],
    )
    gone = gone.filter(gone.n_contact.isnull()).select("contact_id", d_index=gone.period_index + 1)
    bounds = ctx.calendar.bounds()
    bounds = bounds.filter(bounds.start_secs <= ctx.as_of_secs)
    dormant = gone.join(bounds, gone.d_index == bounds.period_index).select(
        "period", "period_index", "contact_id", status=ibis.literal("dormant", "string")
    )
    facts = statuses.union(dormant)
    return facts.filter(facts.period_index >= 1).select("period", "status", "contact_id")


register(
    Metric(
        name="lifecycle",
        title="Lifecycle of active contacts",
        family="cohorts",
        formula="new = first ever activity in the period; returning = active in the period "
        "and the previous one; resurrecting = active, not in the previous period, but "
        "before; dormant = active in the previous period, not in this one (a positive count)",
        facts=_lifecycle_facts,
        measures=lambda f: {"contacts": f.contact_id.nunique()},
        finish=lambda c, ctx: {"contacts": c["contacts"]},
        columns={"contacts": "count"},
        keys=("status",),
        key_values={"status": ("new", "returning", "resurrecting", "dormant")},
    )
)


# -- stickiness --------------------------------------------------------------------------------


def _stickiness_facts(ctx: Context) -> ir.Table:
    calendar = ctx.calendar
    first_day = calendar.periods[0].start
    last_day = calendar.periods[-1].end - timedelta(days=1)
    # A day calendar from 30 days before the range: MAU of the first day looks back 29 days,
    # and local days need the zone's offsets over the whole span.
    days_calendar = Calendar(calendar.timezone, "day", first_day - timedelta(days=30), last_day)
    active = _active(ctx)
    active = active.filter(
        (active.secs >= days_calendar.start_secs) & (active.secs < days_calendar.end_secs)
    )
    days = active.select("contact_id", day=days_calendar.local_day(active.secs)).distinct()
    following = days.day.lead().over(ibis.window(group_by=days.contact_id, order_by=days.day))
    spans = days.mutate(next_day=following)
    spans = spans.mutate(
        wau_end=ibis.least(spans.next_day.fill_null(spans.day + 7), spans.day + 7),
        mau_end=ibis.least(spans.next_day.fill_null(spans.day + 30), spans.day + 30),
    )
    until = (_as_of_day(ctx) - EPOCH).days + 1
    rows: dict[str, list[Any]] = {"period": [], "lo": [], "hi": []}
    for period in calendar.periods:
        lo, hi = (period.start - EPOCH).days, min((period.end - EPOCH).days, until)
        if hi > lo:
            rows["period"].append(period.label)
            rows["lo"].append(lo)
            rows["hi"].append(hi)
    if not rows["period"]:  # the whole range is after the as-of
        rows = {"period": [calendar.periods[0].label], "lo": [0], "hi": [0]}
    periods = ibis.memtable(rows).cast({"period": "string", "lo": "int64", "hi": "int64"})
    joined = spans.join(periods, [spans.day < periods.hi, spans.mau_end > periods.lo])

    def overlap(end: ir.IntegerValue) -> ir.IntegerValue:
        inside = ibis.least(end, joined.hi) - ibis.greatest(joined.day, joined.lo)
        return ibis.greatest(inside, 0)

    parts = joined.select(
        "period",
        "contact_id",
        active_day=overlap(joined.day + 1),
        wau_day=overlap(joined.wau_end),
        mau_day=overlap(joined.mau_end),
    )
    return parts.group_by("period", "contact_id").aggregate(
        active_days=parts.active_day.sum(),
        wau_days=parts.wau_day.sum(),
        mau_days=parts.mau_day.sum(),
    )


def _days_counted(ctx: Context, label: str) -> int:
    """Days of the period up to the as-of day."""
    period = next(p for p in ctx.calendar.periods if p.label == label)
    until = _as_of_day(ctx) + timedelta(days=1)
    return max(0, (min(period.end, until) - period.start).days)


def _finish_stickiness(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    days = _days_counted(ctx, str(cell["period"]))
    dau, wau, mau = int(cell["dau"]), int(cell["wau"]), int(cell["mau"])
    active = int(cell["active"])
    if days == 0:
        na = NA(NOT_REACHED)
        return {
            "days": 0,
            "avg_dau": na,
            "avg_wau": na,
            "avg_mau": na,
            "active_contacts": na,
            "stickiness": na,
        }
    if ctx.option("mau") == "calendar":
        stickiness = ratio(dau, days * active, "nobody active in the period")
    else:
        stickiness = ratio(dau, mau, "nobody active in the 30 days up to any day")
    return {
        "days": days,
        "avg_dau": dau / days,
        "avg_wau": wau / days,
        "avg_mau": mau / days,
        "active_contacts": active,
        "stickiness": stickiness,
    }


register(
    Metric(
        name="stickiness",
        title="Stickiness (DAU, WAU, MAU)",
        family="cohorts",
        formula="DAU(d) = contacts active on day d, WAU(d) on d−6..d, MAU(d) on d−29..d; "
        "avg X = Σ X(d) / days of the period up to the as-of; stickiness = Σ DAU(d) / "
        "Σ MAU(d) × 100 (mau=calendar: average DAU / contacts active in the period × 100)",
        facts=_stickiness_facts,
        measures=lambda f: {
            "dau": f.active_days.sum(),
            "wau": f.wau_days.sum(),
            "mau": f.mau_days.sum(),
            "active": (f.active_days > 0).cast("int64").sum(),
        },
        finish=_finish_stickiness,
        columns={
            "days": "days",
            "avg_dau": "count",
            "avg_wau": "count",
            "avg_mau": "count",
            "active_contacts": "count",
            "stickiness": "%",
        },
        options={"mau": "rolling"},
        choices={"mau": ("rolling", "calendar")},
    )
)
