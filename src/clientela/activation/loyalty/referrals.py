"""Referral attribution (seed 003): referrer → invited → converted.

A referrer sends ``[loyalty] referral_event`` (default ``Referral Sent``) with the invited
person's email and/or a referral code. A contact is the invitation's invitee when

* one of the contact's emails is the invitation's email (any time), or
* the contact signed up (``signup_event``) with the invitation's code, at or after the
  invitation (the code belongs to the referrer who sent it);

and never when they are the referrer themself. When several invitations match one contact,
the **first referrer wins**: the earliest invitation (then the smallest message id). The
invitation **converts** with the invitee's first order (``[predict] order_events``) after
it; the referral rule then pays its points to the referrer, if the referrer is a member.

One row per invitation; an invitation that matches nobody, or whose invitee another
invitation won first, keeps ``invited_id`` empty (an invitation that matches two people
names the one with the smallest contact id).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.activation.loyalty.common import timestamp
from clientela.config import Settings
from clientela.scoring.events import property_column


def _text(value: ir.Value) -> ir.StringValue:
    return value.cast("string").strip().lower()


def attribute(settings: Settings, events: ir.Table, known: ir.Table, members: ir.Table) -> ir.Table:
    """Every invitation (``events``: the contacts' track events; ``known``: all their
    events, whose ``email`` column gives their emails) with its attribution: ``ref_id``
    (the invitation's message id), ``referrer_id``, ``invited`` (email, else code),
    ``referred_secs``, ``invited_id``, ``joined_secs``, ``converted_secs``,
    ``order_message_id`` and ``reward_points``."""
    loyalty = settings.loyalty
    code_col = property_column(loyalty.referral_code)
    mail_col = property_column(loyalty.referred_email)
    sent = events.filter(_.event == loyalty.referral_event)
    invitations = sent.select(
        ref_id=sent.message_id,
        referrer_id=sent.contact_id,
        referred_secs=sent.secs,
        code=sent[code_col].cast("string").strip(),
        mail=_text(sent[mail_col]),
    )
    emails = (
        known.filter(_.email.notnull())
        .select(email_contact=_.contact_id, email=_text(_.email))
        .distinct()
    )
    signed = events.filter(_.event == loyalty.signup_event)
    signups = signed.select(
        signup_contact=signed.contact_id,
        signup_secs=signed.secs,
        signup_code=signed[code_col].cast("string").strip(),
    )
    by_email = invitations.join(
        emails,
        (invitations.mail == emails.email) & (invitations.referrer_id != emails.email_contact),
    ).select("ref_id", "referrer_id", "referred_secs", invited_id=_.email_contact)
    by_code = invitations.join(
        signups,
        (invitations.code == signups.signup_code)
        & (signups.signup_secs >= invitations.referred_secs)
        & (invitations.referrer_id != signups.signup_contact),
    ).select("ref_id", "referrer_id", "referred_secs", invited_id=_.signup_contact)
    matches = by_email.union(by_code, distinct=True)
    # First referrer wins: per invitee, the earliest invitation (then the smallest id).
    first = ibis.window(group_by="invited_id", order_by=["referred_secs", "ref_id"])
    ranked = matches.mutate(rank=ibis.row_number().over(first))
    won = ranked.filter(_.rank == 0).select("ref_id", "invited_id", "referred_secs")
    # An invitation that won two people (its email is one's, its code another's sign-up)
    # names one of them: the smallest contact id, so every run picks the same.
    one = ibis.window(group_by="ref_id", order_by="invited_id")
    won = won.mutate(rank=ibis.row_number().over(one)).filter(_.rank == 0).drop("rank")
    joined = signups.group_by("signup_contact").aggregate(joined_secs=_.signup_secs.min())
    orders = events.filter(_.event.isin(settings.predict.order_events)).select(
        buyer=_.contact_id, order_secs=_.secs, order_message_id=_.message_id
    )
    after = won.join(
        orders, (won.invited_id == orders.buyer) & (orders.order_secs > won.referred_secs)
    )
    first_order = ibis.window(group_by="ref_id", order_by=["order_secs", "order_message_id"])
    converted = (
        after.mutate(rank=ibis.row_number().over(first_order))
        .filter(_.rank == 0)
        .select("ref_id", converted_secs=_.order_secs, order_message_id=_.order_message_id)
    )
    rule = loyalty.referral_rule()
    is_member = members.select(member_id=_.contact_id, member=ibis.literal(True))
    out = (
        invitations.left_join(won.select("ref_id", "invited_id"), "ref_id")
        .left_join(joined, _.invited_id == joined.signup_contact)
        .left_join(converted, "ref_id")
        .left_join(is_member, _.referrer_id == is_member.member_id)
    )
    paid = out.converted_secs.notnull() & out.member.fill_null(False)
    reward = (
        ibis.ifelse(paid, ibis.literal(float(rule.points)), ibis.null("float64"))
        if rule is not None
        else ibis.null("float64")
    )
    return out.select(
        "ref_id",
        "referrer_id",
        "invited_id",
        invited=ibis.coalesce(out.mail, out.code),
        referred_secs=out.referred_secs,
        joined_secs=out.joined_secs,
        converted_secs=out.converted_secs,
        order_message_id=out.order_message_id,
        reward_points=reward,
    )


def published(referred: ir.Table) -> ir.Table:
    """The ``referrals`` table (:data:`~clientela.activation.tables.REFERRALS_SCHEMA`)."""
    return referred.select(
        "referrer_id",
        "invited_id",
        "invited",
        referred_at=timestamp(referred.referred_secs),
        joined_at=timestamp(referred.joined_secs),
        converted_at=timestamp(referred.converted_secs),
        reward_points=referred.reward_points,
    )
