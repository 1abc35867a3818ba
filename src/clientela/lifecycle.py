"""The lifecycle dimension and the one-row-per-contact view of the 3D score.

For every contact: audience class, the preferred model's fit, engagement and grade, the
stage (with how long they have been there), tenure since the first purchase, how many
orders and how many different products and categories they bought, recency, the
subscription (status ``active``, ``cancelled`` or ``lapsed``, plan, current MRR, since when
and when it ended), the label shown everywhere (``A2 · customer``) and the **next
initiative**:

* a non-buyer gets its class's courteous route (``audience.routes``);
* a contact who has not bought yet and whose grade is sales-ready
  (``stages.sales_ready_grades``) is handed to sales;
* everyone else gets their stage's initiative (seed 000).
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import Settings
from clientela.engine import Engine
from clientela.engine.portable import union_all
from clientela.scoring.events import SECONDS_PER_DAY
from clientela.stages import Subscriptions


def build(
    engine: Engine,
    settings: Settings,
    contacts: ir.Table,
    contact_events: ir.Table,
    events: ir.Table,
    audience: ir.Table,
    primary: ir.Table,
    stages: ir.Table,
    subscriptions: Subscriptions,
    as_of: datetime,
) -> ir.Table:
    """One row per contact: the 3D score, stage, lifecycle facts and next initiative.

    Orders are the purchase events plus the subscription spells a purchase did not start
    (as the stage machine counts them)."""
    as_of_secs = int(as_of.timestamp())
    stage_events = settings.stages.events
    purchases = events.filter((_.type == "track") & _.event.isin(stage_events.purchase))
    spells = subscriptions.spells
    orders = union_all(
        [
            purchases.select("contact_id", "secs"),
            spells.filter(spells.start_is_purchase == 0).select(
                "contact_id", secs=spells.started_secs
            ),
        ]
    )
    bought = orders.group_by("contact_id").aggregate(
        orders=_.count(), first_purchase=_.secs.min(), last_purchase=_.secs.max()
    )
    order_rows = contact_events.filter(
        (_.type == "track") & _.event.isin(stage_events.purchase) & _.contact_id.notnull()
    ).select("contact_id", "properties")
    products = (
        engine.json_array_field(order_rows, "properties", "products", "product_id", ["contact_id"])
        .group_by("contact_id")
        .aggregate(products=_.value.nunique())
    )
    categories = (
        engine.json_array_field(order_rows, "properties", "products", "category", ["contact_id"])
        .group_by("contact_id")
        .aggregate(categories=_.value.nunique())
    )
    active = events.filter(
        _.type.isin(["track", "page", "screen", "identify"])
        & ~((_.type == "track") & _.event.isin(stage_events.passive)).fill_null(False)
    )
    last_active = active.group_by("contact_id").aggregate(last_active=_.secs.max())
    subscription = _subscription(subscriptions.history)

    joined = (
        contacts.select("contact_id", "account_id")
        .left_join(audience, "contact_id")
        .left_join(
            primary.select(
                "contact_id",
                "model",
                "scored",
                "fit",
                "fit_letter",
                "engagement",
                "engagement_digit",
                "grade",
            ),
            "contact_id",
        )
        .left_join(stages, "contact_id")
        .left_join(bought, "contact_id")
        .left_join(products, "contact_id")
        .left_join(categories, "contact_id")
        .left_join(last_active, "contact_id")
        .left_join(subscription, "contact_id")
    )
    days = ibis.literal(float(SECONDS_PER_DAY))
    initiative = ibis.cases(
        *((joined.stage == s.name, s.initiative) for s in settings.stages.stages),
        else_="",
    )
    sales_ready = (
        joined.grade.isin(settings.stages.sales_ready_grades).fill_null(False)
        & joined.orders.isnull()
    )
    next_initiative = ibis.cases(
        (joined.audience_class != "buyer", joined.route),
        (sales_ready, settings.stages.sales_ready_initiative),
        else_=initiative,
    )
    label = ibis.ifelse(joined.grade.notnull(), joined.grade + " · " + joined.stage, joined.stage)
    return joined.select(
        "contact_id",
        "account_id",
        "audience_class",
        policy=_.policy,
        evidence=_.evidence,
        model=_.model,
        scored=_.scored.fill_null(False),
        fit=_.fit,
        fit_letter=_.fit_letter,
        engagement=_.engagement,
        engagement_digit=_.engagement_digit,
        grade=_.grade,
        stage=_.stage,
        label=label,
        stage_since=_.stage_since,
        days_in_stage=_.days_in_stage,
        stage_reason=_.stage_reason,
        orders=_.orders.fill_null(0),
        products=_.products.fill_null(0),
        categories=_.categories.fill_null(0),
        first_purchase_at=_.first_purchase.as_timestamp("s").cast("timestamp('UTC')"),
        tenure_days=((as_of_secs - _.first_purchase).cast("float64") / days).round(4),
        last_active_at=_.last_active.as_timestamp("s").cast("timestamp('UTC')"),
        recency_days=((as_of_secs - _.last_active).cast("float64") / days).round(4),
        subscription_status=_.subscription_status,
        plan=_.plan,
        mrr=_.mrr,
        subscribed_at=_.subscribed_at,
        subscription_ended_at=_.subscription_ended_at,
        next_initiative=next_initiative,
    )


def _subscription(history: ir.Table) -> ir.Table:
    """One row per subscriber: ``active`` while a subscription runs (plan of the largest, MRR
    of all that run, since the start of that spell), else the last one's end (``cancelled``
    or ``lapsed``, MRR 0, when it ended)."""
    running = history.until_at.isnull()
    ranked = history.mutate(
        _running=running.cast("int64"),
        _rank=ibis.row_number().over(
            ibis.window(
                group_by="contact_id",
                order_by=[
                    ibis.desc(running.cast("int64")),
                    ibis.desc(history.until_at),
                    ibis.desc(history.mrr),
                    history.subscription_id,
                ],
            )
        ),
        _mrr=ibis.ifelse(running, history.mrr, 0.0).sum().over(ibis.window(group_by="contact_id")),
    )
    top = ranked.filter(ranked._rank == 0)
    return top.select(
        "contact_id",
        subscription_status=ibis.ifelse(top._running == 1, "active", top.ended),
        plan=top.plan,
        mrr=top._mrr,
        subscribed_at=top.started_at,
        subscription_ended_at=top.until_at,
    )


def select_contacts(
    view: ir.Table,
    grades: list[str] | None = None,
    stages: list[str] | None = None,
    classes: list[str] | None = None,
    account: str | None = None,
    identified: bool | None = None,
    min_fit: float | None = None,
    max_fit: float | None = None,
    min_engagement: float | None = None,
    max_engagement: float | None = None,
) -> ir.Table:
    """The lifecycle view (joined with contacts) filtered as ``contacts list`` and the read
    API filter it: grades (``A1``) or fit letters (``A``), stages, classes, account, identified
    and fit / engagement bounds. Empty lists and None mean "any"."""
    t = view
    wanted = [g.upper() for g in grades or []]
    if wanted:
        full = [g for g in wanted if len(g) == 2] or ["-"]
        letters = [g for g in wanted if len(g) == 1] or ["-"]
        t = t.filter(t.grade.isin(full) | t.fit_letter.isin(letters))
    if stages:
        t = t.filter(t.stage.isin(stages))
    if classes:
        t = t.filter(t.audience_class.isin(classes))
    if account is not None:
        t = t.filter(t.account_id == account)
    if identified is not None:
        t = t.filter(t.identified == identified)
    for bound, column, low in (
        (min_fit, "fit", True),
        (max_fit, "fit", False),
        (min_engagement, "engagement", True),
        (max_engagement, "engagement", False),
    ):
        if bound is not None:
            t = t.filter(t[column] >= bound if low else t[column] <= bound)
    return t


def best_first(t: ir.Table) -> ir.Table:
    """Best grade first, then the most engaged, then by id (contacts without a grade last)."""
    from clientela.scoring.grade import grade_rank

    return t.order_by(
        [grade_rank(t.grade).fill_null(99), t.engagement.desc(nulls_first=False), t.contact_id]
    )
