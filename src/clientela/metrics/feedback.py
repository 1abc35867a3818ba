"""Seed 003: ratings and reviews, referrals.

* **ratings**: reviews (``metrics.events.review``) in the period; the average of their
  ``rating`` (``metrics.fields.rating``) over the reviews that carry one; the distribution of
  ratings rounded to whole stars 1–5 (counts). Reviews without a rating are counted in
  ``reviews`` and ``unrated``, not in the average.
* **referrals**: referral events (``metrics.events.referral``) sent in the period, by how
  many referrers; a referral *joined* when its referred email (``metrics.fields.
  referred_email``, compared trimmed and lower-case) belongs to a known contact; it
  *converted* when that contact's first purchase (``stages.events.purchase``) came after the
  referral was sent. referral conversion = converted / referrals × 100.
"""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
from ibis import _

from clientela.engine.portable import trim
from clientela.metrics.base import Context, Metric, Value, ratio, register

STARS = (1, 2, 3, 4, 5)


def _reviews(ctx: Context) -> ir.Table:
    events = ctx.settings.metrics.events.review
    reviews = ctx.in_range(ctx.activity().filter((_.type == "track") & _.event.isin(events)))
    stars = reviews.rating.round(0).cast("int64")
    return reviews.select(
        "period",
        "contact_id",
        "secs",
        "rating",
        rated=reviews.rating.notnull().cast("int64"),
        rating_sum=reviews.rating.fill_null(0.0),
        **{f"stars_{n}": (stars == n).fill_null(False).cast("int64") for n in STARS},
    )


def _finish_ratings(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    out: dict[str, Value] = {
        "reviews": cell["reviews"],
        "average": ratio(cell["rating_sum"], cell["rated"], "no rated reviews", scale=1.0),
        "unrated": cell["reviews"] - cell["rated"],
    }
    for n in STARS:
        out[f"stars_{n}"] = cell[f"stars_{n}"]
    return out


register(
    Metric(
        name="ratings",
        title="Ratings and reviews",
        family="seed 003 · loyalty",
        formula="average = sum of ratings / rated reviews; distribution of whole stars 1–5",
        facts=_reviews,
        measures=lambda f: {
            "reviews": f.count(),
            "rated": f.rated.sum(),
            "rating_sum": f.rating_sum.sum(),
            **{f"stars_{n}": f[f"stars_{n}"].sum() for n in STARS},
        },
        finish=_finish_ratings,
        columns={
            "reviews": "count",
            "average": "rating",
            "unrated": "count",
            **{f"stars_{n}": "count" for n in STARS},
        },
        headline="average",
    )
)


def _referrals(ctx: Context) -> ir.Table:
    settings = ctx.settings
    sent = ctx.in_range(
        ctx.activity().filter((_.type == "track") & _.event.isin(settings.metrics.events.referral))
    )
    sent = sent.select(
        "period",
        "contact_id",
        "message_id",
        "secs",
        email=trim(sent.referred_email).lower(),
    )
    emails = (
        ctx.published("identities")
        .filter(_.kind == "email")
        .group_by(email_key=trim(_.value).lower())
        .aggregate(referred_contact=_.contact_id.min())  # one contact per email
    )
    buys = (
        ctx.published("activity")
        .filter((_.type == "track") & _.event.isin(settings.stages.events.purchase))
        .group_by("contact_id")
        .aggregate(first_purchase=_.secs.min())
        .rename(buyer="contact_id")
    )
    joined = sent.left_join(emails, sent.email == emails.email_key)
    joined = joined.left_join(buys, joined.referred_contact == buys.buyer)
    return joined.select(
        "period",
        "contact_id",
        "message_id",
        "email",
        "referred_contact",
        joined=joined.referred_contact.notnull().cast("int64"),
        converted=(joined.first_purchase > joined.secs).fill_null(False).cast("int64"),
    )


def _finish_referrals(cell: dict[str, Any], ctx: Context) -> dict[str, Value]:
    return {
        "referrals": cell["referrals"],
        "referrers": cell["referrers"],
        "joined": cell["joined"],
        "converted": cell["converted"],
        "referral_conversion": ratio(cell["converted"], cell["referrals"], "no referrals sent"),
    }


register(
    Metric(
        name="referrals",
        title="Referrals",
        family="seed 003 · loyalty",
        formula="referral conversion = referred contacts whose first purchase came after the "
        "referral / referrals sent × 100",
        facts=_referrals,
        measures=lambda f: {
            "referrals": f.count(),
            "referrers": f.contact_id.nunique(),
            "joined": f.joined.sum(),
            "converted": f.converted.sum(),
        },
        finish=_finish_referrals,
        columns={
            "referrals": "count",
            "referrers": "count",
            "joined": "count",
            "converted": "count",
            "referral_conversion": "%",
        },
        headline="referrals",
    )
)
