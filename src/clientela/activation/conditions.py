"""The condition language of segments and playbook rules, and how it becomes Ibis.

A condition is one TOML inline table (or JSON object); the key that names its kind decides:

* ``{ field = "stage", in = ["prospect", "stranger"] }`` tests a contact fact (a column of
  :data:`FACT_KINDS`) or a trait (``field = "trait.plan"``) with ``equals``, ``not_equals``,
  ``in``, ``not_in``, ``gt``, ``gte``, ``lt``, ``lte`` and ``is_null`` (every operator given
  must hold);
* ``{ did = "Order Completed", at_least = 2, within_days = 90 }`` counts the contact's events
  (an event name, a list of names, or ``"page"`` for page views with ``path``, exact or
  ``/docs/*`` for a prefix), optionally only those whose properties match ``where``; ``did_not``
  is its negation;
* ``{ segment = "fans" }`` is membership in another segment;
* ``{ all = [...] }``, ``{ any = [...] }`` and ``{ not = {...} }`` nest.

A test on a missing value (a null fact, an absent trait) is false, so ``not_equals`` and
``not_in`` do not pick contacts that have no value: ask ``is_null`` for those.

Compiling: every behaviour condition of every segment and rule becomes one conditional count
in ONE aggregate over the events grouped by contact (:func:`behaviour_counts`); every trait
one column of one pivot of the traits (:func:`trait_columns`); a segment or rule is then a
boolean expression over the facts joined to both (:func:`predicate`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

Scalar = bool | int | float | str

FACT_KINDS: dict[str, Literal["string", "number", "bool", "time"]] = {
    "contact_id": "string",
    "account_id": "string",
    "email": "string",
    "audience_class": "string",
    "audience_route": "string",
    "stage": "string",
    "stage_since": "time",
    "days_in_stage": "number",
    "grade": "string",
    "sales_ready": "bool",
    "fit": "number",
    "engagement": "number",
    "orders": "number",
    "first_purchase_at": "time",
    "tenure_days": "number",
    "last_order_at": "time",
    "days_since_last_order": "number",
    "last_active_at": "time",
    "recency_days": "number",
    "last_rating": "number",
    "last_rated_at": "time",
    "days_since_last_rating": "number",
    "missed_response_at": "time",
    "days_since_missed_response": "number",
    "subscription_status": "string",
    "plan": "string",
    "mrr": "number",
    "clv": "number",
    "p_alive": "number",
    "churn_risk": "number",
    "purchase_propensity": "number",
    "loyalty_tier": "string",
    "loyalty_balance": "number",
    "timezone": "string",
}
"""Every contact fact a condition can test, with the kind of value it holds."""

TRAIT_PREFIX = "trait."
_TRAIT_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldCondition(_Node):
    """A test of one fact or trait."""

    field: str
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    gt: float | datetime | None = None
    gte: float | datetime | None = None
    lt: float | datetime | None = None
    lte: float | datetime | None = None
    is_null: bool | None = None

    def operators(self) -> dict[str, Any]:
        """The operators given, by name (``in`` spelled as in TOML)."""
        given = self.model_dump(by_alias=True, exclude_none=True)
        given.pop("field")
        return given

    @model_validator(mode="after")
    def _valid(self) -> FieldCondition:
        if self.field.startswith(TRAIT_PREFIX):
            if not _TRAIT_NAME.match(self.field[len(TRAIT_PREFIX) :]):
                raise ValueError(f"field {self.field!r}: a trait name such as 'trait.plan'")
            kind = "trait"
        elif self.field in FACT_KINDS:
            kind = FACT_KINDS[self.field]
        else:
            raise ValueError(
                f"field {self.field!r}: one of {', '.join(FACT_KINDS)} or 'trait.NAME'"
            )
        ops = self.operators()
        if not ops:
            raise ValueError(
                f"field {self.field!r}: at least one of equals, not_equals, in, not_in, gt, "
                "gte, lt, lte, is_null"
            )
        for op, value in ops.items():
            _check_kind(self.field, kind, op, value)
        return self


def _check_kind(field: str, kind: str, op: str, value: Any) -> None:
    """Raise if ``value`` cannot be compared with a ``kind`` field by ``op``."""
    if op == "is_null":
        return
    values = value if isinstance(value, list) else [value]
    ordered = op in ("gt", "gte", "lt", "lte")
    if kind == "number" or (kind == "trait" and ordered):
        ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        expected = "a number"
    elif kind == "time":
        ok = ordered and all(isinstance(v, datetime) for v in values)
        expected = "a date and time with gt, gte, lt or lte (or is_null)"
    elif kind == "bool":
        ok = op in ("equals", "not_equals") and all(isinstance(v, bool) for v in values)
        expected = "true or false with equals or not_equals"
    else:  # string facts; trait equality compares text
        ok = not ordered and all(isinstance(v, str | int | float) for v in values)
        expected = "text with equals, not_equals, in or not_in"
    if not ok:
        raise ValueError(f"field {field!r} ({op}): expected {expected}, got {value!r}")


class BehaviourCondition(_Node):
    """Did (or did not) the contact do something, at least/at most N times, in a window."""

    did: str | list[str] | None = None
    did_not: str | list[str] | None = None
    path: str | None = None
    """Page views only (``did = "page"``): the exact path, or a prefix ending in ``*``."""
    where: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    """Event properties that must match (a value, or a list of accepted values)."""
    at_least: int | None = Field(default=None, ge=0)
    at_most: int | None = Field(default=None, ge=0)
    within_days: float | None = Field(default=None, gt=0)
    """Only events in the last N days before the as-of time (all of them when absent)."""

    @model_validator(mode="after")
    def _valid(self) -> BehaviourCondition:
        if (self.did is None) == (self.did_not is None):
            raise ValueError("exactly one of did or did_not (an event name or 'page')")
        names = self.events()
        if not names or any(not n for n in names):
            raise ValueError("did/did_not: an event name, a list of them, or 'page'")
        if self.path is not None and names != ["page"]:
            raise ValueError("path: only with did = 'page' (or did_not = 'page')")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError(f"at_least ({self.at_least}) above at_most ({self.at_most})")
        for key in self.where:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", key):
                raise ValueError(f"where: {key!r} is not a property name such as 'plan'")
        return self

    def events(self) -> list[str]:
        named = self.did if self.did is not None else self.did_not
        return [named] if isinstance(named, str) else list(named or [])

    def bounds(self) -> tuple[int, int | None]:
        """(at least, at most): at least 1 by default, 0 when only ``at_most`` is given."""
        if self.at_least is not None:
            return self.at_least, self.at_most
        return (0 if self.at_most is not None else 1), self.at_most

    def counted(self) -> dict[str, Any]:
        """What is counted (the same for did and did_not, whatever the bounds)."""
        return {
            "events": sorted(self.events()),
            "path": self.path,
            "where": {k: self.where[k] for k in sorted(self.where)},
            "within_days": self.within_days,
        }

    def column(self) -> str:
        """The aggregate's column holding this count (equal counts share one)."""
        text = json.dumps(self.counted(), sort_keys=True, default=str)
        return "b_" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


class MembershipCondition(_Node):
    """Membership in another segment."""

    segment: str


class AllCondition(_Node):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(_Node):
    any: list[Condition] = Field(min_length=1)


class NotCondition(_Node):
    not_: Condition = Field(alias="not")


_KINDS = {
    "field": "field",
    "did": "did",
    "did_not": "did",
    "segment": "segment",
    "all": "all",
    "any": "any",
    "not": "not",
}


def _kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            FieldCondition: "field",
            BehaviourCondition: "did",
            MembershipCondition: "segment",
            AllCondition: "all",
            AnyCondition: "any",
            NotCondition: "not",
        }.get(type(value))
    if isinstance(value, dict):
        found = [k for k in _KINDS if k in value]
        if len(found) == 1 or (found and all(_KINDS[k] == "did" for k in found)):
            return _KINDS[found[0]]
    return None


Condition = Annotated[
    Annotated[FieldCondition, Tag("field")]
    | Annotated[BehaviourCondition, Tag("did")]
    | Annotated[MembershipCondition, Tag("segment")]
    | Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")],
    Discriminator(
        _kind,
        custom_error_type="condition",
        custom_error_message=(
            "a condition: a table with exactly one of field, did, did_not, segment, all, any, not"
        ),
    ),
]
"""One condition of the language (see the module's docstring)."""

for _model in (AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild()


class Conditions(BaseModel):
    """The ``all`` / ``any`` / ``not`` keys a segment or a rule is defined by (all must hold)."""

    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    def parts(self) -> list[Condition]:
        out: list[Condition] = []
        if self.all:
            out.append(AllCondition(all=self.all))
        if self.any:
            out.append(AnyCondition(any=self.any))
        if self.not_ is not None:
            out.append(NotCondition(**{"not": self.not_}))
        return out

    def definition(self) -> dict[str, Any]:
        """The conditions as plain data (for JSON), as they would be written in TOML."""
        return {
            k: v
            for k, v in self.model_dump(by_alias=True, exclude_defaults=True, mode="json").items()
            if k in ("all", "any", "not")
        }


def walk(conditions: Iterable[Condition]) -> Iterator[Condition]:
    """Every condition, nested ones included."""
    for cond in conditions:
        yield cond
        if isinstance(cond, AllCondition):
            yield from walk(cond.all)
        elif isinstance(cond, AnyCondition):
            yield from walk(cond.any)
        elif isinstance(cond, NotCondition):
            yield from walk([cond.not_])


def behaviours(conditions: Iterable[Condition]) -> dict[str, BehaviourCondition]:
    """The distinct counts the conditions need, by aggregate column."""
    return {c.column(): c for c in walk(conditions) if isinstance(c, BehaviourCondition)}


def traits(conditions: Iterable[Condition]) -> list[str]:
    """The trait names the conditions test, each once."""
    out: list[str] = []
    for c in walk(conditions):
        if isinstance(c, FieldCondition) and c.field.startswith(TRAIT_PREFIX):
            name = c.field[len(TRAIT_PREFIX) :]
            if name not in out:
                out.append(name)
    return out


def segments_named(conditions: Iterable[Condition]) -> list[str]:
    """The segments the conditions test membership of."""
    return [c.segment for c in walk(conditions) if isinstance(c, MembershipCondition)]


def property_keys(conditions: Iterable[Condition]) -> list[str]:
    """Event properties the behaviour conditions filter on."""
    keys: list[str] = []
    for c in behaviours(conditions).values():
        keys.extend(k for k in c.where if k not in keys)
    return keys


def trait_column(name: str) -> str:
    return "t_" + re.sub(r"[^A-Za-z0-9_]", "__", name)


def _text(value: Scalar) -> str:
    """A property value as the JSON extraction gives it (text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def behaviour_counts(
    events: ir.Table,
    counts: dict[str, BehaviourCondition],
    moment_secs: int,
    property_column: Callable[[str], str],
) -> ir.Table:
    """contact_id and one count column per behaviour: ONE pass over the events (grouped by
    contact, a conditional sum per count). Events after ``moment_secs`` never count; a window
    of N days keeps events with ``secs > moment - N * 86400``."""
    mine = events.filter(events.contact_id.notnull() & (events.secs <= moment_secs))
    sums: dict[str, ir.Value] = {}
    for column, cond in counts.items():
        names = cond.events()
        if names == ["page"]:
            test = mine.type == "page"
            if cond.path is not None:
                if cond.path.endswith("*"):
                    test = test & mine.path.startswith(cond.path[:-1])
                else:
                    test = test & (mine.path == cond.path)
        else:
            test = (mine.type == "track") & mine.event.isin(names)
        for key, wanted in cond.where.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            test = test & mine[property_column(key)].isin([_text(v) for v in values])
        if cond.within_days is not None:
            start = moment_secs - round(cond.within_days * 86_400)
            test = test & (mine.secs > start)
        sums[column] = ibis.ifelse(test.fill_null(False), 1, 0).sum().cast("int64")
    if not sums:
        return mine.select("contact_id").distinct()
    return mine.group_by("contact_id").aggregate(**sums)


def trait_columns(contact_traits: ir.Table, names: list[str]) -> ir.Table:
    """contact_id and one text column per trait name: one pivot of the traits table."""
    wanted = contact_traits.filter(contact_traits.trait.isin(names))
    value = wanted.value.cast("string")
    return wanted.group_by("contact_id").aggregate(
        **{trait_column(n): value.max(where=wanted.trait == n) for n in names}
    )


def _literal(value: Any) -> Any:
    if isinstance(value, datetime):
        return ibis.literal(value if value.tzinfo else value.replace(tzinfo=UTC))
    return value


def _compare(op: str, col: ir.Value, values: list[Any]) -> ir.BooleanValue:
    """``col`` against the operator's value(s); a missing value is false."""
    lit = _literal(values[0])
    if op == "equals":
        test = col == lit
    elif op == "not_equals":
        test = col != lit
    elif op == "in":
        test = col.isin(values)
    elif op == "not_in":
        test = col.notin(values)
    elif op == "gt":
        test = col > lit
    elif op == "gte":
        test = col >= lit
    elif op == "lt":
        test = col < lit
    else:
        test = col <= lit
    return test.fill_null(False)


def _field_test(cond: FieldCondition, table: ir.Table) -> ir.BooleanValue:
    if cond.field.startswith(TRAIT_PREFIX):
        text = table[trait_column(cond.field[len(TRAIT_PREFIX) :])]
        number = text.try_cast("float64")
    else:
        text = number = table[cond.field]
    tests: list[ir.BooleanValue] = []
    for op, value in cond.operators().items():
        if op == "is_null":
            tests.append(text.isnull() if value else text.notnull())
            continue
        values = value if isinstance(value, list) else [value]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        col = number if numeric else text
        if not numeric and cond.field.startswith(TRAIT_PREFIX):
            values = [_text(v) for v in values]
        tests.append(_compare(op, col, values))
    out = tests[0]
    for more in tests[1:]:
        out = out & more
    return out


def predicate(
    cond: Condition, table: ir.Table, member: Callable[[str], ir.BooleanValue]
) -> ir.BooleanValue:
    """The condition as a boolean over ``table`` (facts joined to the counts and traits;
    counts already filled with 0). ``member(name)`` gives membership of another segment."""
    if isinstance(cond, FieldCondition):
        return _field_test(cond, table)
    if isinstance(cond, BehaviourCondition):
        count = table[cond.column()]
        least, most = cond.bounds()
        test = count >= least
        if most is not None:
            test = test & (count <= most)
        return ~test if cond.did_not is not None else test
    if isinstance(cond, MembershipCondition):
        return member(cond.segment)
    if isinstance(cond, NotCondition):
        return ~predicate(cond.not_, table, member)
    parts = [
        predicate(c, table, member)
        for c in (cond.all if isinstance(cond, AllCondition) else cond.any)
    ]
    out = parts[0]
    for more in parts[1:]:
        out = (out & more) if isinstance(cond, AllCondition) else (out | more)
    return out


def every(
    conditions: list[Condition], table: ir.Table, member: Callable[[str], ir.BooleanValue]
) -> ir.BooleanValue:
    """All of ``conditions`` (true when there are none)."""
    out: ir.BooleanValue = ibis.literal(True)
    for cond in conditions:
        out = out & predicate(cond, table, member)
    return out
