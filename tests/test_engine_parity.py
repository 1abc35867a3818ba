"""Engine parity: the main job gives identical tables on DuckDB and on Spark."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clientela import pipeline
from clientela.engine import connect
from clientela.ingest.crm import import_file
from clientela.ingest.files import ingest_files
from clientela.workspace import Workspace
from conftest import make_workspace
from journeys import Journeys

pytestmark = pytest.mark.spark


AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
SETTINGS = """
[audience]
competitor_domains = ["rival.example"]

[predict.recommend]
min_co_buyers = 1
min_lift = 0.5

[policy]
do_not_contact = ["jo@mail.example"]

[segments.pro_buyers]
all = [{ did = "Order Completed", where = { plan = "pro" }, within_days = 30 }]

[segments.pricing_not_bought]
all = [
  { did = "page", path = "/pricing", within_days = 7 },
  { did_not = "Order Completed", within_days = 7 },
]

[segments.pro_plan]
any = [{ field = "trait.plan", equals = "pro" }, { segment = "pro_buyers" }]

[segments.repeat]
all = [{ field = "orders", gte = 2 }, { not = { field = "stage", is_null = true } }]

[loyalty]
expiry_days = 30
tier_window_days = 60
tiers = {Bronze = 0, Silver = 100, Gold = 300}
"""


def _world(tmp_path: Path) -> Workspace:
    ws = make_workspace(tmp_path / "ws", SETTINGS)
    j = Journeys()
    j.page(anonymous_id="a1", at=0, properties={"path": "/pricing"})
    j.identify(
        anonymous_id="a1", user_id="u1", traits={"email": "Ann@acme.io", "title": "CTO"}, at=1
    )
    j.identify(user_id="u1", traits={"title": "CEO", "age": 41}, at=5)
    j.alias("u1", "u1-new", at=6)
    j.group("acc-1", user_id="u1-new", traits={"name": "Acme", "website": "https://acme.io"}, at=7)
    j.identify(anonymous_id="kiosk", user_id="bob", traits={"email": "bob@b.org"}, at=8)
    j.identify(anonymous_id="kiosk", user_id="cat", at=9)
    j.identify(user_id="dan", traits={"email": "bob@b.org"}, at=10)
    j.identify(anonymous_id="z1", traits={"email": "zed@acme.io"}, at=11)
    j.track("Order Completed", user_id="bob", properties={"revenue": 10}, at=12)
    # Scoring, audience classes and stages: signals with caps and decay, a bot, a job seeker,
    # a competitor, a churn and a return, advocacy.
    for k in range(8):
        j.page(user_id="u1-new", properties={"path": "/pricing" if k % 2 else "/blog"}, at=20 + k)
    j.track("Meeting Held", user_id="u1-new", properties={"meeting_type": "demo"}, at=30)
    j.track("Form Submitted", user_id="u1-new", properties={"form_id": "demo-request"}, at=31)
    j.track("Webinar Attended", user_id="bob", at=40)
    j.track(
        "Order Completed",
        user_id="bob",
        properties={"products": [{"product_id": "kit", "category": "Looms"}]},
        at=50,
    )
    j.track("Subscription Cancelled", user_id="bob", at=24 * 40)
    # Recommendations: fay's lines name the kit's price (bob then gets yarn as a cross-sell
    # and gus's bigger loom as an up-sell).
    kit = {"product_id": "kit", "name": "Kit", "category": "Looms", "price": 100}
    yarn = {"product_id": "yarn", "name": "Yarn", "category": "Yarn", "price": "9.5"}
    j.track("Order Completed", user_id="fay", properties={"products": [kit, yarn]}, at=90)
    big = {"product_id": "big", "name": "Big Loom", "category": "Looms", "price": 249.9}
    j.track("Order Completed", user_id="gus", properties={"products": [big]}, at=91)
    # A yearly subscription moved to a monthly plan (subscriptions, the subscribed feature).
    yearly = {"subscription_id": "s1", "plan": "team", "amount": 1200, "interval": "annual"}
    j.track("Subscription Started", user_id="u1-new", properties=yearly, at=32)
    monthly = {"subscription_id": "s1", "plan": "pro", "total": "45.5"}
    j.track(
        "Invoice Paid", user_id="u1-new", properties={**monthly, "interval": "month"}, at=24 * 50
    )
    j.track("Order Completed", user_id="bob", at=24 * 60)
    j.track("Post Created", user_id="bob", at=24 * 61)
    for k in range(6):
        j.page(anonymous_id="crawler", context={"userAgent": "Googlebot/2.1"}, at=70 + k / 7200)
    j.identify(user_id="jo", traits={"email": "jo@mail.example"}, at=80)
    j.track("Job Application Submitted", user_id="jo", properties={"job_id": "j1"}, at=81)
    j.identify(user_id="riv", traits={"email": "x@rival.example", "company": "Rival"}, at=82)
    # -- activation: policy --
    # Consent from a trait and from events (latest wins), a zone, a reported send.
    j.identify(user_id="fay", traits={"email_opt_in": "false", "timezone": "Europe/Madrid"}, at=92)
    j.track("Unsubscribed", user_id="gus", at=93)
    j.track("Consent Updated", user_id="fay", properties={"channel": "sms", "granted": True}, at=94)
    j.track("Email Sent", user_id="bob", properties={"purpose": "marketing"}, at=95)
    # -- activation: segments --
    # Segments and playbook facts: a recent order with a property the segment filters on, a
    # pricing visit without a purchase, a ticket first answered an hour later (missed the
    # 30-minute response target) and a low rating.
    j.identify(user_id="hal", traits={"email": "hal@hal.example", "plan": "pro"}, at=3400)
    j.page(user_id="hal", properties={"path": "/pricing"}, at=3450)
    j.track("Order Completed", user_id="gus", properties={"plan": "pro"}, at=3480)
    j.track("Ticket Created", user_id="fay", properties={"ticket_id": "t9"}, at=3470)
    reply = {"ticket_id": "t9", "author_role": "agent"}
    j.track("Ticket Replied", user_id="agent1", properties=reply, at=3471)
    j.track("Review Submitted", user_id="gus", properties={"rating": 2}, at=3485)
    # -- activation: loyalty --
    # lo1 earns (value, review, answer), redeems within and beyond the balance, lets points
    # lapse (expiry_days = 30), refers lo2 (by email; converts) while lo3 signs up with the
    # same code; tiers and tier_since move as lots leave the 60-day window.
    j.identify(user_id="lo1", traits={"email": "lo1@mail.example"}, at=100)
    j.track("Order Completed", user_id="lo1", properties={"revenue": 120.5}, at=101)
    j.track("Review Submitted", user_id="lo1", properties={"rating": 5}, at=102)
    j.track("Points Redeemed", user_id="lo1", properties={"points": 100}, at=103)
    j.track("Post Created", user_id="lo1", properties={"post_id": "q", "parent_id": "p"}, at=104)
    invite = {"referral_code": "LO1", "referred_email": "lo2@mail.example"}
    j.track("Referral Sent", user_id="lo1", properties=invite, at=105)
    j.identify(user_id="lo2", traits={"email": "lo2@mail.example"}, at=106)
    j.track("Signed Up", user_id="lo3", properties={"referral_code": "LO1"}, at=107)
    j.track("Order Completed", user_id="lo2", properties={"total": 30}, at=108)
    j.track("Points Redeemed", user_id="lo1", properties={"points": 500}, at=24 * 20)
    j.track("Order Completed", user_id="lo1", properties={"revenue": 5}, at=24 * 100)
    ingest_files(ws, [j.write(tmp_path / "e.jsonl")])
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "Contact ID,Email Address,Account ID,Job Title\n"
        "bob,bob@b.org,acc-2,Buyer\n"
        "eve,eve@acme.io,,Ops\n"
        # A CRM id the app never uses, with an app user's email: one person (identity_merges).
        "C-9,Jo@mail.example ,,Applicant\n"
    )
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("Account ID,Account Name,Website,Employees\nacc-2,Bee Org,b.org,12\n")
    import_file(ws, "contacts", contacts)
    import_file(ws, "accounts", accounts)
    return ws


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, list):
        return tuple(sorted(map(str, value)))
    return value


def _rows(engine: Any, expr: Any) -> list[tuple[Any, ...]]:
    table = engine.to_arrow(expr)
    cols = sorted(table.column_names)
    return sorted((tuple(_normal(r[c]) for c in cols) for r in table.to_pylist()), key=repr)


def test_main_job_is_identical_on_duckdb_and_spark(tmp_path: Path, spark_session: Any) -> None:
    """Every published table of the main job has the same rows on both engines."""
    ws = _world(tmp_path)
    duck = connect(ws, "duckdb")
    spark = connect(ws, "spark")
    try:
        on_duck = pipeline.compute(duck, ws, AS_OF)
        on_spark = pipeline.compute(spark, ws, AS_OF)
        for name in pipeline.TABLES:
            expected = _rows(duck, on_duck[name])
            assert expected, f"{name} is empty: the fixture should exercise it"
            assert _rows(spark, on_spark[name]) == expected, name
    finally:
        duck.close()
        spark.close()


def test_empty_workspace_runs_on_both_engines(tmp_path: Path, spark_session: Any) -> None:
    """Before anything is landed, the job publishes empty tables (and its as-of time) on
    either engine; the churn and conversion models each leave one row saying why they were
    not trained."""
    ws = make_workspace(tmp_path / "ws")
    for kind in ("duckdb", "spark"):
        engine = connect(ws, kind)
        try:
            report = pipeline.run(engine, ws)
            notes = engine.to_arrow(engine.published("prediction_backtests")).to_pylist()
        finally:
            engine.close()
        expected = {**dict.fromkeys(pipeline.TABLES, 0), "run_info": 1, "prediction_backtests": 2}
        assert report.rows == expected, kind
        assert {(n["model"], n["metric"]) for n in notes} == {
            ("churn", "not_trained"),
            ("conversion", "not_trained"),
        }, kind


METRICS_AS_OF = datetime(2025, 4, 30, 23, 0, tzinfo=UTC)
# Madrid: daylight saving starts on 30 March 2025, inside the range, so the local-time
# CASE runs on both engines.
METRICS_SETTINGS = """
[report]
timezone = "Europe/Madrid"

[audience]
own_domains = ["northwind.example"]
"""


def _metrics_world(tmp_path: Path) -> Workspace:
    """A few months of everything the metrics read: arrivals, leads, purchases, renewals and
    a cancellation, logins on many days, community posts with likes, shares, reports and
    moderation, tickets with bot and agent replies, reviews and a referral that converts."""
    ws = make_workspace(tmp_path / "mws", METRICS_SETTINGS)
    j = Journeys(datetime(2025, 1, 6, 9, 0, tzinfo=UTC))
    staff = "staff"
    j.identify(user_id=staff, traits={"email": "cm@northwind.example"}, at=0)
    for n in range(6):
        user = f"p{n}"
        base = 24 * 9 * n  # a new person every 9 days
        j.page(anonymous_id=f"anon{n}", properties={"path": "/"}, at=base)
        j.page(anonymous_id=f"anon{n}", properties={"path": "/pricing"}, at=base + 0.2)
        j.identify(
            anonymous_id=f"anon{n}",
            user_id=user,
            traits={"email": f"{user}@mail.example"},
            at=base + 0.5,
        )
        j.track("Signed Up", user_id=user, at=base + 0.6)
        if n % 2 == 0:
            j.track("Webinar Attended", user_id=user, at=base + 30)
        if n < 4:
            j.track("Order Completed", user_id=user, properties={"revenue": 20 + n}, at=base + 48)
            for week in range(1, 10):
                at = base + 48 + 24 * 7 * week + n
                j.track("Logged In", user_id=user, at=at)
                j.track("Product Used", user_id=user, properties={"feature": "f"}, at=at + 0.2)
            j.track("Subscription Renewed", user_id=user, at=base + 24 * 30)
        post = f"pst_{n}"
        j.track(
            "Post Created",
            user_id=user,
            properties={"post_id": post, "kind": "post", "channel": "forum"},
            at=base + 60,
        )
        j.track("Post Liked", user_id="p0", properties={"post_id": post}, at=base + 61)
        if n % 3 == 0:
            j.track("Post Shared", user_id="p1", properties={"post_id": post}, at=base + 62)
            j.track(
                "Content Reported",
                user_id="p2",
                properties={"post_id": post, "reason": "spam"},
                at=base + 63,
            )
            j.track(
                "Moderation Action",
                user_id=staff,
                properties={"post_id": post, "action": "hidden"},
                at=base + 63.5,
            )
        ticket = f"tk_{n}"
        j.track(
            "Ticket Created",
            user_id=user,
            properties={"ticket_id": ticket, "channel": "email" if n % 2 else "social"},
            at=base + 70,
        )
        j.track(
            "Ticket Replied",
            user_id=user,
            properties={"ticket_id": ticket, "author_role": "bot"},
            at=base + 70 + 1 / 360,
        )
        if n != 5:
            j.track(
                "Ticket Replied",
                user_id=user,
                properties={"ticket_id": ticket, "author_role": "agent"},
                at=base + 70 + (n + 1) * 0.2,
            )
        j.track("Review Submitted", user_id=user, properties={"rating": 1 + n % 5}, at=base + 80)
    j.track(
        "Referral Sent", user_id="p0", properties={"referred_email": "P5@mail.example"}, at=24 * 40
    )
    j.track("Subscription Cancelled", user_id="p1", at=24 * 70)
    # Staff answer p0's post (community care, first_response source=post).
    j.track(
        "Post Created",
        user_id=staff,
        properties={"post_id": "reply-0", "parent_id": "pst_0", "kind": "comment"},
        at=61.5,
    )
    j.track(
        "Post Created", user_id=staff, properties={"post_id": "brand", "kind": "post"}, at=24 * 20
    )
    ingest_files(ws, [j.write(tmp_path / "m.jsonl")])
    return ws


# Options that make a metric take another path than its defaults.
METRIC_VARIANTS: dict[str, list[dict[str, str]]] = {
    "funnel": [{"mode": "strict"}, {"mode": "unordered", "against": "previous"}],
    "retention": [{"cohort": "recurring"}],
    "first_response": [{"source": "all"}, {"medium": "social"}],
    "conversion_rate": [{"rate": "sales"}],
    "customer_retention": [{"new": "acquired"}],
    "stickiness": [{"mau": "calendar"}],
}


def _metric_rows(engine: Any, ws: Workspace, name: str, query: Any) -> list[tuple[Any, ...]]:
    from clientela import metrics

    result = metrics.compute(engine, ws.settings, name, query)
    rows = []
    for row in result.rows:
        rows.append(
            tuple((k, str(v) if isinstance(v, metrics.NA) else v) for k, v in sorted(row.items()))
        )
    return sorted(rows, key=repr)


def test_every_metric_is_identical_on_duckdb_and_spark(tmp_path: Path, spark_session: Any) -> None:
    """Every registered metric (defaults, option variants, a breakdown and a drill-down)
    gives the same rows on both engines over the same published results."""
    from datetime import date

    from clientela import metrics

    ws = _metrics_world(tmp_path)
    writer = connect(ws, "duckdb")
    try:
        pipeline.run(writer, ws, as_of=METRICS_AS_OF)
    finally:
        writer.close()
    duck = connect(ws, "duckdb", reader=True)
    spark = connect(ws, "spark", reader=True)
    weeks = metrics.Query(start=date(2025, 1, 6), end=date(2025, 4, 30), period="week")
    by_grade = metrics.Query(start=date(2025, 1, 1), end=date(2025, 4, 30), by=("grade",))
    try:
        for name in sorted(metrics.REGISTRY):
            # The breakdown join is the same code for every metric: two metrics cover it.
            queries = (
                [weeks]
                + [by_grade] * (name in ("churn_rate", "sessions"))
                + [
                    metrics.Query(start=weeks.start, end=weeks.end, period="month", options=o)
                    for o in METRIC_VARIANTS.get(name, [])
                ]
            )
            for query in queries:
                expected = _metric_rows(duck, ws, name, query)
                assert expected, f"{name} has no rows for {query}"
                assert _metric_rows(spark, ws, name, query) == expected, (name, query)
            on_duck = metrics.who(duck, ws.settings, name, {}, weeks).to_pylist()
            on_spark = metrics.who(spark, ws.settings, name, {}, weeks).to_pylist()
            key = repr
            assert sorted(map(key, on_spark)) == sorted(map(key, on_duck)), name
            assert on_duck, f"{name}: nobody behind the metric; the world should exercise it"
    finally:
        duck.close()
        spark.close()


def test_subscriptions_are_identical_on_duckdb_and_spark(
    tmp_path: Path, spark_session: Any
) -> None:
    """Subscriptions, their stages and the subscription metrics match on both engines."""
    from datetime import date

    from clientela import metrics
    from journeys import subscriber_journeys

    ws = make_workspace(tmp_path / "ws")
    ingest_files(ws, [subscriber_journeys().write(tmp_path / "s.jsonl")])
    as_of = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)
    duck = connect(ws, "duckdb")
    spark = connect(ws, "spark")
    try:
        on_duck = pipeline.compute(duck, ws, as_of)
        on_spark = pipeline.compute(spark, ws, as_of)
        for name in ("subscriptions", "stage_history", "lifecycle"):
            expected = _rows(duck, on_duck[name])
            assert expected, name
            assert _rows(spark, on_spark[name]) == expected, name
        pipeline.run(duck, ws, as_of=as_of)
    finally:
        duck.close()
        spark.close()
    duck = connect(ws, "duckdb", reader=True)
    spark = connect(ws, "spark", reader=True)
    months = metrics.Query(start=date(2025, 1, 1), end=date(2025, 6, 30), period="month")
    try:
        for name in ("subscribers", "mrr", "revenue_retention"):
            expected = _metric_rows(duck, ws, name, months)
            assert expected, name
            assert _metric_rows(spark, ws, name, months) == expected, name
            cell = {"period": "2025-04"}
            on_duck = metrics.who(duck, ws.settings, name, cell, months).to_pylist()
            on_spark = metrics.who(spark, ws.settings, name, cell, months).to_pylist()
            assert on_duck and sorted(map(repr, on_spark)) == sorted(map(repr, on_duck)), name
    finally:
        duck.close()
        spark.close()


PREDICT_AS_OF = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)


def _orders_world(tmp_path: Path) -> Workspace:
    """150 buyers with a few orders each: values in revenue, total or products, some on
    the same day, some after the as-of date; enough repeat buyers for both models to fit."""
    import random

    ws = make_workspace(tmp_path / "ws")
    rng = random.Random(11)
    j = Journeys(start=datetime(2025, 1, 1, 8, tzinfo=UTC))
    for n in range(150):
        user = f"buyer-{n}"
        # The BG/NBD story: a purchase rate per hour, a dropout chance after each purchase.
        rate = rng.gammavariate(0.8, 1 / 800)
        dropout = rng.betavariate(1.0, 3.0)
        spend = rng.gammavariate(3.0, 12.0)  # each buyer's own typical order
        at = rng.uniform(0, 24 * 90)
        while at < 24 * 200:  # past the as-of date too: those orders are not seen
            value = round(spend * rng.uniform(0.5, 1.5), 2)
            where = rng.choice(["revenue", "total", "products"])
            properties: dict[str, Any] = (
                {"products": [{"price": value, "quantity": 2}, {"price": "1.5"}]}
                if where == "products"
                else {where: value}
            )
            j.track("Order Completed", user_id=user, properties=properties, at=at)
            if rng.random() < 0.2:  # a second order the same day
                j.track("Order Completed", user_id=user, properties={"revenue": 3}, at=at + 0.5)
            if rng.random() < dropout:
                break
            at += rng.expovariate(rate)
    ingest_files(ws, [j.write(tmp_path / "orders.jsonl")])
    return ws


def test_purchase_summary_and_predictions_are_identical_on_duckdb_and_spark(
    tmp_path: Path, spark_session: Any
) -> None:
    """The purchase summary (an Ibis expression) is the same on both engines, and so are the
    models fitted on it and the per-contact predictions."""
    import ibis

    from clientela import identity
    from clientela.predict import clv

    ws = _orders_world(tmp_path)
    no_classes = ibis.memtable({"contact_id": ["-"], "audience_class": ["buyer"]})
    found: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for kind in ("duckdb", "spark"):
        engine = connect(ws, kind)
        try:
            engine.set_as_of(PREDICT_AS_OF)
            graph = identity.resolve(engine, ws.settings)
            predicted = clv.predict(
                engine, ws.settings, graph.identities, no_classes, PREDICT_AS_OF
            )
            found[kind] = {
                "predictions": _rows(engine, predicted.predictions),
                "models": _rows(engine, predicted.models),
            }
        finally:
            engine.close()
    duck, spark = found["duckdb"], found["spark"]
    assert len(duck["predictions"]) == 150
    assert len(duck["models"]) == 7, duck["models"]  # 4 + 3 fitted parameters
    assert spark == duck


def _taste_world(tmp_path: Path) -> Workspace:
    """90 customers who buy by taste over 200 days (orders after the split and after the
    as-of date too): enough for rules, suggestions of both kinds and a back-test."""
    import random

    ws = make_workspace(tmp_path / "ws", "[predict.recommend]\nbacktest_days = 60\n")
    rng = random.Random(5)
    catalogue = [
        ("kit", "Looms", 120.0),
        ("pro", "Looms", 310.0),
        ("yarn", "Yarn", 9.5),
        ("book", "Books", 22.0),
        ("heddle", "Accessories", 18.9),
        ("board", "Accessories", 45.0),
        ("bag", "Accessories", 39.0),
    ]
    tastes = [(0.2, 0.05, 0.7, 0.6, 0.1, 0.05, 0.1), (0.2, 0.1, 0.1, 0.05, 0.6, 0.5, 0.3)]
    j = Journeys(start=datetime(2025, 1, 1, 8, tzinfo=UTC))
    for n in range(90):
        taste = tastes[n % 2]
        at = rng.uniform(0, 24 * 60)
        while at < 24 * 200:
            lines = [
                {"product_id": p, "name": p.title(), "category": c, "price": v}
                for (p, c, v), w in zip(catalogue, taste, strict=True)
                if rng.random() < w
            ]
            if lines:
                j.track("Order Completed", user_id=f"c{n}", properties={"products": lines}, at=at)
            at += rng.expovariate(1 / (24 * 30))
    ingest_files(ws, [j.write(tmp_path / "orders.jsonl")])
    return ws


def test_recommendations_and_their_backtest_are_identical_on_duckdb_and_spark(
    tmp_path: Path, spark_session: Any
) -> None:
    """The co-purchase rules, the per-product counts, the suggestions (scores and reasons)
    and the back-test's figures are the same on both engines."""
    import ibis

    from clientela import identity
    from clientela.predict import recommend
    from clientela.predict.tables import RECOMMENDATIONS_SCHEMA

    ws = _taste_world(tmp_path)
    options = ws.settings.predict.recommend
    buyers = ibis.memtable(
        {"contact_id": [f"c{n}" for n in range(90)], "audience_class": ["buyer"] * 90}
    )
    no_traits = ibis.memtable(
        {"contact_id": ["-"], "trait": ["-"], "value": ["-"]},
    )
    no_events = ibis.memtable(
        {
            "contact_id": ["-"],
            "type": ["-"],
            "event": ["-"],
            "timestamp": [PREDICT_AS_OF],
        }
    ).cast({"timestamp": "timestamp('UTC')"})
    found: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for kind in ("duckdb", "spark"):
        engine = connect(ws, kind)
        try:
            engine.set_as_of(PREDICT_AS_OF)
            graph = identity.resolve(engine, ws.settings)
            lines = recommend.order_lines(engine, ws.settings, graph.identities)
            owned = recommend.owned(lines, int(PREDICT_AS_OF.timestamp()))
            made = recommend.recommend(
                engine,
                ws.settings,
                graph.identities,
                buyers,
                no_traits,
                no_events,
                PREDICT_AS_OF,
            )
            found[kind] = {
                "rules": _rows(engine, recommend.rules(owned, options.min_co_buyers)),
                "products": _rows(engine, recommend.products(owned, recommend.catalogue(lines))),
                "recommendations": _rows(engine, made.recommendations),
                "backtests": _rows(engine, made.backtests),
            }
        finally:
            engine.close()
    duck, spark = found["duckdb"], found["spark"]
    at = sorted(RECOMMENDATIONS_SCHEMA.names).index("kind")  # _rows sorts the columns
    kinds = {row[at] for row in duck["recommendations"]}
    assert kinds == {"cross_sell", "up_sell"}, kinds
    assert len(duck["backtests"]) == 4, duck["backtests"]
    for name in duck:
        assert duck[name], name
        assert spark[name] == duck[name], name


def test_propensity_feature_rows_are_identical_on_duckdb_and_spark(
    tmp_path: Path, spark_session: Any
) -> None:
    """The propensity feature rows (every cut-off in one expression: stage, labels, counts,
    support waits, engagement replayed at each cut-off, grade) are the same on both engines,
    and so are the published predictions (the outer join of lifetime value and propensity)
    and back-test rows."""
    from clientela.predict import propensity
    from helpers import land
    from worlds import PROPENSITY_AS_OF, PROPENSITY_SETTINGS, propensity_journeys

    ws = make_workspace(tmp_path / "ws", PROPENSITY_SETTINGS)
    land(ws, propensity_journeys())
    found: dict[str, Any] = {}
    real_split = propensity._split
    for kind in ("duckdb", "spark"):
        seen: list[Any] = []

        def spy(rows: Any, *args: Any, seen: list[Any] = seen) -> Any:
            seen.append(rows)
            return real_split(rows, *args)

        engine = connect(ws, kind)
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(propensity, "_split", spy)
                tables = pipeline.compute(engine, ws, PROPENSITY_AS_OF)
            found[kind] = {
                "features": sorted(
                    (tuple(_normal(v) for v in row.values()) for row in seen[0].to_pylist()),
                    key=repr,
                ),
                "predictions": _rows(engine, tables["predictions"]),
                "prediction_backtests": _rows(engine, tables["prediction_backtests"]),
            }
        finally:
            engine.close()
    duck, spark = found["duckdb"], found["spark"]
    # ann: customer at days 70 and 80; bob: prospect at day 70, customer at 80, 140 and 200.
    assert len(duck["features"]) == 6
    for name in ("predictions", "prediction_backtests"):
        assert spark[name] == duck[name], name
    assert len(spark["features"]) == len(duck["features"])
    for on_spark, on_duck in zip(spark["features"], duck["features"], strict=True):
        for got, want in zip(on_spark, on_duck, strict=True):
            if isinstance(want, float) and isinstance(got, float):
                assert got == pytest.approx(want, rel=1e-9, abs=1e-9, nan_ok=True), on_duck
            else:
                assert got == want, on_duck
