"""Seed 004's customer care: how fast a person answers a ticket (customers expect an answer
within about half an hour, ``metrics.sla_minutes``).

* A **ticket** is a ``metrics.events.ticket`` event with a ``ticket_id`` (the first one per
  ticket id, by time then message id), made by an included contact. It belongs to the
  period in which it was created, and to its ``medium``: the ticket's own channel property
  (email, chat, social, phone, ...; ``(none)`` when missing).
* Its **first response** is the earliest ``metrics.events.reply`` with the same
  ``ticket_id`` whose ``author_role`` is one of ``metrics.human_roles`` (``agent``), at or
  after the ticket's creation. Bot auto-replies and the customer's own follow-ups do not
  count. Replies are matched by ticket id alone, whoever's contact id they are tracked
  under (the customer's, an agent's, a server's). First response time = reply − creation,
  in minutes (whole seconds apart).
* ``answered``: tickets with a first response by the as-of; ``pending``: tickets without
  one that are still younger than the SLA at the as-of (they can still make it);
  ``unanswered``: the rest (no human reply, older than the SLA — closed or not).
* ``sla_share`` = tickets answered within ``metrics.sla_minutes`` (response time ≤ SLA) /
  (tickets − pending) × 100: a late answer and no answer both miss the SLA, a pending ticket
  is not judged yet. ``n/a (no tickets to judge)`` when every ticket is pending or there are
  none.
* Median and p90 first response (nearest rank) are over the answered tickets only.

``first_response`` gives every medium together; ``first_response_by_medium`` splits the same
numbers by ``medium``. Options of both:

* ``medium``: a comma-separated list such as ``social`` or ``twitter,linkedin,social`` keeps
  only those media (``all`` by default);
* ``source``: ``ticket`` (default), ``post`` or ``all``. ``post`` measures community posts
  the same way: every top-level post (no ``parent_id``) by an included member is a request,
  and its first response is the first reply post (``parent_id`` = the post) by a contact of
  the ``employee`` class; members answering each other do not count. Every member post
  counts as awaiting an answer, so use it where posts are questions (a support forum, brand
  mentions on social media: ``--option medium=twitter,linkedin``). The ``tickets`` columns
  then count posts; the facts (``--who``) carry ``source`` and ``item_id``.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.engine.portable import union_all
from clientela.metrics.base import NONE, Context, Metric, Value, ratio, register
from clientela.metrics.community import minutes, seconds, tracked


def _first_of(table: ir.Table, key: str) -> ir.Table:
    """The first row (by time, then message id) of each ``key``."""
    ranked = table.mutate(
        _rank=ibis.row_number().over(
            ibis.window(group_by=key, order_by=[table.secs, table.message_id])
        )
    )
    return ranked.filter(ranked._rank == 0).drop("_rank")


def _tickets(ctx: Context) -> tuple[ir.Table, ir.Table]:
    """Tickets (contact_id, item_id, secs, medium) and their human replies (item_id, secs)."""
    metrics = ctx.settings.metrics
    created = tracked(ctx.activity(), metrics.events.ticket).filter(_.ticket_id.notnull())
    tickets = _first_of(created, "ticket_id").select(
        "contact_id", "secs", "medium", item_id=_.ticket_id
    )
    # Human replies, from every contact (agents' replies may be tracked under staff ids).
    replies = tracked(ctx.published("activity"), metrics.events.reply)
    if metrics.human_roles:
        replies = replies.filter(
            replies.ticket_id.notnull() & replies.author_role.isin(metrics.human_roles)
        )
    else:
        replies = replies.filter(ibis.literal(False))
    return tickets, replies.select("secs", item_id=replies.ticket_id)


def _posts(ctx: Context) -> tuple[ir.Table, ir.Table]:
    """Members' top-level posts (contact_id, item_id, secs, medium) and the reply posts
    (``parent_id``) of employees (item_id, secs)."""
    events = ctx.settings.metrics.events
    posted = tracked(ctx.activity(), events.post).filter(_.post_id.notnull() & _.parent_id.isnull())
    posts = _first_of(posted, "post_id").select("contact_id", "secs", "medium", item_id=_.post_id)
    staff = ctx.published("audience").filter(_.audience_class == "employee")
    replies = tracked(ctx.published("activity"), events.post).filter(_.parent_id.notnull())
    replies = replies.semi_join(staff.select("contact_id"), "contact_id")
    return posts, replies.select("secs", item_id=replies.parent_id)


def _tickets_and_replies(ctx: Context) -> ir.Table:
    """One row per ticket (or member post) created in the range, with its first response."""
    sla = seconds(ctx.settings.metrics.sla_minutes)
    source = ctx.option("source")  # one of SOURCES: the metric's choices
    parts = {"ticket": _tickets, "post": _posts}
    chosen = list(parts) if source == "all" else [source]
    items: list[ir.Table] = []
    replies: list[ir.Table] = []
    for name in chosen:
        made, answers = parts[name](ctx)
        items.append(
            made.select(
                "contact_id",
                "item_id",
                "secs",
                source=ibis.literal(name),
                medium=made.medium.fill_null(NONE),
            )
        )
        replies.append(answers.select(r_source=ibis.literal(name), r_item=_.item_id, r_secs=_.secs))
    tickets = union_all(items)
    medium = ctx.option("medium").strip()
    if medium and medium.lower() != "all":
        wanted = [m.strip() for m in medium.split(",") if m.strip()]
        tickets = tickets.filter(tickets.medium.isin(wanted))
    tickets = ctx.in_range(tickets)
    answers = union_all(replies)
    joined = tickets.left_join(
        answers,
        (tickets.source == answers.r_source)
        & (tickets.item_id == answers.r_item)
        & (answers.r_secs >= tickets.secs),
    )
    first = joined.group_by(
        "period", "contact_id", "source", "item_id", "secs", "medium"
    ).aggregate(reply_secs=joined.r_secs.min())
    response = (first.reply_secs - first.secs).cast("int64")
    answered = first.reply_secs.notnull()
    pending = ~answered & ((ctx.as_of_secs - first.secs) < sla)
    return first.select(
        "period",
        "contact_id",
        "source",
        "item_id",
        "secs",
        "medium",
        response_secs=response,
        answered=answered.cast("int64"),
        pending=pending.cast("int64"),
        within_sla=(answered & (response <= sla)).cast("int64"),
    )


def _measures(f: ir.Table) -> dict[str, ir.Scalar]:
    return {
        "tickets": f.count(),
        "answered": f.answered.sum(),
        "pending": f.pending.sum(),
        "within_sla": f.within_sla.sum(),
    }


def _finish(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    tickets, answered, pending = cell["tickets"], cell["answered"], cell["pending"]
    judged = tickets - pending
    return {
        "tickets": tickets,
        "answered": answered,
        "unanswered": judged - answered,
        "pending": pending,
        "median_minutes": minutes(cell["median_secs"], "no answered tickets"),
        "p90_minutes": minutes(cell["p90_secs"], "no answered tickets"),
        "within_sla": cell["within_sla"],
        "sla_share": ratio(cell["within_sla"], judged, "no tickets to judge"),
    }


COLUMNS = {
    "tickets": "count",
    "answered": "count",
    "unanswered": "count",
    "pending": "count",
    "median_minutes": "minutes",
    "p90_minutes": "minutes",
    "within_sla": "count",
    "sla_share": "%",
}
FORMULA = (
    "first response = first reply by a human (metrics.human_roles) to the ticket (source=post: "
    "first reply post by an employee to a member's post), at or after its creation; "
    "SLA share = answered within metrics.sla_minutes / (tickets − pending) × 100, "
    "pending = unanswered and younger than the SLA at the as-of"
)
SOURCES = ("ticket", "post", "all")
QUANTILES = {"median_secs": ("response_secs", 0.5), "p90_secs": ("response_secs", 0.9)}

register(
    Metric(
        name="first_response",
        title="First response time",
        family="seed 004 · customer care",
        formula=FORMULA,
        facts=_tickets_and_replies,
        measures=_measures,
        finish=_finish,
        columns=COLUMNS,
        quantiles=QUANTILES,
        headline="sla_share",
        options={"medium": "all", "source": "ticket"},
        choices={"source": SOURCES},
    )
)

register(
    Metric(
        name="first_response_by_medium",
        title="First response time by channel",
        family="seed 004 · customer care",
        formula=FORMULA + "; per ticket medium (email, chat, social, phone, ...)",
        facts=_tickets_and_replies,
        measures=_measures,
        finish=_finish,
        columns=COLUMNS,
        keys=("medium",),
        quantiles=QUANTILES,
        headline="sla_share",
        options={"medium": "all", "source": "ticket"},
        choices={"source": SOURCES},
    )
)
