"""The next-best-action playbook: at most one proposed action per contact per run.

Every rule of ``[playbook]`` (or its preset, ``presets/playbook-seeds.toml``) is a boolean over
the contact facts (the same condition language as segments; ``segment = NAME`` reads this
run's members). A contact gets the action of the most urgent rule that matches (priority 1
first, ties in the order written): one ``cases`` expression over one row per contact, never
one pass per rule. Rules with ``products`` only match contacts that have recommendations of
that kind, and carry them as JSON. The policy decides afterwards what may leave.
"""

from __future__ import annotations

import re
from datetime import datetime

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.activation import conditions as cond
from clientela.activation.facts import with_counts
from clientela.activation.settings import PlaybookRule
from clientela.activation.tables import PROPOSED_SCHEMA
from clientela.config import Settings
from clientela.engine import Engine
from clientela.errors import ClientelaError

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_KINDS = ("cross_sell", "up_sell")


def action_id(contact_id: str, action: str, moment: datetime) -> str:
    """The id :func:`propose` gives (for tests and destinations): the first 32 hex digits of
    SHA-256 of ``contact|action|YYYY-MM-DD`` (the as-of day, UTC)."""
    import hashlib

    text = f"{contact_id}|{action}|{moment.date().isoformat()}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _json_text(value: ir.StringValue) -> ir.StringValue:
    """A JSON string literal of ``value`` (``null`` when missing)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return ibis.ifelse(value.isnull(), "null", '"' + escaped + '"')


def _products(recommendations: ir.Table, most: int) -> ir.Table:
    """contact_id, ``n_cross_sell``, ``n_up_sell`` and ``products_<kind>`` / ``products_any``:
    each contact's suggestions as a JSON list ordered by rank (one pivot over the ranks, no
    ordered aggregate)."""
    rec = recommendations
    item = (
        '{"rank": '
        + rec["rank"].cast("string")
        + ', "kind": '
        + _json_text(rec.kind)
        + ', "product_id": '
        + _json_text(rec.product_id)
        + ', "product_name": '
        + _json_text(rec.product_name)
        + ', "category": '
        + _json_text(rec.category)
        + ', "reason": '
        + _json_text(rec.reason)
        + "}"
    )
    rec = rec.mutate(_item=item)
    aggs: dict[str, ir.Value] = {}
    for kind in _KINDS:
        aggs[f"n_{kind}"] = (rec.kind == kind).cast("int64").sum()
    for r in range(1, most + 1):
        for kind in _KINDS:
            aggs[f"_{kind}_{r}"] = rec._item.max(where=(rec["rank"] == r) & (rec.kind == kind))
    per = rec.group_by("contact_id").aggregate(**aggs)
    out: dict[str, ir.Value] = {}
    for wanted in (*_KINDS, "any"):
        kinds = _KINDS if wanted == "any" else (wanted,)
        body: ir.StringValue = ibis.literal("")
        for r in range(1, most + 1):
            for kind in kinds:
                piece = per[f"_{kind}_{r}"]
                body = body + ibis.ifelse(piece.isnull(), "", piece + ", ")
        # Drop the last ", " (every piece ends with one).
        out[f"products_{wanted}"] = ibis.ifelse(
            body.length() > 0, "[" + body.substr(0, body.length() - 2) + "]", ibis.null("string")
        )
    return per.select("contact_id", "n_cross_sell", "n_up_sell", **out)


def _reason(rule: PlaybookRule, table: ir.Table) -> ir.StringValue:
    """The rule's reason with ``{fact}`` replaced by the contact's value."""
    parts = _PLACEHOLDER.split(rule.reason)
    out: ir.StringValue = ibis.literal(parts[0])
    for i in range(1, len(parts), 2):
        value = table[parts[i]]
        if cond.FACT_KINDS[parts[i]] == "number":
            number = value.cast("float64").round(2)
            text = ibis.ifelse(
                number == number.floor(),
                number.cast("int64").cast("string"),
                number.cast("string"),
            )
        else:
            text = value.cast("string")
        out = out + text.fill_null("?") + parts[i + 1]
    return out


def propose(
    engine: Engine,
    settings: Settings,
    facts: ir.Table,
    contact_events: ir.Table,
    members: ir.Table,
    recommendations: ir.Table,
    moment: datetime,
) -> ir.Table:
    """:data:`~clientela.activation.tables.PROPOSED_SCHEMA`: one row per contact the
    playbook has an action for."""
    rules = settings.playbook.ordered()
    if not rules:
        return ibis.memtable(PROPOSED_SCHEMA.empty_table())
    every = [c for r in rules for c in r.conditions()]
    missing = [t for t in cond.traits(every) if cond.trait_column(t) not in facts.columns]
    if missing:
        raise ClientelaError(
            f"the facts have no trait column for {', '.join(missing)}: "
            "build them with contact_facts"
        )
    table = with_counts(facts, contact_events, every, int(moment.timestamp()))
    named = sorted({s for r in rules for s in cond.segments_named(r.conditions())})
    if named:
        pivot = members.filter(members.segment.isin(named))
        flags = pivot.group_by("contact_id").aggregate(
            **{f"m_{i}": (pivot.segment == n).cast("int64").max() for i, n in enumerate(named)}
        )
        keyed = flags.rename(_mkey="contact_id")
        table = table.left_join(keyed, table.contact_id == keyed._mkey).drop("_mkey")

    def member(name: str) -> ir.BooleanValue:
        if name not in named:
            raise ClientelaError(f"playbook: segment = {name!r} is not a segment")
        return (table[f"m_{named.index(name)}"] == 1).fill_null(False)

    if any(r.products for r in rules):
        most = max(1, settings.predict.recommend.k)
        offers = _products(recommendations, most).rename(_pkey="contact_id")
        table = table.left_join(offers, table.contact_id == offers._pkey).drop("_pkey")

    def matches(rule: PlaybookRule) -> ir.BooleanValue:
        test = cond.every(rule.conditions(), table, member)
        if rule.products == "any":
            test = test & ((table.n_cross_sell + table.n_up_sell).fill_null(0) > 0)
        elif rule.products:
            test = test & (table[f"n_{rule.products}"].fill_null(0) > 0)
        return test.fill_null(False)

    tests = [matches(r) for r in rules]
    chosen = ibis.cases(*((t, i) for i, t in enumerate(tests)), else_=ibis.null("int64"))

    def pick(values: list[ir.Value], kind: str) -> ir.Value:
        return ibis.cases(*((chosen == i, v) for i, v in enumerate(values)), else_=ibis.null(kind))

    products = [
        table[f"products_{r.products}"] if r.products else ibis.null("string") for r in rules
    ]
    picked = table.select(
        "contact_id",
        _rule=chosen,
        action=pick([ibis.literal(r.action) for r in rules], "string"),
        channel=pick([ibis.literal(r.channel) for r in rules], "string"),
        purpose=pick([ibis.literal(r.purpose) for r in rules], "string"),
        priority=pick([ibis.literal(r.priority, "int64") for r in rules], "int64"),
        reason=pick([_reason(r, table) for r in rules], "string"),
        products=pick(products, "string"),
    ).filter(_._rule.notnull())
    day = moment.date().isoformat()
    key = picked.contact_id + "|" + picked.action + "|" + day
    out = picked.mutate(
        action_id=key.hexdigest("sha256").substr(0, 32),
        as_of=ibis.literal(moment).cast("timestamp('UTC')"),
    )
    return out.select(*PROPOSED_SCHEMA.names).cast(ibis.schema(PROPOSED_SCHEMA))
