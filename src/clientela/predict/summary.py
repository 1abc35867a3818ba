"""The per-customer purchase summary the lifetime-value models are fitted on.

From the landed orders (``[predict] order_events``), for every contact who bought by the
as-of date, as in the papers' data preparation (Fader, Hardie & Lee 2005; Fader & Hardie
2013):

* orders on the same UTC day are **one transaction**, their values summed;
* ``frequency`` (x) is the number of *repeat* transactions (transactions − 1);
* ``recency`` (t_x) is the time from the first to the last transaction;
* ``age`` (T) is the time from the first transaction to the as-of date;
* ``monetary_value`` (z̄) is the mean value of the repeat transactions (the first one is left
  out: it is often different in kind, and the model predicts *future* spend), NULL without a
  repeat transaction with a known value.

Times are in ``[predict] time_unit`` (day, or week = 7 days, fractions kept), counted in whole
days from the UTC day numbers. An order's value is the first of ``value_properties`` present
(``revenue``, then ``total``), else the sum of ``products[].price × quantity`` (a missing
quantity counts as 1); an order with no value still counts as a transaction.

Everything is Ibis, so it runs on DuckDB and on Spark.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import PredictSettings, Settings
from clientela.engine import Engine
from clientela.identity import contact_of_events

SECONDS_PER_DAY = 86_400
UNIT_DAYS: dict[str, float] = {"day": 1.0, "week": 7.0}

ORDER_COLUMNS = ("contact_id", "message_id", "timestamp", "value")


def _value_column(key: str) -> str:
    return "v_" + "".join(c if c.isalnum() else "_" for c in key)


def order_events(engine: Engine, settings: Settings, events: ir.Table | None = None) -> ir.Table:
    """The landed order events (``[predict] order_events``): ``message_id``, ``user_id``,
    ``anonymous_id``, ``timestamp`` and ``properties`` (default: ``engine.landed("events")``)."""
    landed = engine.landed("events") if events is None else events
    wanted = (_.type == "track") & _.event.isin(settings.predict.order_events)
    return landed.filter(wanted).select(
        "message_id", "user_id", "anonymous_id", "timestamp", "properties"
    )


def order_values(engine: Engine, settings: Settings, order_rows: ir.Table) -> ir.Table:
    """``order_rows`` (with ``message_id`` and the ``properties`` JSON) plus ``value``: the
    first of ``[predict] value_properties`` present, else the sum of the order lines
    (float64, NULL when the order carries none). Also used by the loyalty earn rules."""
    paths = {_value_column(key): key for key in settings.predict.value_properties}
    with_values = engine.json_fields(order_rows, {"properties": paths})
    lines = engine.json_array_items(
        order_rows, "properties", "products", ["price", "quantity"], ["message_id"]
    )
    from_lines = (
        lines.mutate(
            amount=_.price.try_cast("float64") * _.quantity.try_cast("float64").fill_null(1.0)
        )
        .group_by("message_id")
        .aggregate(lines_value=_.amount.sum())
    )
    stated = [with_values[column].try_cast("float64") for column in paths]
    joined = with_values.left_join(from_lines, "message_id")
    value = ibis.coalesce(*stated, joined.lines_value) if stated else joined.lines_value
    return joined.select(*order_rows.columns, value=value)


def orders(
    engine: Engine, settings: Settings, identities: ir.Table, events: ir.Table | None = None
) -> ir.Table:
    """One row per landed order of a contact: ``contact_id``, ``message_id``, ``timestamp``
    and ``value`` (float64, NULL when the order carries none).

    ``events`` are the landed events (default: ``engine.landed("events")``, as of the
    engine's as-of time); ``identities`` the resolved identity graph's ``identities``.
    """
    valued = order_values(engine, settings, order_events(engine, settings, events))
    junk = settings.identity.all_junk_ids()
    placed = contact_of_events(
        valued.select("message_id", "user_id", "anonymous_id", "timestamp", "value"),
        identities,
        junk,
    )
    return placed.filter(_.contact_id.notnull()).select(*ORDER_COLUMNS)


def summarize(orders: ir.Table, as_of: datetime, time_unit: str = "week") -> ir.Table:
    """The purchase summary of every contact with an order by ``as_of`` (see the module).

    ``orders`` has ``contact_id``, ``timestamp`` and ``value`` (float64, may be NULL); orders
    after ``as_of`` are left out. Columns: ``contact_id``, ``orders`` (order events),
    ``transactions`` (buying days), ``frequency``, ``recency``, ``age``, ``monetary_value``,
    ``revenue`` (all orders' values), ``first_order_at``, ``last_order_at``.
    """
    if time_unit not in UNIT_DAYS:
        raise ValueError(f"time unit 'day' or 'week', not {time_unit!r}")
    unit = ibis.literal(UNIT_DAYS[time_unit])
    as_of_secs = int(as_of.timestamp())
    as_of_day = as_of_secs // SECONDS_PER_DAY
    secs = orders.timestamp.truncate("s").epoch_seconds().cast("int64")
    dated = orders.mutate(secs=secs).filter(_.secs <= as_of_secs)
    dated = dated.mutate(day=(_.secs // SECONDS_PER_DAY).cast("int64"))
    # One transaction per (contact, day); its value is the sum of its orders' known values.
    days = dated.group_by(["contact_id", "day"]).aggregate(
        day_value=_.value.sum(), day_orders=_.count()
    )
    per_contact = dated.group_by("contact_id").aggregate(
        orders=_.count(),
        revenue=_.value.sum(),
        first_secs=_.secs.min(),
        last_secs=_.secs.max(),
    )
    spans = days.group_by("contact_id").aggregate(
        transactions=_.count(), first_day=_.day.min(), last_day=_.day.max()
    )
    repeats = (
        days.inner_join(spans.select("contact_id", "first_day"), "contact_id")
        .filter(_.day > _.first_day)
        .group_by("contact_id")
        .aggregate(monetary_value=_.day_value.mean())
    )
    joined = per_contact.inner_join(spans, "contact_id").left_join(repeats, "contact_id")
    return joined.select(
        "contact_id",
        orders=_.orders.cast("int64"),
        transactions=_.transactions.cast("int64"),
        frequency=(_.transactions - 1).cast("int64"),
        recency=(_.last_day - _.first_day).cast("float64") / unit,
        age=(as_of_day - _.first_day).cast("float64") / unit,
        # Rounded so that both engines, which add doubles in different orders, agree.
        monetary_value=_.monetary_value.round(6),
        revenue=_.revenue.round(6),
        first_order_at=_.first_secs.as_timestamp("s").cast("timestamp('UTC')"),
        last_order_at=_.last_secs.as_timestamp("s").cast("timestamp('UTC')"),
    )


def build(engine: Engine, settings: Settings, identities: ir.Table, as_of: datetime) -> ir.Table:
    """The purchase summary of the landed orders as of ``as_of`` (the main job's step)."""
    predict: PredictSettings = settings.predict
    return summarize(orders(engine, settings, identities), as_of, predict.time_unit)
