"""The points ledger: earned lots, redemptions and expiries, first in, first out.

**Method.** A member's lots are ordered by (time, message id, rule) and laid end to end on
one axis of points: lot *k* covers ``[cum_start, cum_end)`` of the cumulative earned points.
Redemptions and expiries always take the oldest points left (every lot lives the same
``expiry_days``, so lots also lapse in that order), hence what has been *used up* by time
*t* — redeemed or expired — is a prefix of that axis, of length ``C(t)``. The stream of a
member's operations, in time order (at one instant: earnings, then expiries, then
redemptions), moves ``C``:

* an expiry of lot *k* at its ``expires_at``: ``C ← max(C, cum_end_k)`` (what is left of
  the lot lapses);
* a redemption of *r* points: ``C ← min(C + r, E)``, ``E`` the points earned so far (a
  redemption beyond the balance ``E - C`` is capped at it).

With ``R`` the cumulative *requested* redemptions, ``Y = C - R`` goes through
``Y ← max(Y, v)`` at expiries (``v = cum_end_k - R``) and ``Y ← min(Y, u)`` at
redemptions (``u = E - R``), from ``Y = 0``. Since min and max distribute over each
other, ``Y`` after operation *m* is ``max over f ≤ m of min(v_f, min of u_j for f < j ≤ m)``
(``f`` runs over the start, with ``v = 0``, and the expiries). That is a join of each
member's floors with their later operations, a running minimum per floor and a maximum
per operation: cumulative sums and windows only, portable to Spark, no loop. Each
operation's amount is then ``C_m - C_{m-1}``. The join is quadratic in one member's
operations (redemptions plus lapsed lots), which stays small for real members.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.activation.loyalty.common import SECONDS_PER_DAY, timestamp
from clientela.activation.settings import LoyaltySettings
from clientela.scoring.events import property_column

_EARN, _EXPIRE, _REDEEM = 0, 1, 2
"""The order of operations at one instant."""


def ordered_lots(lots: ir.Table, expiry_days: int) -> ir.Table:
    """The lots with ``lot_no`` (0, 1, ... per member), ``cum_start``/``cum_end`` on the
    cumulative points axis and ``expires_secs``."""
    order = ["secs", "message_id", "rule"]
    cumulative = ibis.window(group_by="contact_id", order_by=order, rows=(None, 0))
    numbered = lots.mutate(
        lot_no=ibis.row_number().over(ibis.window(group_by="contact_id", order_by=order)),
        cum_end=_.points.sum().over(cumulative),
    )
    return numbered.mutate(
        cum_start=_.cum_end - _.points,
        expires_secs=_.secs + expiry_days * SECONDS_PER_DAY,
    )


def redemptions(loyalty: LoyaltySettings, events: ir.Table, members: ir.Table) -> ir.Table:
    """The members' redemption events: ``contact_id``, ``secs``, ``message_id``,
    ``requested`` (0 when the points are missing, not a number or negative) and ``note``."""
    redeemed = events.filter(_.event == loyalty.redemption_event).join(members, "contact_id")
    asked = redeemed[property_column(loyalty.redemption_points)].cast("string").try_cast("float64")
    bad = asked.isnull() | (asked < 0)
    return redeemed.select(
        "contact_id",
        "secs",
        "message_id",
        requested=ibis.ifelse(bad, 0.0, asked).round(6),
        note=ibis.ifelse(
            bad,
            f"no valid '{loyalty.redemption_points}' property (a number of points, 0 or more)",
            ibis.null("string"),
        ),
    )


def _operations(lots: ir.Table, redeemed: ir.Table, as_of: int) -> ir.Table:
    """Every member's stream of operations with ``op_no``, ``earned`` (E) and ``asked``
    (R) so far."""
    blank_f = ibis.null("float64")
    earn = lots.select(
        "contact_id",
        "secs",
        kind=ibis.literal(_EARN, "int64"),
        lot_no=_.lot_no.cast("int64"),
        message_id=_.message_id,
        gained=_.points,
        asked_now=ibis.literal(0.0),
        floor=blank_f,
    )
    lapse = lots.filter(_.expires_secs <= as_of).select(
        "contact_id",
        secs=_.expires_secs,
        kind=ibis.literal(_EXPIRE, "int64"),
        lot_no=_.lot_no.cast("int64"),
        message_id=_.message_id,
        gained=ibis.literal(0.0),
        asked_now=ibis.literal(0.0),
        floor=_.cum_end,
    )
    redeem = redeemed.select(
        "contact_id",
        "secs",
        kind=ibis.literal(_REDEEM, "int64"),
        lot_no=ibis.null("int64"),
        message_id=_.message_id,
        gained=ibis.literal(0.0),
        asked_now=_.requested,
        floor=blank_f,
    )
    stream = earn.union(lapse).union(redeem)
    order = ["secs", "kind", "lot_no", "message_id"]
    upto = ibis.window(group_by="contact_id", order_by=order, rows=(None, 0))
    return stream.mutate(
        op_no=ibis.row_number().over(ibis.window(group_by="contact_id", order_by=order)) + 1,
        earned=_.gained.sum().over(upto).round(6),
        asked=_.asked_now.sum().over(upto).round(6),
    )


def used_up(lots: ir.Table, redeemed: ir.Table, as_of: int) -> ir.Table:
    """Per expiry and redemption: ``contact_id``, ``op_no``, ``kind``, ``secs``,
    ``message_id``, ``lot_no`` and ``amount`` (points it used up, ≥ 0)."""
    ops = _operations(lots, redeemed, as_of).filter(_.kind != _EARN)
    ops = ops.mutate(
        v=ibis.ifelse(ops.kind == _EXPIRE, ops.floor - ops.asked, ibis.null("float64")),
        u=ibis.ifelse(ops.kind == _REDEEM, ops.earned - ops.asked, ibis.null("float64")),
    )
    start = (
        ops.select("contact_id")
        .distinct()
        .mutate(f_no=ibis.literal(0, "int64"), v=ibis.literal(0.0))
    )
    floors = start.union(
        ops.filter(_.kind == _EXPIRE).select("contact_id", f_no=_.op_no.cast("int64"), v=_.v)
    )
    later = ops.select(m_contact=_.contact_id, m_no=_.op_no, m_u=_.u)
    pairs = floors.join(later, (floors.contact_id == later.m_contact) & (later.m_no >= floors.f_no))
    caps = ibis.window(group_by=["contact_id", "f_no"], order_by="m_no", rows=(None, 0))
    pairs = pairs.mutate(cap=pairs.m_u.min().over(caps))
    bound = ibis.least(pairs.v, ibis.coalesce(pairs.cap, pairs.v))
    level = pairs.group_by(["contact_id", "m_no"]).aggregate(y=bound.max())
    settled = ops.join(level, (ops.contact_id == level.contact_id) & (ops.op_no == level.m_no))
    settled = settled.select(
        "contact_id", "op_no", "kind", "secs", "message_id", "lot_no", c=(_.asked + _.y)
    )
    before = ibis.window(group_by="contact_id", order_by="op_no")
    return settled.mutate(amount=(_.c - _.c.lag().over(before).fill_null(0.0)).round(6))


def settle(
    loyalty: LoyaltySettings, lots: ir.Table, events: ir.Table, members: ir.Table, as_of: int
) -> ir.Table:
    """Every ledger row (:data:`~clientela.activation.tables.LOYALTY_LEDGER_SCHEMA`, plus
    ``secs``): the earned lots, the redemptions (capped at the balance) and the expiries
    of what was not redeemed by then."""
    numbered = ordered_lots(lots, loyalty.expiry_days)
    redeemed = redemptions(loyalty, events, members)
    used = used_up(numbered, redeemed, as_of)
    earned = numbered.select(
        "contact_id",
        "secs",
        kind=ibis.literal("earned"),
        rule=_.rule,
        points=_.points,
        message_id=_.message_id,
        expires_secs=_.expires_secs,
        reason=_.reason,
    )
    spent = used.filter(_.kind == _REDEEM).select(
        u_contact=_.contact_id, u_message=_.message_id, amount=_.amount
    )
    taken = redeemed.join(
        spent, (redeemed.contact_id == spent.u_contact) & (redeemed.message_id == spent.u_message)
    )
    capped = taken.amount < taken.requested - 1e-6
    redemption_rows = taken.select(
        "contact_id",
        "secs",
        kind=ibis.literal("redeemed"),
        rule=ibis.literal("redemption"),
        points=0.0 - taken.amount,
        message_id=taken.message_id,
        expires_secs=ibis.null("int64"),
        reason=ibis.cases(
            (taken.note.notnull(), taken.note),
            (
                capped,
                ibis.literal("asked for ")
                + taken.requested.round(2).cast("string")
                + ", capped at the balance of "
                + taken.amount.round(2).cast("string"),
            ),
            else_=ibis.literal("redeemed"),
        ),
    )
    lapsed = used.filter((_.kind == _EXPIRE) & (_.amount > 0))
    which = numbered.select(l_contact=_.contact_id, l_no=_.lot_no, l_rule=_.rule)
    lapsed = lapsed.join(
        which, (lapsed.contact_id == which.l_contact) & (lapsed.lot_no == which.l_no)
    )
    expiry_rows = lapsed.select(
        "contact_id",
        "secs",
        kind=ibis.literal("expired"),
        rule=ibis.literal("expiry"),
        points=0.0 - lapsed.amount,
        message_id=lapsed.message_id,
        expires_secs=ibis.null("int64"),
        reason=ibis.literal(f"not redeemed within {loyalty.expiry_days} days (")
        + lapsed.l_rule
        + ")",
    )
    rows = earned.union(redemption_rows).union(expiry_rows)
    return rows.mutate(at=timestamp(rows.secs), expires_at=timestamp(rows.expires_secs))
