"""Cross-sell and up-sell (seed 002): per customer, the products they do not have yet, from
what customers like them bought — never a generic promotion.

From the order lines (``products[]`` of ``[predict] order_events``) every customer's set of
products is taken as of the as-of date. Then:

* **co-purchase rules** X → Y over customers (not baskets: a customer who bought X in March
  and Y in May bought both): with N customers, n(X) buyers of X and n(X, Y) buyers of both,
  ``support = n(X, Y) / N``, ``confidence = n(X, Y) / n(X)`` (P(Y | X)) and
  ``lift = confidence / (n(Y) / N)``. A rule needs ``min_co_buyers`` customers who bought
  both and a lift above ``min_lift``;
* **cross-sell**: for a customer, every Y they do not own with a rule X → Y from an X they
  own; its score is the best such rule's confidence (ties: higher lift, then X's id), and
  ``because_of`` is that X. The best rule, not a sum: the reason then names one product and
  one figure the customer can check;
* **up-sell**: for every category the customer buys, the products of that category priced
  above the dearest one they own there (a bigger SaaS plan is such a product), scored by the
  share of the category's buyers who bought it (at least ``min_co_buyers`` of them);
  ``because_of`` is the dearest product they own in the category;
* a product suggested both ways keeps the higher score (a tie goes to the cross-sell); the
  ``k`` best per customer are kept, ranked by score, then kind, then product id.

A product's name, category and price are those of its latest order line. Orders of the
classes in ``[predict] exclude_classes`` are not sales and teach nothing. Only contacts of
class ``buyer`` get suggestions (every non-buyer class is left out), and of those only the
ones who have not opted out (:func:`opted_out`).

The back-test (:func:`backtest`) learns from the orders up to T = as-of − ``backtest_days``,
suggests for the customers who had bought by T and judges on the products they first bought
in (T, as-of], beside the most popular products each customer did not have.

Everything up to the suggestions is Ibis, so it runs on DuckDB and on Spark; the back-test's
figures are counted in the driver from the (small) suggestion and purchase lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis import _

from clientela.config import RecommendSettings, Settings
from clientela.engine import Engine
from clientela.engine.portable import trim
from clientela.identity import contact_of_events
from clientela.predict import summary as purchase_summary
from clientela.predict.tables import BACKTESTS_SCHEMA, RECOMMENDATIONS_SCHEMA

SECONDS_PER_DAY = 86_400
BASELINE_NAME = "most_popular"
MODEL_NAME = "recommendations"


def order_lines(
    engine: Engine, settings: Settings, identities: ir.Table, events: ir.Table | None = None
) -> ir.Table:
    """One row per product line of a contact's order: ``contact_id``, ``message_id``,
    ``secs`` (the order's UTC epoch seconds), ``product_id`` (its ``sku`` when there is no
    id), ``name`` (the id when unnamed), ``category`` (NULL when absent) and ``price``."""
    rows = purchase_summary.order_events(engine, settings, events)
    keep = ["message_id", "user_id", "anonymous_id", "timestamp"]
    items = engine.json_array_items(
        rows, "properties", "products", ["product_id", "sku", "name", "category", "price"], keep
    )
    placed = contact_of_events(items, identities, settings.identity.all_junk_ids())
    product = ibis.coalesce(trim(placed.product_id).nullif(""), trim(placed.sku).nullif(""))
    lines = placed.mutate(product=product).filter(_.contact_id.notnull() & _.product.notnull())
    return lines.select(
        "contact_id",
        "message_id",
        secs=_.timestamp.truncate("s").epoch_seconds().cast("int64"),
        product_id=_.product,
        name=ibis.coalesce(trim(_.name).nullif(""), _.product),
        category=trim(_.category).nullif(""),
        price=_.price.try_cast("float64"),
    )


def owned(lines: ir.Table, until_secs: int) -> ir.Table:
    """Each contact's distinct products bought by ``until_secs``: ``contact_id``,
    ``product_id`` and ``first_secs`` (when first bought)."""
    return (
        lines.filter(_.secs <= until_secs)
        .group_by(["contact_id", "product_id"])
        .aggregate(first_secs=_.secs.min())
    )


def catalogue(lines: ir.Table) -> ir.Table:
    """One row per product: ``product_id``, ``name``, ``category`` and ``price`` of its latest
    order line (ties broken by order id)."""
    # Every key non-null: engines sort NULLs to different ends.
    order = [
        _.secs.desc(),
        _.message_id.desc(),
        _.price.fill_null(-1.0).desc(),
        _.name,
        _.category.fill_null(""),
    ]
    latest = lines.mutate(n=ibis.row_number().over(group_by="product_id", order_by=order))
    return latest.filter(_.n == 0).select("product_id", "name", "category", "price")


def rules(owned: ir.Table, min_co_buyers: int = 1) -> ir.Table:
    """Co-purchase rules X → Y between the products customers own (see the module): ``x``,
    ``y``, ``co_buyers`` (n(X, Y)), ``support``, ``confidence`` and ``lift``; only pairs
    bought by at least ``min_co_buyers`` customers."""
    customers = owned.aggregate(customers=_.contact_id.nunique())
    buyers = owned.group_by("product_id").aggregate(buyers=_.contact_id.nunique())
    left = owned.select("contact_id", x=_.product_id)
    right = owned.select(cid=_.contact_id, y=_.product_id)
    pairs = (
        left.inner_join(right, left.contact_id == right.cid)
        .filter(_.x != _.y)
        .group_by(["x", "y"])
        .aggregate(co_buyers=_.contact_id.nunique())
        .filter(_.co_buyers >= min_co_buyers)
    )
    of_x = buyers.select(x=_.product_id, x_buyers=_.buyers)
    of_y = buyers.select(y=_.product_id, y_buyers=_.buyers)
    joined = pairs.inner_join(of_x, "x").inner_join(of_y, "y").cross_join(customers)
    n = _.customers.cast("float64")
    return joined.select(
        "x",
        "y",
        co_buyers=_.co_buyers.cast("int64"),
        support=_.co_buyers.cast("float64") / n,
        confidence=_.co_buyers.cast("float64") / _.x_buyers.cast("float64"),
        lift=(_.co_buyers.cast("float64") * n)
        / (_.x_buyers.cast("float64") * _.y_buyers.cast("float64")),
    )


def products(owned: ir.Table, catalogue: ir.Table) -> ir.Table:
    """The catalogue with ``buyers`` (customers who own the product), ``category_buyers``
    (customers who own any product of its category; NULL without a category) and
    ``customers`` (all customers)."""
    customers = owned.aggregate(customers=_.contact_id.nunique())
    buyers = owned.group_by("product_id").aggregate(buyers=_.contact_id.nunique())
    in_category = owned.inner_join(catalogue.select("product_id", "category"), "product_id")
    per_category = (
        in_category.filter(_.category.notnull())
        .group_by("category")
        .aggregate(category_buyers=_.contact_id.nunique())
    )
    return (
        catalogue.inner_join(buyers, "product_id")
        .left_join(per_category, "category")
        .cross_join(customers)
        .select(
            "product_id",
            "name",
            "category",
            "price",
            buyers=_.buyers.cast("int64"),
            category_buyers=_.category_buyers.cast("int64"),
            customers=_.customers.cast("int64"),
        )
    )


def _percent(share: ir.FloatingValue) -> ir.StringValue:
    """0.314 → '31 %' (whole percent, written the same on every engine)."""
    return (share * 100).round().cast("int64").cast("string") + " %"


def _times(ratio: ir.FloatingValue) -> ir.StringValue:
    """3.24 → '3.2×' (one decimal from integer arithmetic: engines print doubles differently)."""
    tenths = (ratio * 10).round().cast("int64")
    whole = (tenths // 10).cast("int64").cast("string")
    return whole + "." + (tenths % 10).cast("int64").cast("string") + "×"


def _money(price: ir.FloatingValue, unit: str) -> ir.StringValue:
    """45.0 → '45 €', 24.5 → '24.50 €'."""
    cents = (price * 100).round().cast("int64")
    whole = (cents // 100).cast("int64").cast("string")
    part = (cents % 100).cast("int64")
    decimals = ibis.ifelse(part == 0, "", "." + part.cast("string").lpad(2, "0"))
    return whole + decimals + " " + unit


def cross_sell(
    owned_by: ir.Table, rules: ir.Table, products: ir.Table, options: RecommendSettings
) -> ir.Table:
    """Cross-sell candidates of the contacts in ``owned_by`` (``contact_id``, ``product_id``):
    the best rule X → Y per (contact, Y not owned), in the columns of the published table
    (without ``rank``)."""
    strong = rules.filter((_.co_buyers >= options.min_co_buyers) & (_.lift > options.min_lift))
    mine = owned_by.select("contact_id", x=_.product_id)
    candidates = mine.inner_join(strong, "x")
    have = owned_by.select(cid=_.contact_id, pid=_.product_id)
    candidates = candidates.anti_join(
        have, (candidates.contact_id == have.cid) & (candidates.y == have.pid)
    )
    best = candidates.mutate(
        n=ibis.row_number().over(
            group_by=["contact_id", "y"], order_by=[_.confidence.desc(), _.lift.desc(), _.x]
        )
    ).filter(_.n == 0)
    x_names = products.select(x=_.product_id, x_name=_.name)
    y_rows = products.select(y=_.product_id, y_name=_.name, y_category=_.category)
    named = best.inner_join(x_names, "x").inner_join(y_rows, "y")
    reason = (
        "bought "
        + _.x_name
        + "; "
        + _percent(_.confidence)
        + " of "
        + _.x_name
        + " buyers also bought "
        + _.y_name
        + ", "
        + _times(_.lift)
        + " the base rate"
    )
    return named.select(
        "contact_id",
        kind=ibis.literal("cross_sell"),
        product_id=_.y,
        product_name=_.y_name,
        category=_.y_category,
        score=_.confidence,
        support=_.support,
        confidence=_.confidence,
        lift=_.lift,
        because_of=_.x,
        reason=reason,
    )


def up_sell(owned_by: ir.Table, products: ir.Table, options: RecommendSettings) -> ir.Table:
    """Up-sell candidates of the contacts in ``owned_by``: in every category a contact buys,
    the products priced above the dearest one they own there, scored by the share of the
    category's buyers who bought it (columns of the published table, without ``rank``)."""
    priced = products.filter(_.category.notnull() & _.price.notnull())
    mine = owned_by.select("contact_id", "product_id").inner_join(
        priced.select("product_id", "category", "price", "name"), "product_id"
    )
    dearest = mine.mutate(
        n=ibis.row_number().over(
            group_by=["contact_id", "category"], order_by=[_.price.desc(), _.product_id]
        )
    ).filter(_.n == 0)
    top = dearest.select(
        "contact_id", "category", top_id=_.product_id, top_price=_.price, top_name=_.name
    )
    steps = priced.filter(_.buyers >= options.min_co_buyers).select(
        step_id=_.product_id,
        step_name=_.name,
        step_category=_.category,
        step_price=_.price,
        buyers=_.buyers,
        category_buyers=_.category_buyers,
        customers=_.customers,
    )
    candidates = top.inner_join(
        steps, (top.category == steps.step_category) & (steps.step_price > top.top_price)
    )
    have = owned_by.select(cid=_.contact_id, pid=_.product_id)
    candidates = candidates.anti_join(
        have, (candidates.contact_id == have.cid) & (candidates.step_id == have.pid)
    )
    share = _.buyers.cast("float64") / _.category_buyers.cast("float64")
    base = _.buyers.cast("float64") / _.customers.cast("float64")
    scored = candidates.mutate(share=share, base=base)
    reason = (
        "buys "
        + _.category
        + "; "
        + _.step_name
        + " is the step up at "
        + _money(_.step_price, options.price_unit)
        + ", bought by "
        + _percent(_.share)
        + " of "
        + _.category
        + " buyers"
    )
    return scored.select(
        "contact_id",
        kind=ibis.literal("up_sell"),
        product_id=_.step_id,
        product_name=_.step_name,
        category=_.category,
        score=_.share,
        support=_.base,
        confidence=_.share,
        lift=_.share / _.base,
        because_of=_.top_id,
        reason=reason,
    )


def suggest(
    owned_by: ir.Table,
    rules: ir.Table,
    products: ir.Table,
    options: RecommendSettings,
) -> ir.Table:
    """The ``k`` best suggestions of every contact in ``owned_by`` (``contact_id``,
    ``product_id``: what they own), in the published table's columns (see the module)."""
    both = cross_sell(owned_by, rules, products, options).union(
        up_sell(owned_by, products, options)
    )
    # One row per (contact, product): the higher score wins, a tie goes to the cross-sell.
    once = both.mutate(
        n=ibis.row_number().over(
            group_by=["contact_id", "product_id"], order_by=[_.score.desc(), _.kind]
        )
    ).filter(_.n == 0)
    ranked = once.mutate(
        n=ibis.row_number().over(
            group_by="contact_id", order_by=[_.score.desc(), _.kind, _.product_id]
        )
    ).filter(_.n < options.k)
    columns: dict[str, Any] = {
        field.name: ranked[field.name].cast(ibis.dtype(field.type))
        for field in RECOMMENDATIONS_SCHEMA
        if field.name != "rank"
    }
    columns["rank"] = (ranked.n + 1).cast("int64")
    return ranked.select(**{name: columns[name] for name in RECOMMENDATIONS_SCHEMA.names})


def opted_out(
    contact_traits: ir.Table, contact_events: ir.Table, options: RecommendSettings
) -> ir.Table:
    """Contacts who must get no suggestions (``contact_id``): a trait of
    ``opt_out_traits`` with its value (case-insensitive; ``contact_traits`` holds each
    trait's latest value), or whose latest event of ``opt_out_events`` and
    ``opt_in_events`` is an opt-out (a tie counts as an opt-out)."""
    found: list[ir.Table] = []
    if options.opt_out_traits:
        value = trim(contact_traits.value.cast("string")).lower()
        matches = [
            (contact_traits.trait == trait) & (value == wanted.strip().lower())
            for trait, wanted in options.opt_out_traits.items()
        ]
        found.append(contact_traits.filter(ibis.or_(*matches)).select("contact_id"))
    if options.opt_out_events:
        named = [*options.opt_out_events, *options.opt_in_events]
        toggles = contact_events.filter(
            (_.type == "track") & _.event.isin(named) & _.contact_id.notnull()
        ).select("contact_id", "timestamp", out=_.event.isin(options.opt_out_events))
        latest = toggles.mutate(
            n=ibis.row_number().over(
                group_by="contact_id", order_by=[_.timestamp.desc(), _.out.desc()]
            )
        )
        found.append(latest.filter((_.n == 0) & _.out).select("contact_id"))
    if not found:
        return contact_traits.select("contact_id").limit(0)
    union = found[0]
    for table in found[1:]:
        union = union.union(table)
    return union.distinct()


def eligible(
    audience: ir.Table,
    contact_traits: ir.Table,
    contact_events: ir.Table,
    options: RecommendSettings,
) -> ir.Table:
    """Contacts who may get suggestions (``contact_id``): class ``buyer``, not opted out."""
    buyers = audience.filter(_.audience_class == "buyer").select("contact_id")
    return buyers.anti_join(opted_out(contact_traits, contact_events, options), "contact_id")


# --- back-test ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingMetrics:
    """Figures of top-k lists against what each judged customer went on to buy."""

    customers: int
    """Judged customers: those who bought at least one new product."""
    hit_rate: float
    """Share of judged customers with at least one bought product in their list."""
    recall: float
    """Mean over judged customers of (bought products in the list) / (bought products)."""
    precision: float
    """Mean over judged customers of (bought products in the list) / k."""
    coverage: float
    """Share of judged customers whose list is not empty."""


def ranking_metrics(
    suggested: Mapping[str, Sequence[str]], bought: Mapping[str, set[str]], k: int
) -> RankingMetrics:
    """Hit rate, recall and precision at ``k`` over the customers in ``bought`` with at
    least one product (a customer without a list scores zero); NaN without any."""
    # In id order, so that the sums (and their last bits) do not depend on row order.
    judged = sorted(c for c, items in bought.items() if items)
    if not judged:
        nan = float("nan")
        return RankingMetrics(0, nan, nan, nan, nan)
    hits = recall = precision = covered = 0.0
    for contact in judged:
        top = list(suggested.get(contact, ()))[:k]
        found = len(set(top) & bought[contact])
        hits += found > 0
        recall += found / len(bought[contact])
        precision += found / k
        covered += bool(top)
    n = len(judged)
    return RankingMetrics(n, hits / n, recall / n, precision / n, covered / n)


def most_popular(buyers: Mapping[str, int], have: set[str], k: int) -> list[str]:
    """The ``k`` products with most buyers that the customer does not have (ties: by id)."""
    ordered = sorted(buyers, key=lambda product: (-buyers[product], product))
    return [product for product in ordered if product not in have][:k]


def _grouped(rows: pa.Table, key: str, value: str) -> dict[str, list[str]]:
    """``{key: [values in row order]}`` of two columns."""
    out: dict[str, list[str]] = {}
    pairs = zip(rows.column(key).to_pylist(), rows.column(value).to_pylist(), strict=True)
    for key_value, item in pairs:
        out.setdefault(key_value, []).append(item)
    return out


def _day(secs: int) -> str:
    return datetime.fromtimestamp(secs, UTC).date().isoformat()


@dataclass(frozen=True)
class BacktestLists:
    """What the back-test compares, per judged customer (see :func:`backtest_lists`)."""

    cut: int
    """T, in UTC epoch seconds."""
    lines: int
    """Order lines up to the as-of date."""
    bought: dict[str, set[str]]
    """Products each judged customer first bought in (T, as-of]."""
    have: dict[str, set[str]]
    """Products each judged customer owned at T."""
    suggested: dict[str, list[str]]
    """The model's suggestions for each judged customer, best first."""
    popularity: dict[str, int]
    """Buyers of each product at T."""


def backtest_lists(
    engine: Engine,
    lines: ir.Table,
    allowed: ir.Table,
    as_of: datetime,
    options: RecommendSettings,
) -> BacktestLists:
    """Learn from the orders up to T = as-of − ``backtest_days``, suggest for the allowed
    customers who had bought by T and bought a new product after it, and fetch the lists
    the figures are counted on (``lines`` and ``allowed`` as in :func:`backtest`)."""
    as_of_secs = int(as_of.timestamp())
    cut = as_of_secs - options.backtest_days * SECONDS_PER_DAY
    before = owned(lines, cut)
    new = (
        owned(lines, as_of_secs)
        .filter(_.first_secs > cut)
        .semi_join(before.semi_join(allowed, "contact_id"), "contact_id")
    )
    # Only the customers who will be judged: the others' suggestions would not be counted.
    judged = before.semi_join(new, "contact_id").select("contact_id", "product_id")
    known = products(before, catalogue(lines.filter(_.secs <= cut)))
    model = suggest(judged, rules(before, options.min_co_buyers), known, options)
    fetched = {
        name: engine.to_arrow(expr)
        for name, expr in {
            "bought": new.select("contact_id", "product_id"),
            "have": judged,
            "suggested": model.select("contact_id", "product_id", "rank").order_by(
                ["contact_id", "rank"]
            ),
            "popularity": known.select("product_id", "buyers"),
        }.items()
    }
    popularity = fetched["popularity"]
    return BacktestLists(
        cut=cut,
        lines=int(engine.to_arrow(lines.filter(_.secs <= as_of_secs).count()).as_py()),
        bought={
            c: set(v) for c, v in _grouped(fetched["bought"], "contact_id", "product_id").items()
        },
        have={c: set(v) for c, v in _grouped(fetched["have"], "contact_id", "product_id").items()},
        suggested=_grouped(fetched["suggested"], "contact_id", "product_id"),
        popularity=dict(
            zip(
                popularity.column("product_id").to_pylist(),
                popularity.column("buyers").to_pylist(),
                strict=True,
            )
        ),
    )


def backtest(
    engine: Engine,
    lines: ir.Table,
    allowed: ir.Table,
    as_of: datetime,
    options: RecommendSettings,
) -> pa.Table:
    """The ``prediction_backtests`` rows of the recommendations (see the module): for each
    of ``hit_rate_at_k``, ``recall_at_k``, ``precision_at_k`` and ``coverage_at_k`` the
    model's value beside the most-popular baseline's, ``bin`` = k, ``rows`` = judged
    customers. Too little data gives one row whose ``note`` says what is missing.

    ``lines`` are the order lines that teach (:func:`order_lines`, classes left out);
    ``allowed`` the contacts who may get suggestions (:func:`eligible`)."""
    k = options.k
    data = backtest_lists(engine, lines, allowed, as_of, options)
    end = _day(int(as_of.timestamp()))
    span = f"learned from orders up to {_day(data.cut)}, judged on {_day(data.cut)}..{end}"

    def too_little(why: str) -> pa.Table:
        row = {
            "model": MODEL_NAME,
            "metric": "not_tested",  # as the propensity models' rows that carry a note only
            "bin": k,
            "baseline_name": BASELINE_NAME,
            "rows": len(data.bought),
            "note": f"not back-tested: {why} ({span})",
        }
        return pa.Table.from_pylist([row], schema=BACKTESTS_SCHEMA)

    if not data.lines:
        return too_little("no order has product lines (products[] items with a product_id or sku)")
    if len(data.bought) < options.min_backtest_customers:
        return too_little(
            f"{len(data.bought)} customers bought a new product in the last "
            f"{options.backtest_days} days, {options.min_backtest_customers} needed"
        )
    if not data.suggested:
        return too_little(
            "nothing could be suggested before the split (no cross-sell rule with "
            f"{options.min_co_buyers} co-buyers and a lift above {options.min_lift:g}, "
            f"no up-sell step with {options.min_co_buyers} buyers)"
        )
    baseline = {c: most_popular(data.popularity, data.have.get(c, set()), k) for c in data.bought}
    ours = ranking_metrics(data.suggested, data.bought, k)
    theirs = ranking_metrics(baseline, data.bought, k)
    note = f"k = {k}; {span}; baseline: the {k} most-bought products the customer did not have"
    rows = [
        {
            "model": MODEL_NAME,
            "metric": f"{name}_at_k",
            "bin": k,
            "value": getattr(ours, name),
            "baseline": getattr(theirs, name),
            "baseline_name": BASELINE_NAME,
            "rows": ours.customers,
            "note": note,
        }
        for name in ("hit_rate", "recall", "precision", "coverage")
    ]
    return pa.Table.from_pylist(rows, schema=BACKTESTS_SCHEMA)


# --- the main job's step -----------------------------------------------------------------


@dataclass(frozen=True)
class Recommendations:
    """The published recommendation tables, as Ibis expressions."""

    recommendations: ir.Table
    backtests: ir.Table


def teaching_lines(
    engine: Engine, settings: Settings, identities: ir.Table, audience: ir.Table
) -> ir.Table:
    """The order lines that count as sales: those of contacts not in ``[predict]
    exclude_classes``."""
    lines = order_lines(engine, settings, identities)
    excluded = settings.predict.exclude_classes
    if excluded:
        out = audience.filter(_.audience_class.isin(excluded)).select("contact_id")
        lines = lines.anti_join(out, "contact_id")
    return lines


def recommend(
    engine: Engine,
    settings: Settings,
    identities: ir.Table,
    audience: ir.Table,
    contact_traits: ir.Table,
    contact_events: ir.Table,
    as_of: datetime,
) -> Recommendations:
    """Suggestions as of ``as_of`` for every eligible customer, and the back-test's rows
    (the main job's step). ``contact_events`` are events with their ``contact_id``."""
    options = settings.predict.recommend
    lines = engine.cache(teaching_lines(engine, settings, identities, audience))
    allowed = engine.cache(eligible(audience, contact_traits, contact_events, options))
    now = owned(lines, int(as_of.timestamp()))
    learned_rules = rules(now, options.min_co_buyers)
    known = products(now, catalogue(lines))
    suggestions = suggest(
        now.semi_join(allowed, "contact_id").select("contact_id", "product_id"),
        learned_rules,
        known,
        options,
    )
    # A workspace without orders has no model in play: no back-test row at all.
    ordered = engine.to_arrow(purchase_summary.order_events(engine, settings).count()).as_py()
    rows = backtest(engine, lines, allowed, as_of, options) if ordered else None
    return Recommendations(
        recommendations=suggestions,
        backtests=ibis.memtable(BACKTESTS_SCHEMA.empty_table() if rows is None else rows),
    )
