"""Loyalty and referral programme KPIs (seeds 002 and 003), over the published
``loyalty_ledger``, ``loyalty`` and ``referrals`` tables.

* **active members** — members with a ledger movement of their own (points earned or
  redeemed; a lapse is not activity) in the period;
* **points** — points issued (earned), redeemed and expired in the period, and the share
  of the issued points that was redeemed;
* **liability** — the points members hold at the end of each period (the sum of every
  ledger row up to then: what the programme still owes), and how many members hold any;
* **tier mix** — members per tier as of the run (one period: tiers are not replayed);
* **referral conversion** — invitations sent in the period, how many named a contact,
  how many converted (the invitee's first order after the invitation), and the reward.

Points are in the programme's points; a period that has not ended yet counts up to the
as-of time of the run.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.metrics.base import Context, Metric, Value, ratio, register


def _secs(value: ir.TimestampValue) -> ir.IntegerValue:
    return value.truncate("s").epoch_seconds().cast("int64")


def _ledger(ctx: Context) -> ir.Table:
    """The included members' ledger rows with ``secs``."""
    ledger = ctx.included(ctx.published("loyalty_ledger"))
    return ledger.mutate(secs=_secs(ledger.at))


def _active_members(ctx: Context) -> ir.Table:
    moved = _ledger(ctx).filter((_.kind != "expired") & (_.points != 0))
    return ctx.in_range(moved.select("contact_id", "kind", "rule", "points", "secs"))


register(
    Metric(
        name="loyalty_active_members",
        title="Active loyalty members",
        family="seed 002 · loyalty",
        formula="members who earned or redeemed points in the period (a lapse is not "
        "activity); change = (this - previous) / previous x 100",
        facts=_active_members,
        measures=lambda f: {"active_members": f.contact_id.nunique()},
        finish=lambda c, ctx: {"active_members": c["active_members"]},
        columns={"active_members": "count"},
        headline="active_members",
    )
)


def _points(ctx: Context) -> ir.Table:
    rows = ctx.in_range(_ledger(ctx).select("contact_id", "kind", "rule", "points", "secs"))
    return rows.mutate(
        issued=ibis.ifelse(rows.kind == "earned", rows.points, 0.0),
        redeemed=ibis.ifelse(rows.kind == "redeemed", -rows.points, 0.0),
        expired=ibis.ifelse(rows.kind == "expired", -rows.points, 0.0),
    )


def _finish_points(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    issued, redeemed, expired = (
        round(float(cell[k]), 6) for k in ("issued", "redeemed", "expired")
    )
    return {
        "issued": issued,
        "redeemed": redeemed,
        "expired": expired,
        "redeemed_share": ratio(redeemed, issued, "no points issued"),
    }


register(
    Metric(
        name="loyalty_points",
        title="Loyalty points issued, redeemed and expired",
        family="seed 002 · loyalty",
        formula="issued = points earned in the period; redeemed and expired = points "
        "redeemed and lapsed in it (as positive numbers); redeemed share = redeemed / "
        "issued x 100",
        facts=_points,
        measures=lambda f: {
            "issued": f.issued.sum(),
            "redeemed": f.redeemed.sum(),
            "expired": f.expired.sum(),
        },
        finish=_finish_points,
        columns={"issued": "count", "redeemed": "count", "expired": "count", "redeemed_share": "%"},
        headline="issued",
    )
)


def _liability(ctx: Context) -> ir.Table:
    ledger = _ledger(ctx).select("contact_id", "points", "secs")
    # Every period's end (or the as-of time, for the period still running), each member's
    # ledger summed up to it: the points they hold then.
    bounds = ctx.calendar.bounds()
    bounds = bounds.mutate(upto=ibis.least(bounds.end_secs, ctx.as_of_secs + 1))
    held = ledger.join(bounds, ledger.secs < bounds.upto)
    per_member = held.group_by(["period", "contact_id"]).aggregate(points=_.points.sum())
    return per_member.mutate(
        points=per_member.points.round(6),
        holds=(per_member.points.round(6) > 0).cast("int64"),
    )


register(
    Metric(
        name="loyalty_liability",
        title="Loyalty points liability",
        family="seed 002 · loyalty",
        formula="liability = the points members hold at the end of the period (every "
        "ledger row up to then: earned - redeemed - expired); members = members holding "
        "any; change = (this - previous) / previous x 100",
        facts=_liability,
        measures=lambda f: {"liability": f.points.sum(), "members": f.holds.sum()},
        finish=lambda c, ctx: {
            "liability": round(float(c["liability"]), 6),
            "members": c["members"],
        },
        columns={"liability": "count", "members": "count"},
        headline="liability",
        times=(),
    )
)


def _tiers(ctx: Context) -> ir.Table:
    members = ctx.included(ctx.published("loyalty"))
    at_run = members.select(
        "contact_id", "tier", "balance", secs=ibis.literal(ctx.as_of_secs, type="int64")
    )
    return ctx.in_range(at_run)


def _finish_tiers(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    return {
        "members": cell["members"],
        "share": ratio(cell["members"], cell["total_members"], "no members"),
        "balance": round(float(cell["balance"]), 6),
    }


register(
    Metric(
        name="loyalty_tiers",
        title="Loyalty tier mix",
        family="seed 002 · loyalty",
        formula="members per tier as of the run (in the period of the as-of date); share "
        "= tier members / all members x 100; balance = the points they hold",
        facts=_tiers,
        measures=lambda f: {"members": f.contact_id.nunique(), "balance": f.balance.sum()},
        finish=_finish_tiers,
        columns={"members": "count", "share": "%", "balance": "count"},
        keys=("tier",),
        fill=False,
        totals=("members",),
    )
)


def _referrals(ctx: Context) -> ir.Table:
    sent = ctx.published("referrals")
    sent = sent.select(
        contact_id=sent.referrer_id,
        invited_id=sent.invited_id,
        secs=_secs(sent.referred_at),
        named=sent.invited_id.notnull().cast("int64"),
        converted=sent.converted_at.notnull().cast("int64"),
        reward=sent.reward_points.fill_null(0.0),
    )
    return ctx.in_range(ctx.included(sent))


def _finish_referrals(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    return {
        "invitations": cell["invitations"],
        "joined": cell["joined"],
        "converted": cell["converted"],
        "conversion_rate": ratio(cell["converted"], cell["invitations"], "no invitations"),
        "reward_points": round(float(cell["reward_points"]), 6),
    }


register(
    Metric(
        name="referral_conversion",
        title="Referral conversion",
        family="seed 003 · referrals",
        formula="invitations sent in the period (by their referrers); joined = those "
        "attributed to a contact (by email or code, first referrer wins); converted = "
        "those whose invitee then ordered; conversion rate = converted / invitations x 100",
        facts=_referrals,
        measures=lambda f: {
            "invitations": f.count(),
            "joined": f.named.sum(),
            "converted": f.converted.sum(),
            "reward_points": f.reward.sum(),
        },
        finish=_finish_referrals,
        columns={
            "invitations": "count",
            "joined": "count",
            "converted": "count",
            "conversion_rate": "%",
            "reward_points": "count",
        },
        headline="conversion_rate",
    )
)
