"""Seed 003 ratings and reviews, referrals."""

from __future__ import annotations

from datetime import date

import pytest

from clientela.metrics import Query
from clientela.workspace import Workspace
from helpers import metric_rows

MONTHS = Query(start=date(2025, 2, 1), end=date(2025, 4, 30), period="month")


def test_ratings_average_distribution_and_unrated(customer_world: Workspace) -> None:
    """Average over rated reviews, whole-star distribution, unrated reviews apart."""
    rows = {r["period"]: r for r in metric_rows(customer_world, "ratings", MONTHS)}
    feb = rows["2025-02"]
    # February: 5 and 4 stars and one review without a rating: (5 + 4) / 2 = 4.5.
    assert (feb["reviews"], feb["average"], feb["unrated"]) == (3, 4.5, 1)
    assert [feb[f"stars_{n}"] for n in range(1, 6)] == [0, 0, 0, 1, 1]
    mar = rows["2025-03"]
    # March: one 2.6 rating, counted as 3 whole stars; change (2.6 − 4.5) / 4.5 = −42.2 %.
    assert (mar["average"], mar["stars_3"]) == (2.6, 1)
    assert mar["change"] == pytest.approx((2.6 - 4.5) / 4.5 * 100)
    assert rows["2025-04"]["average"] == "n/a (no rated reviews)"


def test_referrals_match_referred_emails_and_conversions(customer_world: Workspace) -> None:
    """A referral joins when its email (trimmed, any case) is a contact's, and converts when
    that contact first buys after it was sent."""
    rows = {r["period"]: r for r in metric_rows(customer_world, "referrals", MONTHS)}
    feb = rows["2025-02"]
    # a referred " H@Mail.Example " (h, who bought on 1 March) and an unknown address:
    # 2 referrals by 1 referrer, 1 joined, 1 converted: 1 / 2 × 100 = 50 %.
    assert (feb["referrals"], feb["referrers"], feb["joined"], feb["converted"]) == (2, 1, 1, 1)
    assert feb["referral_conversion"] == 50.0
    assert rows["2025-03"]["referral_conversion"] == "n/a (no referrals sent)"
