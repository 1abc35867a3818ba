"""How every metric is computed: facts → cells → finished values, with breakdowns and "who".

A :class:`Metric` has three parts:

* ``facts(ctx)`` — an Ibis table with one row per counted thing (a contact in a period, a
  ticket, a session, a funnel attempt, ...): its ``period`` label, the metric's own ``keys``
  (funnel step, cohort offset, hour of day, ...), ``contact_id`` and the measure columns;
* ``measures(facts)`` — aggregates per cell (counts and sums, computed by the engine);
* ``finish(cell)`` — plain Python on the aggregated numbers: ratios, changes, and ``n/a``
  with its reason when a denominator is zero. Ratios are taken in Python from exact counts,
  which is why DuckDB and Spark give identical answers.

Quantiles (median, p90) use the *nearest-rank* definition: the value at rank ``ceil(q × n)``
of the ``n`` sorted values, computed with window functions on either engine.

A cell is one (period, breakdown values, keys). Breakdowns (``--by``) and filters
(``--where``) join the facts with the contact's dimensions: stage, grade, class, fit letter,
engagement digit, account, loyalty tier or any trait (``trait:country``), all as of the
published run.
:func:`who` returns the facts behind one cell: the contacts who make up the number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import product
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis import _

from clientela.config import NON_BUYER_CLASSES, Settings
from clientela.engine import Engine
from clientela.errors import ClientelaError, did_you_mean
from clientela.metrics.limits import DEFAULT_LIMITS, LimitError, Limits, count_periods
from clientela.metrics.periods import Calendar, period_start

# Breakdown dimensions: name → lifecycle column (``trait:NAME`` is any contact trait).
DIMENSIONS: dict[str, str] = {
    "stage": "stage",
    "grade": "grade",
    "class": "audience_class",
    "fit": "fit_letter",
    "engagement": "engagement_digit",
    "account": "account_id",
    "model": "model",
}
LOYALTY_TIER = "tier"
"""The loyalty tier (from the published ``loyalty`` table; non-members are ``(none)``)."""
NONE = "(none)"
FIT_LETTERS = "ABCD"
ENGAGEMENT_DIGITS = "1234"
# "Never" for intervals that are still open (stage not exited yet).
FOREVER = 2**62


@dataclass(frozen=True)
class NA:
    """A value that cannot be computed, with the reason (shown as ``n/a (reason)``)."""

    reason: str

    def __str__(self) -> str:
        return f"n/a ({self.reason})"


Value = float | int | str | NA | None


def ratio(numerator: float, denominator: float, reason: str, scale: float = 100.0) -> Value:
    """``numerator / denominator × scale``, or n/a with ``reason`` when the denominator is 0."""
    if not denominator:
        return NA(reason)
    return numerator * scale / denominator


def change(current: Value, previous: Value, points: bool = False) -> Value:
    """Period-over-period change: (current − previous) / |previous| × 100 in percent, or, for
    a value that is itself a percentage (``points``), current − previous in points."""
    if isinstance(previous, NA) or previous is None:
        return NA("previous period has no value")
    if isinstance(current, NA) or current is None:
        return NA("this period has no value")
    if isinstance(previous, str) or isinstance(current, str):
        return NA("not a number")
    if points:
        return float(current) - float(previous)
    if previous == 0:
        return NA("previous period was 0")
    return (float(current) - float(previous)) * 100.0 / abs(float(previous))


@dataclass(frozen=True)
class Query:
    """What to compute: the range (local dates, inclusive), period, breakdowns and filters."""

    start: date | None = None
    end: date | None = None
    period: str | None = None
    by: tuple[str, ...] = ()
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    """One metric. See the module docstring for how the parts fit together."""

    name: str
    title: str
    family: str
    formula: str
    facts: Callable[[Context], ir.Table]
    measures: Callable[[ir.Table], dict[str, ir.Scalar]]
    finish: Callable[[dict[str, Any], Context], dict[str, Value]]
    columns: dict[str, str]
    """Output columns → unit: count, %, ratio, minutes, days, hours, rating, text."""
    keys: tuple[str, ...] = ()
    quantiles: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Output name → (fact column, q): nearest-rank quantile of the column per cell."""
    headline: str | None = None
    """The column whose period-over-period change is reported as ``change`` (in percent, or
    in percentage points when the headline is itself a percentage)."""
    options: dict[str, str] = field(default_factory=dict)
    """Option name → default (``--option``-style settings such as funnel steps)."""
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Option name → the values it allows, for options that take one of a fixed set (the
    default first); any other value is refused before the engine works."""
    all_classes: bool = False
    """True: count every audience class (the metric itself tells them apart)."""
    fill: bool = True
    """True: every period appears, with zero counts, even when nothing happened in it."""
    key_values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Values a key always shows, in this order (a row even when one never occurs)."""
    period_limit: str = "periods"
    """Which of the :class:`~clientela.metrics.limits.Limits` bounds the periods of a query
    (``retention_periods`` for a matrix of periods × periods)."""
    times: tuple[str, ...] = ("secs",)
    """Fact columns holding an instant in UTC epoch seconds: a :func:`who` list gives them
    as times in the report's time zone (durations in seconds stay numbers)."""
    totals: tuple[str, ...] = ()
    """Measures also summed over the keys of each period (and breakdown value), handed to
    ``finish`` as ``total_<measure>``: the base of a share such as one hour's share of the
    period's logins."""

    @property
    def change_unit(self) -> str:
        """``pp`` (points) for a percentage headline, ``%`` (relative change) otherwise."""
        return "pp" if self.headline and self.columns.get(self.headline) == "%" else "%"

    @property
    def units(self) -> dict[str, str]:
        """Every output column's unit, ``change`` included."""
        out = dict(self.columns)
        if self.headline is not None:
            out["change"] = self.change_unit
        return out


@dataclass
class MetricResult:
    """Finished rows of one metric, plus what they were computed from."""

    metric: Metric
    query: Query
    calendar: Calendar
    as_of: datetime
    columns: list[str]
    rows: list[dict[str, Value]]


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add a metric to the catalogue (``clientela metrics list``)."""
    if metric.name in REGISTRY:
        raise ValueError(f"metric {metric.name!r} registered twice")
    REGISTRY[metric.name] = metric
    return metric


def get(name: str) -> Metric:
    """The metric called ``name``, or an error with the closest name and the known ones."""
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ClientelaError(
            f"no metric called {name!r}{did_you_mean(name, REGISTRY)} (known metrics: {known})"
        )
    return REGISTRY[name]


def check_options(metric: Metric, options: Mapping[str, str]) -> None:
    """Refuse an option the metric does not have, or a value outside its choices."""
    for option, value in options.items():
        if option not in metric.options:
            allowed = ", ".join(metric.options) or "none"
            raise ClientelaError(
                f"metric {metric.name!r} has no option {option!r}"
                f"{did_you_mean(option, metric.options)} (options: {allowed})"
            )
        choices = metric.choices.get(option)
        if choices is not None and value.strip().lower() not in choices:
            raise ClientelaError(
                f"option {option!r} must be one of {', '.join(choices)} (not {value!r})"
                f"{did_you_mean(value.strip(), choices)}"
            )


def dimension_values(settings: Settings, name: str) -> tuple[str, ...] | None:
    """The values a breakdown dimension can take under ``settings``: the stages, grades, fit
    letters, engagement digits, audience classes and models there are; None for the
    dimensions whose values are data (account, ``trait:NAME``)."""
    if name == "stage":
        return tuple(s.name for s in settings.stages.stages)
    if name == "grade":
        return tuple(f + e for f in FIT_LETTERS for e in ENGAGEMENT_DIGITS)
    if name == "fit":
        return tuple(FIT_LETTERS)
    if name == "engagement":
        return tuple(ENGAGEMENT_DIGITS)
    if name == "class":
        return ("buyer", *NON_BUYER_CLASSES)
    if name == "model":
        return tuple(settings.models)
    if name == LOYALTY_TIER:
        return tuple(settings.loyalty.tiers)
    return None


def check_values(
    settings: Settings, name: str, values: Iterable[str], also: tuple[str, ...] = ()
) -> None:
    """Refuse a filter value of dimension ``name`` that it cannot take (its
    :func:`dimension_values` and ``also``): an unknown stage would otherwise match nobody and
    look like an empty result."""
    found = dimension_values(settings, name)
    if found is None:
        return
    known = (*found, *also)
    for value in values:
        if value not in known:
            raise ClientelaError(
                f"unknown {name} {value!r}{did_you_mean(value, known)} (known: {', '.join(known)})"
            )


class Context:
    """What a metric's facts are built from: the published results, the calendar of the
    query and the settings. Contacts of the excluded audience classes are left out here."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        query: Query,
        metric: Metric | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if metric is not None:
            check_options(metric, query.options)
        for name, values in query.where.items():
            check_values(settings, name, values, also=(NONE,))
        self.engine = engine
        self.settings = settings
        self.query = query
        self.metric = metric
        self.limits = limits
        info = engine.to_arrow(engine.published("run_info")).to_pylist()
        as_of = info[0]["as_of"] if info else datetime.now(UTC)
        self.as_of: datetime = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        self.as_of_secs = int(self.as_of.timestamp())
        kind = query.period or settings.metrics.default_period
        zone = settings.report.timezone
        last = query.end or self.as_of.astimezone(ZoneInfo(zone)).date()
        if query.start is not None:
            first = query.start
        else:
            first = period_start(last, kind)
            for _step in range(settings.metrics.default_periods - 1):
                first = period_start(first - timedelta(days=1), kind)
        self.first = first
        if last < first:
            # Checked on the range as given: the calendar starts a period earlier (the base
            # of the first change), and a week's lead-in would hide a reversed range.
            if query.end is None:
                raise ClientelaError(
                    f"--from ({first}) is after the as-of date of the published run ({last}); "
                    "give --to or an earlier --from"
                )
            raise ClientelaError(f"--to ({last}) is before --from ({first})")
        _check_periods(first, last, kind, metric, limits)
        # One period before the first shown: the base of the first period's change.
        lead_in = period_start(period_start(first, kind) - timedelta(days=1), kind)
        self.calendar = Calendar(zone, kind, lead_in, last)
        self.shown = [p.label for p in self.calendar.periods][1:]
        self.include_all = metric.all_classes if metric is not None else False
        self._cache: dict[str, ir.Table] = {}

    def option(self, name: str) -> str:
        """A metric option: as given in the query, else the metric's default (an option with
        choices trimmed and in lower case, as checked)."""
        if name in self.query.options:
            value = self.query.options[name]
        elif self.metric is not None and name in self.metric.options:
            value = self.metric.options[name]
        else:
            raise ClientelaError(f"unknown option {name!r}")
        if self.metric is not None and name in self.metric.choices:
            return value.strip().lower()
        return value

    def published(self, name: str) -> ir.Table:
        return self.engine.published(name)

    def included(self, table: ir.Table) -> ir.Table:
        """``table`` without the contacts of ``metrics.exclude_classes``."""
        classes = self.settings.metrics.exclude_classes
        if self.include_all or not classes:
            return table
        out = self.published("audience").filter(_.audience_class.isin(classes))
        return table.anti_join(out.select("contact_id"), "contact_id")

    def activity(self) -> ir.Table:
        """Every published event of the included contacts, at any time up to the as-of."""
        return self.included(self.published("activity"))

    def in_range(self, table: ir.Table, secs: str = "secs", to: str = "period") -> ir.Table:
        """Rows whose ``secs`` fall in the calendar's range, labelled with their period."""
        return self.calendar.assign(table, secs, to)

    def stage_history(self) -> ir.Table:
        """Stage intervals of the included contacts with ``entered_secs`` and
        ``exited_secs`` (:data:`FOREVER` while the stage lasts)."""
        history = self.included(self.published("stage_history"))
        return history.mutate(
            entered_secs=history.entered_at.truncate("s").epoch_seconds().cast("int64"),
            exited_secs=history.exited_at.truncate("s")
            .epoch_seconds()
            .cast("int64")
            .fill_null(FOREVER),
        )

    def dimensions(self, names: list[str]) -> ir.Table:
        """contact_id plus one text column per breakdown dimension."""
        life = self.published("lifecycle")
        columns: dict[str, ir.Value] = {}
        traits: list[str] = []
        for name in names:
            if name.startswith("trait:") or name == LOYALTY_TIER:
                traits.append(name)
            elif name in DIMENSIONS:
                columns[name] = life[DIMENSIONS[name]].cast("string")
            else:
                known = ", ".join([*DIMENSIONS, LOYALTY_TIER, "trait:NAME"])
                raise ClientelaError(
                    f"cannot break down by {name!r}{did_you_mean(name, DIMENSIONS)}; "
                    f"use one of {known}"
                )
        table = life.select("contact_id", **columns)
        for name in traits:
            if name == LOYALTY_TIER:
                values = self.published("loyalty").select("contact_id", _value=_.tier)
            else:
                values = (
                    self.published("contact_traits")
                    .filter(_.trait == name.split(":", 1)[1])
                    .select("contact_id", _value=_.value)
                )
            joined = table.left_join(values, "contact_id")
            table = joined.select(*table.columns, **{name: joined._value})
        return table


def _check_periods(
    first: date, last: date, kind: str, metric: Metric | None, limits: Limits
) -> None:
    """Refuse a range of more periods than the limit, before any period is built."""
    period_start(first, kind)  # an unknown kind fails here, with its own message
    limit = limits.periods
    count = count_periods(first, last, kind, limit + 1)
    if count > limit:
        raise LimitError(
            "period",
            kind,
            limit,
            f"option 'period': by {kind} from {first} to {last} is more than {limit:,} "
            f"periods (the limit); ask for a shorter range or a longer period",
        )
    if metric is None or metric.period_limit == "periods":
        return
    limit = int(getattr(limits, metric.period_limit))
    if count > limit:
        raise LimitError(
            "period",
            kind,
            limit,
            f"option 'period': a {metric.name} matrix by {kind} from {first} to {last} has "
            f"{count} periods, more than the limit of {limit} (a {limit} × {limit} matrix); "
            "ask for a shorter range or a longer period",
        )


def _check_breakdown(ctx: Context) -> None:
    """Refuse a breakdown whose dimensions have more distinct values (combinations, among
    the contacts ``--where`` keeps) than the limit; counted on the contacts' dimensions, at
    most ``limit + 1`` values, before the facts are computed."""
    by = list(ctx.query.by)
    if not by:
        return
    limit = ctx.limits.breakdown_values
    dims = ctx.dimensions(list(dict.fromkeys([*by, *ctx.query.where])))
    for name, values in ctx.query.where.items():
        dims = dims.filter(dims[name].fill_null(NONE).isin(list(values)))
    found = ctx.engine.to_arrow(dims.select(*by).distinct().limit(limit + 1)).num_rows
    if found > limit:
        given = ",".join(by)
        raise LimitError(
            "by",
            given,
            limit,
            f"option 'by': {given} has more than {limit:,} distinct values (the limit of "
            f"{limit:,} for a breakdown); narrow it with --where or break down by fewer or "
            "coarser dimensions",
        )


def _with_dimensions(ctx: Context, facts: ir.Table) -> ir.Table:
    """Facts joined with the --by and --where dimensions; missing values become (none)."""
    names = list(dict.fromkeys([*ctx.query.by, *ctx.query.where]))
    if not names:
        return facts
    for name in names:
        if name in facts.columns:
            metric = ctx.metric.name if ctx.metric is not None else "this metric"
            raise ClientelaError(
                f"{metric} already has a column {name!r} (the value at the time of each "
                f"event); break it down by another dimension"
            )
    dims = ctx.dimensions(names)
    joined = facts.left_join(dims, facts.contact_id == dims.contact_id)
    table = joined.select(*facts.columns, **{n: joined[n].fill_null(NONE) for n in names})
    for name, values in ctx.query.where.items():
        table = table.filter(table[name].isin(list(values)))
    return table


def nearest_rank(facts: ir.Table, group: list[str], column: str, q: float, out: str) -> ir.Table:
    """Per group, the value at rank ceil(q × n) of the n non-null sorted values of column."""
    # ceil(q × n) in integers: q as a fraction of 1,000,000 avoids float rounding.
    num = round(q * 1_000_000)
    values = facts.filter(facts[column].notnull())
    ranked = values.mutate(
        _rank=ibis.row_number().over(ibis.window(group_by=group or None, order_by=[values[column]]))
        + 1,
        _n=values[column].count().over(ibis.window(group_by=group or None)),
    )
    wanted = (ranked._n * num + 999_999) // 1_000_000
    picked = ranked.filter(ranked._rank == ibis.greatest(wanted, 1))
    return picked.select(*group, **{out: picked[column].cast("float64")})


def _key(row: Mapping[str, Any], names: list[str]) -> tuple[Any, ...]:
    return tuple(row[n] for n in names)


def compute(
    engine: Engine,
    settings: Settings,
    name: str,
    query: Query | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> MetricResult:
    """One metric for a query: finished rows, one per (period, breakdown, keys).

    A query beyond one of the ``limits`` raises :class:`~clientela.metrics.limits.LimitError`
    before the engine does the work."""
    metric = get(name)
    query = query or Query()
    ctx = Context(engine, settings, query, metric, limits)
    _check_breakdown(ctx)
    facts = _with_dimensions(ctx, metric.facts(ctx))
    if metric.quantiles:
        # The cells and every quantile read the facts: build them once, not once per pass.
        facts = engine.cache(facts)
    group = ["period", *query.by, *metric.keys]
    cells = engine.to_arrow(facts.group_by(group).aggregate(**metric.measures(facts)))
    by_cell = {_key(row, group): row for row in cells.to_pylist()}
    quantile_values: dict[str, dict[tuple[Any, ...], Any]] = {}
    for out, (column, q) in metric.quantiles.items():
        picked = engine.to_arrow(nearest_rank(facts, group, column, q, out)).to_pylist()
        quantile_values[out] = {_key(row, group): row[out] for row in picked}
    measure_names = [c for c in cells.schema.names if c not in group]
    combos = _combos(metric, list(query.by), list(by_cell))
    width = 1 + len(query.by)  # period and breakdown values: the part totals are kept by
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key, cell_row in by_cell.items():
        sums = totals.setdefault(key[:width], dict.fromkeys(metric.totals, 0))
        for name in metric.totals:
            sums[name] += cell_row.get(name) or 0
    labels = [p.label for p in ctx.calendar.periods]
    rows: list[dict[str, Value]] = []
    previous: dict[tuple[Any, ...], Value] = {}
    for period in labels:
        for combo in combos:
            key = (period, *combo)
            if not metric.fill and key not in by_cell:
                continue
            cell = dict(by_cell.get(key) or {n: 0 for n in measure_names})
            for n in measure_names:
                if cell.get(n) is None:
                    cell[n] = 0
            for out in metric.quantiles:
                cell[out] = quantile_values[out].get(key)
            for name in metric.totals:
                cell[f"total_{name}"] = totals.get(key[:width], {}).get(name, 0)
            cell.update(zip(group, key, strict=True))
            finished = metric.finish(cell, ctx)
            row: dict[str, Value] = {g: cell[g] for g in group}
            row.update(finished)
            if metric.headline is not None:
                value = finished[metric.headline]
                before = previous.get(combo, NA("no previous period"))
                row["change"] = change(value, before, points=metric.change_unit == "pp")
                previous[combo] = value
            if period in ctx.shown:
                rows.append(row)
    columns = [*group, *metric.columns]
    if metric.headline is not None:
        columns.append("change")
    return MetricResult(metric, query, ctx.calendar, ctx.as_of, columns, rows)


def _combos(metric: Metric, by: list[str], keys: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The (breakdown, key) combinations every period gets a row for: those seen in any
    period, and every declared ``key_values`` value even if it never occurred."""
    seen = {k[1:] for k in keys}
    if not metric.key_values:
        combos = sorted(seen, key=_sort_key)
        return combos if combos or by or metric.keys else [()]
    prefixes = sorted({c[: len(by)] for c in seen}, key=_sort_key) if by else [()]
    choices = []
    for i, name in enumerate(metric.keys):
        declared = metric.key_values.get(name)
        observed = sorted({c[len(by) + i] for c in seen}, key=_sort_key_one)
        choices.append(list(declared) if declared is not None else observed)
    return [(*prefix, *rest) for prefix in prefixes for rest in product(*choices)]


def _sort_key_one(value: Any) -> tuple[Any, ...]:
    return _sort_key((value,))


def _sort_key(combo: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, str(v) if not isinstance(v, int | float) else v) for v in combo)


def who(
    engine: Engine,
    settings: Settings,
    name: str,
    cell: Mapping[str, str],
    query: Query | None = None,
    limits: Limits = DEFAULT_LIMITS,
    limit: int | None = None,
    offset: int = 0,
) -> pa.Table:
    """The facts behind one cell (``{"period": "2026-05", "stage": "customer", ...}``, any
    fact or dimension column): the contacts who make up the number, with their email.

    At most ``limits.who_rows`` rows at once: without ``limit``, a cell of more contacts is
    refused (a :class:`~clientela.metrics.limits.LimitError` that says to page); with
    ``limit`` (at most ``limits.who_rows``) and ``offset``, one page in contact order."""
    metric = get(name)
    query = query or Query()
    most = limits.who_rows
    if limit is not None and not 1 <= limit <= most:
        raise LimitError(
            "limit",
            limit,
            most,
            f"option 'limit': {limit:,} contacts per page of a who list is not between 1 and "
            f"the limit of {most:,}",
        )
    if offset < 0:
        raise ClientelaError(f"option 'offset' must be 0 or more (not {offset})")
    ctx = Context(engine, settings, query, metric, limits)
    extra = [c for c in cell if c in DIMENSIONS or c == LOYALTY_TIER or c.startswith("trait:")]
    wider = Query(
        query.start,
        query.end,
        query.period,
        tuple(dict.fromkeys([*query.by, *extra])),
        query.where,
        query.options,
    )
    ctx.query = wider
    facts = _with_dimensions(ctx, metric.facts(ctx))
    for column, value in cell.items():
        if column not in facts.columns:
            raise ClientelaError(
                f"metric {name!r} has no column {column!r} to pick a cell by "
                f"(columns: {', '.join(facts.columns)})"
            )
        if column in metric.times:
            value = _epoch_text(value, settings.report.timezone, column)
        facts = facts.filter(facts[column].cast("string") == value)
    label = "contact_email" if "email" in facts.columns else "email"
    contacts = engine.published("contacts").select("contact_id", **{label: _.email})
    joined = facts.left_join(contacts, facts.contact_id == contacts.contact_id)
    rest = [c for c in facts.columns if c != "contact_id"]
    out = joined.select("contact_id", label, *rest).order_by("contact_id", *rest)
    zone = settings.report.timezone
    if limit is not None:
        return _as_times(engine.to_arrow(out.limit(limit, offset=offset)), metric.times, zone)
    page = _as_times(engine.to_arrow(out.limit(most + 1, offset=offset)), metric.times, zone)
    if page.num_rows > most:
        raise LimitError(
            "who",
            page.num_rows,
            most,
            f"option 'who': the cell has more than {most:,} contacts (the limit of "
            f"{most:,} for a who list); page through it with limit and offset, or narrow the cell",
        )
    return page


def _epoch_text(value: str, zone: str, column: str) -> str:
    """A cell's time as the epoch second it is stored as: epoch seconds as given, or an ISO
    time as a who list shows it (without an offset: in the report's zone)."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return text
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ClientelaError(
            f"{column}={value!r} is not a time: give it as a who list shows it "
            "(2026-02-03T10:00:00+01:00) or in epoch seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return str(int(moment.timestamp()))


def _as_times(table: pa.Table, columns: tuple[str, ...], zone: str) -> pa.Table:
    """``table`` with its epoch-second ``columns`` as timestamps in the time zone ``zone``."""
    for name in columns:
        if name in table.column_names:
            i = table.column_names.index(name)
            # Arrow timestamps count seconds since the epoch in UTC: the cast only labels them.
            times = table.column(i).cast(pa.timestamp("s", tz=zone))
            table = table.set_column(i, name, times)
    return table


def display(value: Value, unit: str) -> str:
    """A value as people read it: ``41.5%``, ``+2.1pp``, ``1,204``, ``n/a (reason)``."""
    if isinstance(value, NA):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if unit == "count":
        # An average count (average DAU) keeps its fraction: 0.23 is not "0".
        whole = not isinstance(value, float) or value.is_integer()
        return f"{value:,.0f}" if whole else f"{value:,.2f}"
    if unit == "%":
        return f"{value:,.1f}%"
    if unit == "pp":
        return f"{value:+,.1f}pp"
    if unit in ("ratio", "rating", "money"):
        return f"{value:,.2f}"  # money: in the currency of the events (never converted)
    if unit in ("minutes", "days", "hours"):
        return f"{value:,.1f}"  # the column's name says the unit (median_minutes)
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def plain(value: Value) -> Any:
    """A value for JSON and CSV: numbers as numbers, n/a as None (its reason goes beside)."""
    return None if isinstance(value, NA) else value
