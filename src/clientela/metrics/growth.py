"""Seed 000's key indicator per relationship level.

* strangers — **audience growth**: new unique strangers per period (contacts whose first
  event fell in it, even if they identified on that first visit), and the change against
  the previous period;
* prospects — **engagement growth**: how many prospects engage, and how much, per period;
* customers and fans — **activity vs engagement**. *Activity* is what a contact does for
  themself with the product (``metrics.events.activity``: logging in, using the product,
  buying, asking support); *engagement* is taking part with the brand and others
  (``metrics.events.engagement``: posts, shares, likes, reviews, referrals, webinars,
  reports). Seed 000 expects customers to engage about as much as they are active and fans
  to engage more than they are active (engagement > activity).

Stage membership is read from the published stage history at the moment of each event, so
an event counts for the stage its contact was in when it happened.
"""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
from ibis import _

from clientela.metrics.base import Context, Metric, Value, ratio, register


def _new_strangers(ctx: Context) -> ir.Table:
    # A contact's first stage starts with their first event. Whoever identifies on that
    # first visit starts as a prospect, yet is just as new to the audience: every first
    # stage counts, not only the stranger stage.
    history = ctx.stage_history()
    arrived = history.filter(history.previous_stage.isnull())
    return ctx.in_range(arrived.select("contact_id", "stage", secs=_.entered_secs))


register(
    Metric(
        name="audience_growth",
        title="Audience growth",
        family="seed 000 · strangers",
        formula="new strangers = contacts whose first event (the start of their first "
        "stage, whichever it is) fell in the period; change = (this − previous) / previous × 100",
        facts=_new_strangers,
        measures=lambda f: {"new_strangers": f.contact_id.nunique()},
        finish=lambda c, ctx: {"new_strangers": c["new_strangers"]},
        columns={"new_strangers": "count"},
        headline="new_strangers",
    )
)


def _events_in_stage(ctx: Context, stages: list[str], events: list[str]) -> ir.Table:
    """Events of ``events`` done while their contact was in one of ``stages``."""
    acts = ctx.in_range(ctx.activity().filter((_.type == "track") & _.event.isin(events)))
    history = ctx.stage_history().filter(_.stage.isin(stages))
    joined = acts.join(
        history,
        (acts.contact_id == history.contact_id)
        & (acts.secs >= history.entered_secs)
        & (acts.secs < history.exited_secs),
    )
    return joined.select("period", "contact_id", "event", "stage", "secs")


def _prospect_engagement(ctx: Context) -> ir.Table:
    lead = ctx.settings.stage_roles()["lead"]
    events = ctx.settings.metrics.events
    wanted = sorted({*events.engagement, *events.activity})
    return _events_in_stage(ctx, [lead], wanted).drop("stage")


def _finish_prospects(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    return {
        "engaged_prospects": cell["engaged_prospects"],
        "actions": cell["actions"],
        "actions_per_prospect": ratio(
            cell["actions"], cell["engaged_prospects"], "no engaged prospects", scale=1.0
        ),
    }


register(
    Metric(
        name="engagement_growth",
        title="Engagement growth of prospects",
        family="seed 000 · prospects",
        formula="engaged prospects = contacts with an activity or engagement event while in "
        "the lead stage; change = (this − previous) / previous × 100",
        facts=_prospect_engagement,
        measures=lambda f: {"engaged_prospects": f.contact_id.nunique(), "actions": f.count()},
        finish=_finish_prospects,
        columns={"engaged_prospects": "count", "actions": "count", "actions_per_prospect": "ratio"},
        headline="engaged_prospects",
    )
)


def _activity_engagement(ctx: Context) -> ir.Table:
    roles = ctx.settings.stage_roles()
    events = ctx.settings.metrics.events
    wanted = sorted({*events.engagement, *events.activity})
    rows = _events_in_stage(ctx, roles["customers"], wanted)
    is_engagement = rows.event.isin(events.engagement)
    is_activity = rows.event.isin(events.activity)
    per_contact = rows.group_by("period", "stage", "contact_id").aggregate(
        activity=is_activity.cast("int64").sum(), engagement=is_engagement.cast("int64").sum()
    )
    return per_contact.mutate(engages_more=(_.engagement > _.activity).cast("int64"))


def _finish_activity(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    return {
        "contacts": cell["contacts"],
        "activity": cell["activity"],
        "engagement": cell["engagement"],
        "engagement_per_activity": ratio(
            cell["engagement"], cell["activity"], "no activity events", scale=1.0
        ),
        "engaging_more_share": ratio(cell["engages_more"], cell["contacts"], "no contacts"),
    }


register(
    Metric(
        name="activity_vs_engagement",
        title="Activity vs engagement of customers and fans",
        family="seed 000 · customers and fans",
        formula="per stage: engagement events / activity events; share of contacts with "
        "engagement > activity (fans should lead)",
        facts=_activity_engagement,
        measures=lambda f: {
            "contacts": f.contact_id.nunique(),
            "activity": f.activity.sum(),
            "engagement": f.engagement.sum(),
            "engages_more": f.engages_more.sum(),
        },
        finish=_finish_activity,
        columns={
            "contacts": "count",
            "activity": "count",
            "engagement": "count",
            "engagement_per_activity": "ratio",
            "engaging_more_share": "%",
        },
        keys=("stage",),
    )
)
