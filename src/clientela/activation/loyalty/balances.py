"""One row per programme member: balance, totals, tier and the next expiry.

* ``balance = earned + redeemed + expired`` (the last two negative), over the ledger;
* ``rolling_points``: points *earned* in the ``tier_window_days`` up to the as-of time,
  i.e. lots with ``as_of - window < earned at ≤ as_of`` (redeeming does not cost a tier);
* ``tier``: the highest tier whose threshold the rolling points reach;
* ``tier_since``: when the member entered the current tier. The rolling points only
  change when a lot is earned (up) or leaves the window ``tier_window_days`` later
  (down); at each such instant the tier is recomputed, and ``tier_since`` is the first
  of those instants after the last one at which the tier was another. A member who has
  never left the lowest tier (with 0 points it is where everyone starts) has none (null);
* ``next_expiry_at`` / ``next_expiry_points``: the earliest ``expires_at`` among the lots
  with points left (not redeemed, not lapsed), and how many points lapse then.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.activation.loyalty.common import SECONDS_PER_DAY, timestamp
from clientela.activation.loyalty.ledger import ordered_lots
from clientela.activation.settings import LoyaltySettings


def _tier_index(loyalty: LoyaltySettings, points: ir.FloatingValue) -> ir.IntegerValue:
    """The tier's position in ``loyalty.tiers`` (ascending thresholds) for ``points``."""
    thresholds = list(loyalty.tiers.values())
    # From the highest down: the first threshold reached wins (the lowest is 0).
    cases = [(points >= t, i) for i, t in reversed(list(enumerate(thresholds))) if i > 0]
    return ibis.cases(*cases, else_=0) if cases else ibis.literal(0)


def _tier_name(loyalty: LoyaltySettings, index: ir.IntegerValue) -> ir.StringValue:
    names = list(loyalty.tiers)
    return ibis.cases(*((index == i, name) for i, name in enumerate(names)), else_=names[0])


def tier_since(loyalty: LoyaltySettings, lots: ir.Table, as_of: int) -> ir.Table:
    """``contact_id``, ``tier_index`` (as of ``as_of``) and ``since_secs`` (see module)."""
    window = loyalty.tier_window_days * SECONDS_PER_DAY
    ins = lots.select("contact_id", at=_.secs, delta=_.points)
    outs = lots.filter(_.secs + window <= as_of).select(
        "contact_id", at=_.secs + window, delta=-_.points
    )
    changes = ins.union(outs).group_by(["contact_id", "at"]).aggregate(delta=_.delta.sum())
    upto = ibis.window(group_by="contact_id", order_by="at", rows=(None, 0))
    rolling = changes.mutate(points=_.delta.sum().over(upto).round(6))
    staged = rolling.mutate(idx=_tier_index(loyalty, rolling.points))
    last = ibis.window(group_by="contact_id", order_by=ibis.desc("at"))
    current = (
        staged.mutate(rank=ibis.row_number().over(last))
        .filter(_.rank == 0)
        .select(c_contact=_.contact_id, current=_.idx)
    )
    marked = staged.join(current, staged.contact_id == current.c_contact)
    other = marked.filter(marked.idx != marked.current)
    last_other = other.group_by("contact_id").aggregate(other_at=_.at.max())
    with_other = marked.left_join(last_other, marked.contact_id == last_other.contact_id)
    after = with_other.filter(
        (with_other.idx == with_other.current)
        & (with_other.at > with_other.other_at.fill_null(-(2**62)))
    )
    since = after.group_by(after.contact_id).aggregate(
        since_at=after.at.min(),
        tier_index=after.current.max(),
        had_other=after.other_at.notnull().any(),
    )
    # Never left the lowest tier: no moment of entering it (null).
    never_left = (since.tier_index == 0) & ~since.had_other
    return since.select(
        "contact_id",
        "tier_index",
        since_secs=ibis.ifelse(never_left, ibis.null("int64"), since.since_at),
    )


def balances(
    loyalty: LoyaltySettings, rows: ir.Table, lots: ir.Table, members: ir.Table, as_of: int
) -> ir.Table:
    """:data:`~clientela.activation.tables.LOYALTY_SCHEMA` for every member."""
    window_start = as_of - loyalty.tier_window_days * SECONDS_PER_DAY
    totals = rows.group_by("contact_id").aggregate(
        earned=_.points.sum(where=_.kind == "earned"),
        redeemed=_.points.sum(where=_.kind == "redeemed"),
        expired=_.points.sum(where=_.kind == "expired"),
    )
    rolling = (
        lots.filter(_.secs > window_start)
        .group_by("contact_id")
        .aggregate(rolling_points=_.points.sum())
    )
    # What is left of each lot: the used-up prefix of the points axis is
    # C = -(redeemed + expired); lot k keeps max(0, cum_end - max(cum_start, C)).
    used = totals.select(
        u_contact=_.contact_id,
        used=-(_.redeemed.fill_null(0.0) + _.expired.fill_null(0.0)),
    )
    numbered = ordered_lots(lots, loyalty.expiry_days).filter(_.expires_secs > as_of)
    left = numbered.join(used, numbered.contact_id == used.u_contact).mutate(
        left=ibis.greatest(_.cum_end - ibis.greatest(_.cum_start, _.used), 0.0).round(6)
    )
    alive = left.filter(_.left > 1e-6)
    soonest = alive.group_by("contact_id").aggregate(next_secs=_.expires_secs.min())
    next_expiry = (
        alive.join(soonest, (alive.contact_id == soonest.contact_id))
        .filter(_.expires_secs == _.next_secs)
        .group_by(alive.contact_id)
        .aggregate(next_secs=_.next_secs.min(), next_points=_.left.sum().round(6))
    )
    tiers = tier_since(loyalty, lots, as_of)
    out = (
        members.left_join(totals, "contact_id")
        .left_join(rolling, "contact_id")
        .left_join(next_expiry, "contact_id")
        .left_join(tiers, "contact_id")
    )
    earned = out.earned.fill_null(0.0).round(6)
    redeemed = out.redeemed.fill_null(0.0).round(6)
    expired = out.expired.fill_null(0.0).round(6)
    rolling_points = out.rolling_points.fill_null(0.0).round(6)
    index = _tier_index(loyalty, rolling_points)
    return out.select(
        "contact_id",
        balance=(earned + redeemed + expired).round(6),
        earned=earned,
        redeemed=redeemed,
        expired=expired,
        rolling_points=rolling_points,
        tier=_tier_name(loyalty, index),
        tier_since=timestamp(out.since_secs),
        next_expiry_at=timestamp(out.next_secs),
        next_expiry_points=out.next_points,
    )
