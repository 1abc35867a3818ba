"""Loyalty and referral programmes (seeds 002 and 003): the points ledger, balances and tiers,
and referral attribution, as of the run's as-of time.

* :mod:`.earn`: the earned lots — one per event an earn rule pays for, plus one per
  converted referral for its referrer;
* :mod:`.ledger`: redemptions and expiries over the lots (first in, first out) and the
  ledger rows;
* :mod:`.balances`: one row per member — balance, totals, rolling points, tier and
  ``tier_since``, the next expiry;
* :mod:`.referrals`: referrer → invited → converted.

Everything is a function of the events up to the as-of time (``moment``), so a run at an
earlier as-of replays the programme as it stood then. All of it is portable Ibis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.activation.loyalty import balances, earn, ledger, referrals
from clientela.activation.loyalty.common import shaped
from clientela.activation.tables import LOYALTY_LEDGER_SCHEMA, LOYALTY_SCHEMA, REFERRALS_SCHEMA
from clientela.config import Settings
from clientela.engine import Engine
from clientela.errors import ClientelaError


@dataclass(frozen=True)
class Loyalty:
    ledger: ir.Table
    """:data:`~clientela.activation.tables.LOYALTY_LEDGER_SCHEMA`"""
    balances: ir.Table
    """:data:`~clientela.activation.tables.LOYALTY_SCHEMA`"""
    referrals: ir.Table
    """:data:`~clientela.activation.tables.REFERRALS_SCHEMA`"""


def _check(settings: Settings) -> None:
    """Value rules read the order's ``properties``, which the narrowed events keep only for
    ``[stages.events] purchase`` events: refuse a value rule on any other event."""
    purchase = settings.stages.events.purchase
    for i, rule in enumerate(settings.loyalty.earn):
        if rule.kind != "value":
            continue
        missing = [e for e in rule.counted(purchase) if e not in purchase]
        if missing:
            raise ClientelaError(
                f"loyalty.earn[{i}] ({rule.name!r}): a value rule counts orders, and "
                f"{', '.join(repr(e) for e in missing)} is not a purchase event "
                f"([stages.events] purchase = {purchase}); add it there or use kind = 'event'"
            )


def build(
    engine: Engine,
    settings: Settings,
    contact_events: ir.Table,
    classes: ir.Table,
    moment: datetime,
) -> Loyalty:
    """The loyalty ledger, balances and referrals as of ``moment`` (empty when
    ``[loyalty] enabled = false``)."""
    if not settings.loyalty.enabled:
        return Loyalty(
            ledger=ibis.memtable(LOYALTY_LEDGER_SCHEMA.empty_table()),
            balances=ibis.memtable(LOYALTY_SCHEMA.empty_table()),
            referrals=ibis.memtable(REFERRALS_SCHEMA.empty_table()),
        )
    _check(settings)
    as_of = int(moment.timestamp())
    known = contact_events.filter(_.contact_id.notnull() & (_.secs <= as_of))
    events = known.filter(_.type == "track")
    members = (
        classes.filter(_.audience_class.isin(settings.loyalty.member_classes))
        .select("contact_id")
        .distinct()
    )
    referred = engine.cache(referrals.attribute(settings, events, known, members))
    lots = engine.cache(earn.lots(engine, settings, events, members, referred))
    settled = ledger.settle(settings.loyalty, lots, events, members, as_of)
    rows = engine.cache(settled)
    return Loyalty(
        ledger=shaped(rows, LOYALTY_LEDGER_SCHEMA),
        balances=shaped(
            balances.balances(settings.loyalty, rows, lots, members, as_of), LOYALTY_SCHEMA
        ),
        referrals=shaped(referrals.published(referred), REFERRALS_SCHEMA),
    )
