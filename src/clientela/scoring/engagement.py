"""Engagement: what a contact did, weighted by how personal it was and how long ago.

For each signal an event matches, in this order:

1. **Daily cap.** Within one UTC day, the signal's points count until ``cap_per_day`` is
   reached; the event that crosses it counts for what is left, later ones for 0.
2. **Decay.** Points halve every ``half_life_days``: an event ``a`` days before the as-of
   time keeps ``0.5 ** (a / half_life_days)`` of its points (exponential, never linear).
3. **Total cap.** The decayed points of a signal count, newest first, until ``cap_total``.

Each event's result is a ledger row; the contact's raw engagement is their sum, which the
saturating curve (:mod:`clientela.scoring.grade`) maps to 0-100.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import ModelSettings, Signal
from clientela.engine.portable import trim, union_all
from clientela.scoring import ledger
from clientela.scoring.events import SECONDS_PER_DAY, property_column
from clientela.scoring.fit import as_text


def signal_filter(events: ir.Table, signal: Signal) -> ir.BooleanValue:
    """Which prepared events a signal counts."""
    test = events.type == signal.type
    if signal.event:
        named = events.event if signal.type == "track" else events.name
        test = test & named.isin(signal.event)
    if signal.path is not None:
        test = test & events.path.re_search(signal.path).fill_null(False)
    if signal.channel is not None:
        test = test & (events.channel == signal.channel).fill_null(False)
    for key, wanted in signal.where.items():
        column = trim(events[property_column(key)]).lower()
        if isinstance(wanted, list):
            test = test & column.isin([as_text(w) for w in wanted]).fill_null(False)
        else:
            test = test & (column == as_text(wanted)).fill_null(False)
    return test


def _detail(events: ir.Table, signal: Signal) -> ir.StringValue:
    if signal.type == "page":
        return ("page " + events.path.fill_null(events.name.fill_null("(no path)"))).cast("string")
    if signal.type == "screen":
        return ("screen " + events.name.fill_null("(no name)")).cast("string")
    if signal.type == "track":
        return events.event.cast("string")
    return ibis.literal(signal.type)


def ledger_rows(
    model_name: str, model: ModelSettings, events: ir.Table, as_of_secs: int
) -> ir.Table:
    """Engagement ledger rows of ``events`` (prepared events of the contacts to score)."""
    hits = []
    for signal in model.signals:
        hit = events.filter(signal_filter(events, signal))
        hits.append(
            hit.select(
                "contact_id",
                "message_id",
                "timestamp",
                "secs",
                "day",
                signal=ibis.literal(signal.name),
                detail=_detail(hit, signal),
                base=ibis.literal(float(signal.points)),
                half_life=ibis.literal(float(signal.half_life_days)),
                cap_day=ibis.literal(signal.cap_per_day, type="float64"),
                cap_total=ibis.literal(signal.cap_total, type="float64"),
            )
        )
    if not hits:
        return ledger.union([])
    matched = union_all(hits).filter(_.secs <= as_of_secs)

    day_order = [matched.secs, matched.message_id]
    day_window = ibis.window(
        group_by=[matched.contact_id, matched.signal, matched.day],
        order_by=day_order,
        rows=(None, 0),
    )
    before_today = matched.base.sum().over(day_window) - matched.base
    after_day = ibis.ifelse(
        matched.cap_day.isnull(),
        matched.base,
        ibis.greatest(ibis.least(matched.base, matched.cap_day - before_today), 0.0),
    )
    age_days = (ibis.literal(as_of_secs) - matched.secs).cast("float64") / SECONDS_PER_DAY
    decay = ibis.literal(0.5) ** (age_days / matched.half_life)
    daily = matched.mutate(after_day=after_day, decay=decay).mutate(decayed=_.after_day * _.decay)

    newest_first = [daily.secs.desc(), daily.message_id.desc()]
    total_window = ibis.window(
        group_by=[daily.contact_id, daily.signal], order_by=newest_first, rows=(None, 0)
    )
    before_newer = daily.decayed.sum().over(total_window) - daily.decayed
    final = ibis.ifelse(
        daily.cap_total.isnull(),
        daily.decayed,
        ibis.greatest(ibis.least(daily.decayed, daily.cap_total - before_newer), 0.0),
    )
    scored = daily.mutate(final=final)
    note = ibis.cases(
        (scored.after_day < scored.base, " (daily cap)"),
        (scored.final < scored.decayed, " (total cap)"),
        else_="",
    )
    return ledger.rows(
        scored,
        model=model_name,
        dimension="engagement",
        rule=scored.signal,
        raw_points=scored.base,
        points=scored.final,
        detail=scored.detail + note,
        message_id=scored.message_id,
        event_at=scored.timestamp,
        decay=scored.decay,
    )
