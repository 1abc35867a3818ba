"""Seed 004's community KPIs: sessions, login hours, user-generated content, the ratio of
posts, shares and likes, and self-moderation.

* ``sessions`` — a contact's own events (track, page and screen calls that are not
  ``passive``: not email opens, renewals, agent replies or moderation done to them) are split
  into sessions: a gap of **more than** ``metrics.session_gap_minutes`` (30) between two
  events ends a session; a gap of exactly 30 minutes does not. Times are whole UTC seconds
  (``secs``), ties ordered by message id. A session lasts from its first to its last event,
  so a one-event session lasts 0 minutes (counted, and shown as ``single_event``). Sessions
  are found over *all* of the contact's events, not only those in the range, and each
  belongs to the period in which it **started**: a session from 23:50 to 00:20 across a
  month boundary counts once, in the first month, with its full 30 minutes.
* ``login_hours`` — logins (``metrics.events.login``) by local weekday (1 = Monday … 7 =
  Sunday, ISO) and hour (0–23) in the report's time zone. ``share`` is the slot's share of
  the period's logins (of the same breakdown value, after ``--where``); a slot without
  logins in a period that had some shows 0 %, and every slot of a period with no logins at
  all is ``n/a (no logins in the period)``.
* ``ugc_share`` — posts (``metrics.events.post``: posts and comments alike) created by
  members (any contact not of the ``employee`` class) / all posts × 100. Employees'
  posts are the other part of the denominator, so this metric counts every audience class
  itself (``all_classes``) and leaves out only the other ``metrics.exclude_classes``
  (bots, by default). ``n/a (no posts)`` when nothing was posted.
* ``content_ratio`` — posts : shares : likes (``metrics.events.post`` / ``share`` /
  ``like``) of the included contacts, normalised to posts = 1 (``shares_per_post``,
  ``likes_per_post`` and a text such as ``1 : 0.35 : 1.44``); ``n/a (no posts)`` when the
  period has no posts.
* ``self_moderation`` — reports (``metrics.events.report``) made by members (the included
  contacts) and how fast they are acted on:

  - ``reports``: report events in the period; ``reporters``: distinct members reporting;
  - ``reported_share`` = distinct posts reported in the period / posts created in the
    period × 100. A report may be about an older post, so this is a rate of reports per new
    content, not the share of this period's posts that were reported (it can exceed 100 %).
    Posts created are counted like in ``ugc_share`` (everyone's but bots');
    ``n/a (no posts created)`` when there were none;
  - time to action: per reported post, from its **first** report by a member to the first
    moderation action (``metrics.events.moderation``) on the same ``post_id`` at or after
    that report, in minutes (median and p90, nearest rank). The post belongs to the period
    of its first report. Moderation actions are passive events under the moderator's contact
    (an employee, excluded from other metrics) or a server id, so they are matched by
    ``post_id`` alone, from every contact. A moderation action before the first report (a
    routine approval) does not answer it. Posts without an action by the as-of are
    ``unactioned``.

Breakdowns (``--by``) follow the contact of each row: the session's or login's contact, the
post's author, the reporter (for reported posts, their first reporter).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.engine.portable import union_all
from clientela.metrics.base import NA, Context, Metric, Value, ratio, register

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
OWN_EVENTS = ("track", "page", "screen")


def tracked(table: ir.Table, events: list[str]) -> ir.Table:
    """Track events of ``table`` named one of ``events`` (none when the list is empty)."""
    if not events:
        return table.filter(ibis.literal(False))
    return table.filter((table.type == "track") & table.event.isin(events))


def minutes(secs: Any, reason: str) -> Value:
    """Seconds (a quantile of a cell, None when it has no values) → minutes, else n/a."""
    if secs is None:
        return NA(reason)
    return float(secs) / 60.0


def seconds(minutes_setting: float) -> float | int:
    """A setting in minutes as seconds (an integer when whole, for exact comparisons)."""
    secs = minutes_setting * 60.0
    return int(secs) if secs.is_integer() else secs


# --- sessions ------------------------------------------------------------------------------


def _sessions(ctx: Context) -> ir.Table:
    gap = seconds(ctx.settings.metrics.session_gap_minutes)
    acts = ctx.activity()
    own = acts.filter(acts.type.isin(list(OWN_EVENTS)) & ~acts.passive).select(
        "contact_id", "secs", "message_id"
    )
    order = [own.secs, own.message_id]
    previous = own.secs.lag().over(ibis.window(group_by="contact_id", order_by=order))
    marked = own.mutate(starts=(previous.isnull() | ((own.secs - previous) > gap)).cast("int64"))
    running = ibis.window(
        group_by="contact_id",
        order_by=[marked.secs, marked.message_id],
        preceding=None,
        following=0,
    )
    numbered = marked.mutate(session=marked.starts.sum().over(running))
    sessions = numbered.group_by("contact_id", "session").aggregate(
        first=_.secs.min(), last=_.secs.max(), events=_.count()
    )
    placed = ctx.in_range(
        sessions.select(
            "contact_id",
            "events",
            secs=sessions.first,
            duration_secs=(sessions.last - sessions.first).cast("int64"),
        )
    )
    return placed.select(
        "period",
        "contact_id",
        "secs",
        "events",
        "duration_secs",
        single=(placed.events == 1).cast("int64"),
    )


def _finish_sessions(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    sessions = cell["sessions"]
    return {
        "sessions": sessions,
        "contacts": cell["contacts"],
        "avg_minutes": ratio(cell["total_secs"], sessions, "no sessions", scale=1 / 60),
        "median_minutes": minutes(cell["median_secs"], "no sessions"),
        "p90_minutes": minutes(cell["p90_secs"], "no sessions"),
        "sessions_per_contact": ratio(sessions, cell["contacts"], "no sessions", scale=1.0),
        "events_per_session": ratio(cell["events"], sessions, "no sessions", scale=1.0),
        "single_event": cell["single"],
    }


register(
    Metric(
        name="sessions",
        title="Sessions and average session duration",
        family="seed 004 · community",
        formula="a gap of more than metrics.session_gap_minutes between a contact's own "
        "(non-passive) events ends a session; duration = last event − first event (one event "
        "= 0 min); a session counts in the period it started; avg = total duration / sessions",
        facts=_sessions,
        measures=lambda f: {
            "sessions": f.count(),
            "contacts": f.contact_id.nunique(),
            "total_secs": f.duration_secs.sum(),
            "events": f.events.sum(),
            "single": f.single.sum(),
        },
        finish=_finish_sessions,
        columns={
            "sessions": "count",
            "contacts": "count",
            "avg_minutes": "minutes",
            "median_minutes": "minutes",
            "p90_minutes": "minutes",
            "sessions_per_contact": "ratio",
            "events_per_session": "ratio",
            "single_event": "count",
        },
        quantiles={"median_secs": ("duration_secs", 0.5), "p90_secs": ("duration_secs", 0.9)},
        headline="avg_minutes",
    )
)


# --- login hours ---------------------------------------------------------------------------


def _logins(ctx: Context) -> ir.Table:
    logins = ctx.in_range(tracked(ctx.activity(), ctx.settings.metrics.events.login))
    local = ctx.calendar.local_secs(logins.secs)
    day = ctx.calendar.local_day(logins.secs)
    return logins.select(
        "period",
        "contact_id",
        "secs",
        # 1970-01-01 was a Thursday (ISO weekday 4).
        weekday=((day + 3) % 7 + 1).cast("int64"),
        hour=((local % 86_400) // 3_600).cast("int64"),
    )


def _finish_logins(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    total = cell["total_logins"]
    weekday = cell["weekday"]
    return {
        "day": WEEKDAYS[int(weekday) - 1],
        "logins": cell["logins"],
        "contacts": cell["contacts"],
        "share": ratio(cell["logins"], total, "no logins in the period"),
    }


register(
    Metric(
        name="login_hours",
        title="Login hours",
        family="seed 004 · community",
        formula="logins per local weekday (1 = Mon … 7 = Sun) and hour (0–23) in the report's "
        "time zone; share = the slot's logins / the period's logins × 100",
        facts=_logins,
        measures=lambda f: {"logins": f.count(), "contacts": f.contact_id.nunique()},
        finish=_finish_logins,
        columns={"day": "text", "logins": "count", "contacts": "count", "share": "%"},
        keys=("weekday", "hour"),
        key_values={"weekday": tuple(range(1, 8)), "hour": tuple(range(24))},
        totals=("logins",),
    )
)


# --- user-generated content ----------------------------------------------------------------


def _community_posts(ctx: Context) -> ir.Table:
    """Posts in the range by anyone but the excluded classes other than employees (bots, by
    default), with ``staff`` = 1 for employees' posts."""
    classes = ctx.published("audience").select("contact_id", "audience_class")
    left_out = [c for c in ctx.settings.metrics.exclude_classes if c != "employee"]
    posts = tracked(ctx.published("activity"), ctx.settings.metrics.events.post)
    joined = posts.left_join(classes, posts.contact_id == classes.contact_id)
    tagged = joined.select(
        "contact_id",
        "secs",
        "post_id",
        audience_class=joined.audience_class.fill_null("buyer"),
    )
    if left_out:
        tagged = tagged.filter(~tagged.audience_class.isin(left_out))
    placed = ctx.in_range(tagged)
    return placed.select(
        "period",
        "contact_id",
        "secs",
        "post_id",
        staff=(placed.audience_class == "employee").cast("int64"),
    )


def _ugc(ctx: Context) -> ir.Table:
    posts = _community_posts(ctx)
    return posts.mutate(
        member=1 - posts.staff,
        member_id=ibis.ifelse(posts.staff == 0, posts.contact_id, ibis.null("string")),
    )


def _finish_ugc(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    return {
        "posts": cell["posts"],
        "member_posts": cell["member_posts"],
        "employee_posts": cell["posts"] - cell["member_posts"],
        "posting_members": cell["posting_members"],
        "ugc_share": ratio(cell["member_posts"], cell["posts"], "no posts"),
    }


register(
    Metric(
        name="ugc_share",
        title="Share of user-generated content",
        family="seed 004 · community",
        formula="posts and comments created by members (not employees) / all posts × 100; "
        "bots' posts left out",
        facts=_ugc,
        measures=lambda f: {
            "posts": f.count(),
            "member_posts": f.member.sum(),
            "posting_members": f.member_id.nunique(),
        },
        finish=_finish_ugc,
        columns={
            "posts": "count",
            "member_posts": "count",
            "employee_posts": "count",
            "posting_members": "count",
            "ugc_share": "%",
        },
        headline="ugc_share",
        all_classes=True,
    )
)


# --- posts : shares : likes ----------------------------------------------------------------


def _content(ctx: Context) -> ir.Table:
    events = ctx.settings.metrics.events
    wanted = sorted({*events.post, *events.share, *events.like})
    acts = ctx.in_range(tracked(ctx.activity(), wanted))

    def flag(names: list[str]) -> ir.IntegerValue:
        if not names:
            return ibis.literal(0).cast("int64")
        return acts.event.isin(names).cast("int64")

    return acts.select(
        "period",
        "contact_id",
        "secs",
        "event",
        post=flag(events.post),
        share=flag(events.share),
        like=flag(events.like),
    )


def _finish_content(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    posts, shares, likes = cell["posts"], cell["shares"], cell["likes"]
    text: Value = NA("no posts")
    if posts:
        text = f"1 : {shares / posts:.2f} : {likes / posts:.2f}"
    return {
        "posts": posts,
        "shares": shares,
        "likes": likes,
        "shares_per_post": ratio(shares, posts, "no posts", scale=1.0),
        "likes_per_post": ratio(likes, posts, "no posts", scale=1.0),
        "ratio": text,
    }


register(
    Metric(
        name="content_ratio",
        title="Posts : shares : likes",
        family="seed 004 · community",
        formula="posts : shares : likes normalised to posts = 1 "
        "(shares / posts, likes / posts); n/a with no posts",
        facts=_content,
        measures=lambda f: {
            "posts": f.post.sum(),
            "shares": f.share.sum(),
            "likes": f.like.sum(),
        },
        finish=_finish_content,
        columns={
            "posts": "count",
            "shares": "count",
            "likes": "count",
            "shares_per_post": "ratio",
            "likes_per_post": "ratio",
            "ratio": "text",
        },
        headline="shares_per_post",
    )
)


# --- self-moderation -----------------------------------------------------------------------


def _moderation(ctx: Context) -> ir.Table:
    events = ctx.settings.metrics.events
    reports = tracked(ctx.activity(), events.report).select(
        "contact_id", "secs", "message_id", "post_id"
    )
    # Per reported post: its first report (ties by message id) and that report's contact.
    first = reports.filter(reports.post_id.notnull())
    first = first.mutate(
        rank=ibis.row_number().over(
            ibis.window(group_by="post_id", order_by=[first.secs, first.message_id])
        )
    )
    first = first.filter(first.rank == 0).select("contact_id", "post_id", "secs")
    # Moderation actions by anyone (moderators are staff, or a server id).
    actions = tracked(ctx.published("activity"), events.moderation).filter(_.post_id.notnull())
    actions = actions.select(action_post=actions.post_id, action_secs=actions.secs)
    matched = first.left_join(
        actions, (first.post_id == actions.action_post) & (actions.action_secs >= first.secs)
    )
    answered = matched.group_by("contact_id", "post_id", "secs").aggregate(
        action_secs=matched.action_secs.min()
    )
    null_string = ibis.null("string")
    null_int = ibis.null("int64")
    zero = ibis.literal(0).cast("int64")
    one = ibis.literal(1).cast("int64")
    placed_reports = ctx.in_range(reports)
    report_rows = placed_reports.select(
        "period",
        "contact_id",
        "secs",
        "post_id",
        report=one,
        reporter=placed_reports.contact_id,
        reported_post=placed_reports.post_id,
        created=zero,
        first_report=zero,
        actioned=zero,
        action_secs=null_int,
    )
    placed_posts = _community_posts(ctx)
    post_rows = placed_posts.select(
        "period",
        "contact_id",
        "secs",
        "post_id",
        report=zero,
        reporter=null_string,
        reported_post=null_string,
        created=one,
        first_report=zero,
        actioned=zero,
        action_secs=null_int,
    )
    placed_first = ctx.in_range(answered)
    first_rows = placed_first.select(
        "period",
        "contact_id",
        "secs",
        "post_id",
        report=zero,
        reporter=null_string,
        reported_post=null_string,
        created=zero,
        first_report=one,
        actioned=placed_first.action_secs.notnull().cast("int64"),
        action_secs=(placed_first.action_secs - placed_first.secs).cast("int64"),
    )
    return union_all([report_rows, post_rows, first_rows])


def _finish_moderation(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    reported = cell["reported_first"]
    return {
        "reports": cell["reports"],
        "reporters": cell["reporters"],
        "posts_reported": cell["posts_reported"],
        "posts_created": cell["posts_created"],
        "reported_share": ratio(cell["posts_reported"], cell["posts_created"], "no posts created"),
        "first_reported": reported,
        "actioned": cell["actioned"],
        "unactioned": reported - cell["actioned"],
        "median_minutes_to_action": minutes(cell["median_secs"], "no reported post actioned"),
        "p90_minutes_to_action": minutes(cell["p90_secs"], "no reported post actioned"),
    }


register(
    Metric(
        name="self_moderation",
        title="Community self-moderation",
        family="seed 004 · community",
        formula="reports by members; reported share = distinct posts reported in the period / "
        "posts created in the period × 100; time to action = first report of a post → first "
        "moderation action on it at or after that report (by post_id, any contact)",
        facts=_moderation,
        measures=lambda f: {
            "reports": f.report.sum(),
            "reporters": f.reporter.nunique(),
            "posts_reported": f.reported_post.nunique(),
            "posts_created": f.created.sum(),
            "reported_first": f.first_report.sum(),
            "actioned": f.actioned.sum(),
        },
        finish=_finish_moderation,
        columns={
            "reports": "count",
            "reporters": "count",
            "posts_reported": "count",
            "posts_created": "count",
            "reported_share": "%",
            "first_reported": "count",
            "actioned": "count",
            "unactioned": "count",
            "median_minutes_to_action": "minutes",
            "p90_minutes_to_action": "minutes",
        },
        quantiles={"median_secs": ("action_secs", 0.5), "p90_secs": ("action_secs", 0.9)},
        headline="reports",
    )
)
