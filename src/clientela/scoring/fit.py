"""Fit (0-100): how well a contact, or an account, matches the ideal profile. Never decays.

Each rule tests one trait (of the contact, or of its account with ``account.``); a contact
passing it gets the rule's points (negative points allowed). The sum is clamped to 0-100,
and the clamp is a ledger row of its own ("fit capped at 100"), so the rows add up to the
score. A ``demote`` audience policy takes ``audience.demote_points`` off before the clamp.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import FitRule, ModelSettings
from clientela.engine.portable import trim
from clientela.scoring import ledger

FIT_MAX = 100.0


def _column(scope: str, trait: str) -> str:
    return f"{scope}__{trait}"


def _wide(traits: ir.Table, key: str, names: list[str], scope: str) -> ir.Table:
    """One column per trait named (latest value as text), one row per ``key``."""
    picked = traits.filter(traits.trait.isin(names))
    return picked.group_by(key).aggregate(
        **{_column(scope, n): picked.value.max(where=picked.trait == n) for n in names}
    )


def trait_table(
    subjects: ir.Table,
    contact_traits: ir.Table | None,
    account_traits: ir.Table,
    rules: list[FitRule],
) -> ir.Table:
    """``subjects`` (with ``contact_id`` and/or ``account_id``) plus one column per trait the
    rules read. Without ``contact_traits`` (scoring accounts) only account traits are read."""
    contact_names = sorted({t for r in rules for s, t in r.alternatives if s == "contact"})
    account_names = sorted({t for r in rules for s, t in r.alternatives if s == "account"})
    out = subjects
    if contact_traits is not None and contact_names:
        wide = _wide(contact_traits, "contact_id", contact_names, "contact")
        out = out.left_join(wide, "contact_id")
        if "email" in contact_names and "email" in subjects.columns:
            out = out.mutate(contact__email=ibis.coalesce(_.contact__email, _.email))
    if account_names:
        wide = _wide(account_traits, "account_id", account_names, "account")
        out = out.left_join(wide, "account_id")
    return out


def value_of(table: ir.Table, rule: FitRule) -> tuple[ir.StringValue, ir.StringValue]:
    """The rule's trait value (first alternative present) and which trait it came from."""
    cols = [
        (_column(s, t), f"{s + '.' if s == 'account' else ''}{t}")
        for s, t in rule.alternatives
        if _column(s, t) in table.columns
    ]
    if not cols:
        return ibis.null("string"), ibis.literal(rule.trait)
    value = ibis.coalesce(*(table[c] for c, _ in cols)) if len(cols) > 1 else table[cols[0][0]]
    source = ibis.cases(*((table[c].notnull(), label) for c, label in cols), else_=cols[0][1])
    return value, source


def as_text(v: str | float | bool) -> str:
    """A configured value as the text a trait or property is compared with."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip().lower()


def matches(value: ir.StringValue, rule: FitRule, as_of: datetime) -> ir.BooleanValue:
    """Whether a trait value passes the rule's test (NULL counts as not passing)."""
    text = trim(value).lower()
    blank = value.isnull() | (text == "")
    if rule.op == "missing":
        return blank
    if rule.op == "present":
        return ~blank
    if rule.op == "equals":
        assert rule.value is not None
        test = text == as_text(rule.value)
    elif rule.op == "in":
        test = text.isin([as_text(v) for v in rule.values])
    elif rule.op == "regex":
        test = value.re_search("(?i)" + (rule.pattern or ""))
    else:
        number = trim(value).try_cast("float64")
        if rule.op == "years_since":
            # A year ("2009") or a date ("2009-05-01"): the year is what counts.
            year = trim(value).substr(0, 4).try_cast("float64")
            number = as_of.year - year
        test = ibis.literal(True)
        if rule.min is not None:
            test = test & (number >= rule.min)
        if rule.max is not None:
            test = test & (number < rule.max)
    return test.fill_null(False)


def ledger_rows(
    model_name: str,
    model: ModelSettings,
    table: ir.Table,
    as_of: datetime,
    rules: list[FitRule] | None = None,
    demote: ir.BooleanValue | None = None,
    demote_points: float = 0.0,
) -> ir.Table:
    """Fit ledger rows for every subject of ``table`` (from :func:`trait_table`), clamp rows
    included. ``demote`` marks subjects whose audience policy takes points off."""
    parts = []
    for rule in model.fit if rules is None else rules:
        value, source = value_of(table, rule)
        hit = table.mutate(_value=value, _source=source).filter(matches(value, rule, as_of))
        detail = hit._source + " = " + hit._value.fill_null("(missing)")
        parts.append(
            ledger.rows(
                hit,
                model=model_name,
                dimension="fit",
                rule=rule.name,
                raw_points=rule.points,
                points=rule.points,
                detail=detail,
            )
        )
    if demote is not None and demote_points:
        hit = table.filter(demote)
        parts.append(
            ledger.rows(
                hit,
                model=model_name,
                dimension="fit",
                rule="audience policy: demote",
                raw_points=-demote_points,
                points=-demote_points,
                detail="non-buyer class demoted",
            )
        )
    rows = ledger.union(parts)
    totals = rows.group_by("contact_id").aggregate(total=_.points.sum())
    over = totals.filter(_.total > FIT_MAX)
    under = totals.filter(_.total < 0)
    clamp = [
        ledger.rows(
            over,
            model=model_name,
            dimension="fit",
            rule="fit capped at 100",
            raw_points=FIT_MAX - over.total,
            points=FIT_MAX - over.total,
            detail="fit is at most 100",
        ),
        ledger.rows(
            under,
            model=model_name,
            dimension="fit",
            rule="fit floored at 0",
            raw_points=-under.total,
            points=-under.total,
            detail="fit is at least 0",
        ),
    ]
    return ledger.union([rows, *clamp])
