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

``first_response`` gives every medium together (option ``medium``: a comma-separated list
such as ``social`` or ``social,chat`` keeps only those; ``all`` by default);
``first_response_by_medium`` splits the same numbers by ``medium``.

Not covered: community posts answered by staff (a member's post with a reply post by an
employee) — only tickets are measured.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.metrics.base import NONE, Context, Metric, Value, ratio, register
from clientela.metrics.community import minutes, seconds, tracked


def _tickets(ctx: Context) -> ir.Table:
    """One row per ticket created in the range, with its first human response."""
    metrics = ctx.settings.metrics
    sla = seconds(metrics.sla_minutes)
    created = tracked(ctx.activity(), metrics.events.ticket).filter(_.ticket_id.notnull())
    created = created.mutate(
        rank=ibis.row_number().over(
            ibis.window(group_by="ticket_id", order_by=[created.secs, created.message_id])
        )
    )
    tickets = created.filter(created.rank == 0).select(
        "contact_id", "ticket_id", "secs", medium=created.medium.fill_null(NONE)
    )
    option = ctx.option("medium").strip()
    if option and option.lower() != "all":
        wanted = [m.strip() for m in option.split(",") if m.strip()]
        tickets = tickets.filter(tickets.medium.isin(wanted))
    tickets = ctx.in_range(tickets)
    # Human replies, from every contact (agents' replies may be tracked under staff ids).
    replies = tracked(ctx.published("activity"), metrics.events.reply)
    if metrics.human_roles:
        replies = replies.filter(
            replies.ticket_id.notnull() & replies.author_role.isin(metrics.human_roles)
        )
    else:
        replies = replies.filter(ibis.literal(False))
    replies = replies.select(reply_ticket=replies.ticket_id, reply_secs=replies.secs)
    joined = tickets.left_join(
        replies,
        (tickets.ticket_id == replies.reply_ticket) & (replies.reply_secs >= tickets.secs),
    )
    first = joined.group_by("period", "contact_id", "ticket_id", "secs", "medium").aggregate(
        reply_secs=joined.reply_secs.min()
    )
    response = (first.reply_secs - first.secs).cast("int64")
    answered = first.reply_secs.notnull()
    pending = ~answered & ((ctx.as_of_secs - first.secs) < sla)
    return first.select(
        "period",
        "contact_id",
        "ticket_id",
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
    "first response = first reply by a human (metrics.human_roles) to the ticket, at or after "
    "its creation; SLA share = answered within metrics.sla_minutes / (tickets − pending) × "
    "100, pending = unanswered and younger than the SLA at the as-of"
)
QUANTILES = {"median_secs": ("response_secs", 0.5), "p90_secs": ("response_secs", 0.9)}

register(
    Metric(
        name="first_response",
        title="First response time",
        family="seed 004 · customer care",
        formula=FORMULA,
        facts=_tickets,
        measures=_measures,
        finish=_finish,
        columns=COLUMNS,
        quantiles=QUANTILES,
        headline="sla_share",
        options={"medium": "all"},
    )
)

register(
    Metric(
        name="first_response_by_medium",
        title="First response time by channel",
        family="seed 004 · customer care",
        formula=FORMULA + "; per ticket medium (email, chat, social, phone, ...)",
        facts=_tickets,
        measures=_measures,
        finish=_finish,
        columns=COLUMNS,
        keys=("medium",),
        quantiles=QUANTILES,
        headline="sla_share",
        options={"medium": "all"},
    )
)
