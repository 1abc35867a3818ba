"""``clientela report``: one self-contained HTML file with the lifecycle KPIs.

Every number comes from :func:`clientela.metrics.compute` (the same rows ``clientela
metrics NAME`` prints), except the grade matrix, which counts the published ``lifecycle``
table. The page needs nothing but itself: the Plotly JavaScript is inlined from the
installed Python package, the styles use the system's fonts, and no address outside the
file is ever loaded, so it opens offline, in any browser, and prints cleanly.

Each figure travels as JSON in a ``<script type="application/json">`` element and is drawn
by one small script at the end of the page. Text from the data (stage names, channels, n/a
reasons) is HTML-escaped wherever it goes: into the page and into the charts alike.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from clientela import metrics
from clientela.config import Settings
from clientela.engine import Engine
from clientela.errors import ClientelaError
from clientela.metrics.base import NA, Context, MetricResult, Query, Value, change, display

FONT = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
    '"Noto Sans", "Liberation Sans", sans-serif'
)
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0891b2", "#65a30d", "#db2777")
# Stages of the shipped presets get fixed colours; any other stage takes the palette's.
STAGE_COLOURS = {
    "(new)": "#94a3b8",
    "stranger": "#64748b",
    "prospect": "#2563eb",
    "customer": "#10b981",
    "fan": "#8b5cf6",
    "dormant": "#f59e0b",
    "churned": "#ef4444",
    "reach": "#64748b",
    "acquisition": "#2563eb",
    "conversion": "#10b981",
    "retention": "#0891b2",
    "loyalty": "#8b5cf6",
}
LIFECYCLE_COLOURS = {
    "new": "#2563eb",
    "returning": "#10b981",
    "resurrecting": "#8b5cf6",
    "dormant": "#f59e0b",
}
BLUES = [[0.0, "#f1f5f9"], [0.25, "#bfdbfe"], [0.5, "#60a5fa"], [0.75, "#2563eb"], [1.0, "#1e3a8a"]]


@dataclass(frozen=True)
class Kpi:
    """One KPI card: a metric's column, and which way is better (1 up, -1 down, 0 neither)."""

    metric: str
    column: str
    label: str
    better: int = 1


KPIS: tuple[Kpi, ...] = (
    Kpi("audience_growth", "new_strangers", "New strangers"),
    Kpi("engagement_growth", "engaged_prospects", "Engaged prospects"),
    Kpi("conversion_rate", "conversion", "Lead conversion"),
    Kpi("customer_retention", "crr", "Customer retention (CRR)"),
    Kpi("churn_rate", "churn", "Churn", better=-1),
    Kpi("renewal_rate", "renewal_rate", "Renewals"),
    Kpi("mrr", "end_mrr", "MRR (end of period)"),
    Kpi("revenue_retention", "nrr", "Net revenue retention"),
    Kpi("stickiness", "stickiness", "Stickiness (DAU/MAU)"),
    Kpi("sessions", "avg_minutes", "Average session"),
    Kpi("ugc_share", "ugc_share", "User-generated content"),
    Kpi("content_ratio", "shares_per_post", "Shares per post"),
    Kpi("ratings", "average", "Average rating"),
    Kpi("referrals", "referrals", "Referrals sent"),
    Kpi("first_response", "median_minutes", "First response (median)", better=-1),
    Kpi("first_response", "sla_share", "Answered within SLA"),
)

# Every metric the report computes, in the order it computes them (for a progress bar).
METRICS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            *(k.metric for k in KPIS),
            "stage_flows",
            "stage_conversion",
            "stickiness",
            "retention",
            "lifecycle",
            "login_hours",
            "content_ratio",
            "self_moderation",
            "first_response_by_medium",
        ]
    )
)


def esc(text: object) -> str:
    """Text for HTML (and for Plotly, which reads ``<b>``-style tags in its strings)."""
    return html.escape(str(text), quote=True)


def _plot_text(text: object) -> str:
    # Plotly turns &amp; &lt; &gt; back into characters but shows &quot; as written.
    return html.escape(str(text), quote=False)


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside a <script> element (no '<', '>' or '&' can close it)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _number(value: Value) -> float | None:
    """A value for a chart: numbers as floats, n/a and text as a gap (None)."""
    if isinstance(value, bool) or value is None or isinstance(value, NA | str):
        return None
    return float(value)


SHORT_UNITS = {"minutes": "min", "hours": "h", "days": "d"}


def _short(value: Value, unit: str) -> str:
    """:func:`display` with short time units (``18.1 min``): the same number, less room."""
    if unit in SHORT_UNITS and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.1f} {SHORT_UNITS[unit]}"
    return display(value, unit)


def _signed(value: Value, unit: str) -> str:
    """A change with its sign (a true minus): ``+12.5 %`` (relative), ``-2.1 pp`` (points)."""
    if isinstance(value, NA) or value is None or isinstance(value, str):
        return display(value, unit)
    sign = "+" if value > 0 else ("\u2212" if value < 0 else "\u00b1")
    return f"{sign}{abs(float(value)):,.1f} {unit}"


@dataclass
class _Notes:
    """The n/a reasons of one table, listed under it (tooltips do not print)."""

    where: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, place: str) -> None:
        self.where.setdefault(reason, []).append(place)

    def html(self) -> str:
        if not self.where:
            return ""
        items = []
        for reason, places in self.where.items():
            shown = ", ".join(places[:4])
            if len(places) > 4:
                shown += f" and {len(places) - 4} more"
            items.append(f"<li><b>n/a</b>: {esc(reason)} <span>({esc(shown)})</span></li>")
        return f'<ul class="notes">{"".join(items)}</ul>'


def _cell(value: Value, unit: str, notes: _Notes | None = None, place: str = "") -> str:
    """One value as table-cell HTML; n/a carries its reason as a tooltip and a note."""
    if isinstance(value, NA):
        if notes is not None:
            notes.add(value.reason, place)
        return f'<span class="na" title="{esc(value.reason)}">n/a</span>'
    return esc(_short(value, unit))


def _table(
    head: Sequence[str], body: Iterable[Sequence[str]], numeric: Sequence[bool], caption: str = ""
) -> str:
    """A table from header labels and cells that are already HTML."""
    cls = ["num" if n else "" for n in numeric]
    ths = "".join(
        f'<th class="{c}" scope="col">{esc(h)}</th>' for h, c in zip(head, cls, strict=True)
    )
    rows = []
    for cells in body:
        tds = "".join(f'<td class="{c}">{v}</td>' for v, c in zip(cells, cls, strict=True))
        rows.append(f"<tr>{tds}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{ths}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _layout(**extra: Any) -> dict[str, Any]:
    """The common look of every chart, plus ``extra`` (merged one level deep)."""
    axis = {
        "gridcolor": GRID,
        "linecolor": "#9ca3af",
        "zerolinecolor": "#9ca3af",
        "automargin": True,
        "tickfont": {"color": INK},
        "title": {"font": {"color": MUTED, "size": 12}},
    }
    layout: dict[str, Any] = {
        "font": {"family": FONT, "size": 12, "color": INK},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": list(PALETTE),
        "margin": {"l": 56, "r": 24, "t": 36, "b": 40},
        "hoverlabel": {"font": {"family": FONT}},
        "legend": {
            "orientation": "h",
            "x": 0,
            "y": 1.02,
            "yanchor": "bottom",
            "traceorder": "normal",
        },
        "xaxis": {**axis, "type": "category"},
        "yaxis": dict(axis),
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


class _Report:
    """Computes the metrics of one report and assembles its HTML."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        query: Query,
        on_metric: Callable[[str], None] | None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.query = Query(start=query.start, end=query.end, period=query.period)
        self.on_metric = on_metric
        self.ctx = Context(engine, settings, self.query)
        self.zone = ZoneInfo(settings.report.timezone)
        periods = self.ctx.calendar.periods
        self.periods = periods[1:]
        self.labels = [p.label for p in self.periods]
        # A period is complete once the as-of reaches its end (an as-of of "2026-06-30" is
        # the last microsecond of that day, one second before July begins).
        complete = [i for i, p in enumerate(periods) if i and p.end_secs <= self.ctx.as_of_secs + 1]
        self.latest: str | None = periods[complete[-1]].label if complete else None
        self.previous: str | None = periods[complete[-1] - 1].label if complete else None
        self.results: dict[str, MetricResult | NA] = {}
        self.plots: list[tuple[str, str]] = []

    # -- metrics ----------------------------------------------------------------------------

    def result(self, name: str) -> MetricResult | NA:
        """A metric's rows for the report's range, or n/a when it cannot be computed."""
        if name not in self.results:
            if name not in metrics.REGISTRY:
                self.results[name] = NA(f"no metric called {name!r} in this version")
            else:
                try:
                    self.results[name] = metrics.compute(
                        self.engine, self.settings, name, self.query
                    )
                except ClientelaError as exc:
                    self.results[name] = NA(str(exc))
            if self.on_metric is not None:
                self.on_metric(name)
        return self.results[name]

    def rows(self, name: str) -> list[dict[str, Value]]:
        found = self.result(name)
        return [] if isinstance(found, NA) else found.rows

    def series(self, name: str, column: str, **match: str) -> tuple[list[float | None], list[str]]:
        """One column per shown period (chart values, and their text with n/a reasons)."""
        found = self.result(name)
        if isinstance(found, NA):
            return [None] * len(self.labels), [str(found)] * len(self.labels)
        unit = found.metric.units.get(column, "text")
        by_period: dict[str, Value] = {}
        for row in found.rows:
            if all(row.get(k) == v for k, v in match.items()):
                by_period[str(row["period"])] = row.get(column)
        values = [by_period.get(p, NA("no row for this period")) for p in self.labels]
        return [_number(v) for v in values], [_plot_text(display(v, unit)) for v in values]

    def formula(self, name: str) -> str:
        return metrics.REGISTRY[name].formula if name in metrics.REGISTRY else ""

    def missing(self, *names: str) -> str:
        """HTML saying which metrics could not be computed (empty when all were)."""
        out = []
        for name in names:
            found = self.result(name)
            if isinstance(found, NA):
                out.append(
                    f'<p class="missing"><b>{esc(name)}</b>: <span class="na">n/a</span> '
                    f"({esc(found.reason)})</p>"
                )
        return "".join(out)

    # -- charts -----------------------------------------------------------------------------

    def plot(
        self, data: list[dict[str, Any]], layout: dict[str, Any], height: int, label: str
    ) -> str:
        """A chart's placeholder; the figure itself goes into the page as JSON."""
        plot_id = f"plot-{len(self.plots) + 1}"
        series = [trace for trace in data if "y" in trace and "customdata" in trace]
        if series and all(v is None for trace in series for v in trace["y"]):
            # Nothing to draw: say why in the chart rather than leave empty axes.
            reasons = dict.fromkeys(str(t) for trace in series for t in trace["customdata"])
            layout = {
                **layout,
                "annotations": [
                    *layout.get("annotations", []),
                    {
                        "xref": "paper",
                        "yref": "paper",
                        "x": 0.5,
                        "y": 0.5,
                        "showarrow": False,
                        "text": "<br>".join(list(reasons)[:3]),
                        "font": {"color": MUTED, "size": 13},
                    },
                ],
            }
        figure = {"data": data, "layout": {**layout, "height": height}}
        self.plots.append((plot_id, _json_for_script(figure)))
        return (
            f'<div class="plot" id="{plot_id}" role="img" aria-label="{esc(label)}" '
            f'style="height:{height}px"></div>'
        )

    def figure(self, title: str, what: str, formula: str, body: str, wide: bool = False) -> str:
        """A chart (or table) with its one-line explanation and formula."""
        cls = "figure wide" if wide else "figure"
        formula_html = (
            f'<p class="formula"><span>Formula</span> {esc(formula)}</p>' if formula else ""
        )
        return (
            f'<figure class="{cls}"><figcaption><h3>{esc(title)}</h3>'
            f'<p class="what">{esc(what)}</p>{formula_html}</figcaption>{body}</figure>'
        )

    def period_axis(self) -> dict[str, Any]:
        return {"type": "category", "categoryorder": "array", "categoryarray": self.labels}

    # -- header and KPI cards ---------------------------------------------------------------

    def header(self) -> str:
        ws = self.engine.workspace
        as_of = self.ctx.as_of
        local = as_of.astimezone(self.zone)
        last = self.query.end or local.date()
        kind = self.ctx.calendar.kind
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        facts = [
            ("Workspace", f"{ws.root.name} ({ws.root})"),
            (
                "As of",
                f"{as_of.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
                + (
                    f" · {local:%Y-%m-%d %H:%M} {self.settings.report.timezone}"
                    if self.settings.report.timezone != "UTC"
                    else ""
                ),
            ),
            (
                "Range",
                f"{self.ctx.first} to {last} ({len(self.labels)} {kind}s, "
                f"{self.labels[0]} to {self.labels[-1]})",
            ),
            (
                "Period",
                f"{kind} · KPIs compare {self.latest or 'n/a'} with {self.previous or 'n/a'}",
            ),
            ("Time zone", self.settings.report.timezone),
            ("Engine", self.engine.kind),
        ]
        items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
        classes = self.settings.metrics.exclude_classes
        excluded = (
            f"Contacts of the audience classes {', '.join(classes)} are left out "
            "(metrics.exclude_classes)."
            if classes
            else "No audience class is left out (metrics.exclude_classes is empty)."
        )
        return (
            f'<header class="top"><p class="kicker">clientela · lifecycle report</p>'
            f'<h1>{esc(ws.root.name)}</h1><dl class="facts">{items}</dl>'
            f'<p class="generated">Generated {esc(generated)}. Every number is the one '
            f"<code>clientela metrics NAME</code> gives for the same range and period. "
            f"{esc(excluded)}</p></header>"
        )

    def kpi_value(self, kpi: Kpi) -> tuple[Value, Value, str, str]:
        """The KPI in the latest complete period, its change, and their units."""
        found = self.result(kpi.metric)
        if isinstance(found, NA):
            return found, found, "text", "%"
        metric = found.metric
        unit = metric.columns.get(kpi.column)
        if unit is None:
            reason = NA(f"{kpi.metric} has no column {kpi.column!r}")
            return reason, reason, "text", "%"
        if self.latest is None:
            none = NA("no complete period in the range")
            return none, none, unit, "%"
        by_period = {row["period"]: row for row in found.rows}
        row = by_period.get(self.latest)
        if row is None:
            none = NA(f"no row for {self.latest}")
            return none, none, unit, "%"
        value = row.get(kpi.column)
        if value is None:
            value = NA("no value")
        if metric.headline == kpi.column:
            return value, row.get("change"), unit, metric.change_unit
        points = unit == "%"
        before = by_period.get(self.previous or "")
        previous = (
            before.get(kpi.column)
            if before is not None
            else NA(f"{self.previous} is before the range")
        )
        return value, change(value, previous, points=points), unit, "pp" if points else "%"

    def sparkline(self, kpi: Kpi) -> str:
        values, _ = self.series(kpi.metric, kpi.column)
        known = [v for v in values if v is not None]
        if len(known) < 2:
            return ""
        lo, hi = min(known), max(known)
        span = (hi - lo) or 1.0
        width, height, pad = 120.0, 28.0, 2.0
        step = width / max(len(values) - 1, 1)
        paths: list[str] = []
        run: list[str] = []
        for i, v in enumerate(values):
            if v is None:
                if run:
                    paths.append(" ".join(run))
                run = []
                continue
            y = height - pad - (v - lo) / span * (height - 2 * pad)
            run.append(f"{'M' if not run else 'L'}{i * step:.1f},{y:.1f}")
        if run:
            paths.append(" ".join(run))
        lines = "".join(f'<path d="{p}"/>' for p in paths)
        return (
            f'<svg class="spark" viewBox="0 0 {width:.0f} {height:.0f}" aria-hidden="true" '
            f'preserveAspectRatio="none">{lines}</svg>'
        )

    def kpi_cards(self) -> str:
        cards = []
        for kpi in KPIS:
            value, delta, unit, delta_unit = self.kpi_value(kpi)
            formula = self.formula(kpi.metric)
            if isinstance(value, NA):
                shown = (
                    f'<p class="value"><span class="na">n/a</span></p>'
                    f'<p class="reason">{esc(value.reason)}</p>'
                )
            else:
                shown = f'<p class="value">{esc(_short(value, unit))}</p>'
            if isinstance(value, NA):
                trend = ""  # no value, no change: the reason above says why
            elif isinstance(delta, NA):
                trend = (
                    f'<p class="delta flat"><span class="na">n/a</span> '
                    f'<span class="reason">{esc(delta.reason)}</span></p>'
                )
            elif isinstance(delta, int | float):
                good = kpi.better * delta
                tone = "up" if good > 0 else ("down" if good < 0 else "flat")
                trend = (
                    f'<p class="delta {tone}">{esc(_signed(delta, delta_unit))} '
                    f'<span class="reason">vs {esc(self.previous or "")}</span></p>'
                )
            else:
                trend = '<p class="delta flat">&nbsp;</p>'
            cards.append(
                f'<article class="kpi" title="{esc(formula)}"><h3>{esc(kpi.label)}</h3>'
                f"{shown}{trend}{self.sparkline(kpi)}"
                f'<p class="source">{esc(kpi.metric)} · {esc(self.latest or "")}</p></article>'
            )
        return "".join(cards)

    def kpi_table(self) -> str:
        notes = _Notes()
        body = []
        for kpi in KPIS:
            found = self.result(kpi.metric)
            if isinstance(found, NA):
                body.append(
                    [esc(kpi.label)] + [_cell(found, "text", notes, kpi.label)] * len(self.labels)
                )
                continue
            unit = found.metric.units.get(kpi.column, "text")
            by_period = {row["period"]: row for row in found.rows}
            cells = [esc(kpi.label)]
            for label in self.labels:
                row = by_period.get(label)
                value: Value = NA("no row") if row is None else row.get(kpi.column)
                cells.append(_cell(value, unit, notes, f"{kpi.label} {label}"))
            body.append(cells)
        table = _table(["KPI", *self.labels], body, [False] + [True] * len(self.labels))
        return table + notes.html()

    def kpi_section(self) -> str:
        what = (
            f"Each card is the latest complete {self.ctx.calendar.kind} ({self.latest or 'n/a'}) "
            f"and its change against the one before ({self.previous or 'n/a'}); the line "
            f"under it is the whole range. Rates change in percentage points (pp), counts "
            f"and times in percent. Green is better, red is worse."
        )
        return (
            f'<section id="kpis"><h2>Key indicators</h2><p class="what">{esc(what)}</p>'
            f'<div class="kpis">{self.kpi_cards()}</div>'
            f"<details open><summary>Every KPI per {esc(self.ctx.calendar.kind)}</summary>"
            f"{self.kpi_table()}</details></section>"
        )

    # -- funnel and flows -------------------------------------------------------------------

    def stage_colour(self, stage: str, n: int) -> str:
        return STAGE_COLOURS.get(stage, PALETTE[n % len(PALETTE)])

    def flow_totals(self) -> dict[tuple[str, str], int]:
        totals: dict[tuple[str, str], int] = {}
        for row in self.rows("stage_flows"):
            key = (str(row["from_stage"]), str(row["to_stage"]))
            moves = row.get("moves")
            if isinstance(moves, int | float):
                totals[key] = totals.get(key, 0) + int(moves)
        return totals

    def funnel_section(self) -> str:
        funnel: list[str] = self.settings.stage_roles()["funnel"]
        totals = self.flow_totals()
        entries = [sum(n for (_, to), n in totals.items() if to == stage) for stage in funnel]
        parts: list[str] = []
        missing = self.missing("stage_flows", "stage_conversion")
        if any(entries):
            data = [
                {
                    "type": "funnel",
                    "y": [_plot_text(s) for s in funnel],
                    "x": entries,
                    "textinfo": "value",
                    "marker": {"color": [self.stage_colour(s, i) for i, s in enumerate(funnel)]},
                    "connector": {"fillcolor": "#eef2f7", "line": {"width": 0}},
                    "hovertemplate": "%{y}: %{x:,} entries<extra></extra>",
                }
            ]
            layout = _layout(
                margin={"l": 96, "t": 16, "b": 16},
                yaxis={"type": "category", "showline": False, "showgrid": False},
            )
            layout["xaxis"] = {"visible": False}
            chart = self.plot(data, layout, 300, "Entries into each funnel stage")
        else:
            chart = (
                '<p class="empty"><span class="na">n/a</span> (no stage entries in the range)</p>'
            )
        parts.append(
            self.figure(
                "Funnel by stage",
                f"Contacts entering each funnel stage ({' → '.join(funnel)}) in the range, "
                f"from the stage history.",
                "entries = Σ over the periods of stage_flows moves into the stage "
                "(a contact entering a stage twice counts twice)",
                chart,
            )
        )
        # Step conversion per period (stage_conversion), one line per step.
        steps = list(itertools.pairwise(funnel))
        lines = []
        for i, (source, target) in enumerate(steps):
            values, texts = self.series(
                "stage_conversion", "conversion", from_stage=source, to_stage=target
            )
            lines.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": _plot_text(f"{source} → {target}"),
                    "x": self.labels,
                    "y": values,
                    "customdata": texts,
                    "line": {"color": self.stage_colour(target, i)},
                    "hovertemplate": "%{x}: %{customdata}<extra>%{fullData.name}</extra>",
                }
            )
        conv_chart = self.plot(
            lines,
            _layout(
                xaxis=self.period_axis(),
                yaxis={"title": {"text": "conversion %"}, "rangemode": "tozero"},
            ),
            300,
            "Stage-to-stage conversion per period",
        )
        parts.append(
            self.figure(
                "Stage-to-stage conversion",
                "Of the contacts entering a stage in a period, the share who later reached "
                "the next stage (or beyond) by the as-of; recent periods are still maturing.",
                self.formula("stage_conversion"),
                conv_chart,
            )
        )
        parts.append(self.stage_conversion_table())
        return (
            f'<section id="funnel"><h2>Funnel</h2>{missing}'
            f'<div class="grid">{"".join(parts)}</div></section>'
        )

    def stage_conversion_table(self) -> str:
        found = self.result("stage_conversion")
        if isinstance(found, NA) or self.latest is None:
            return ""
        units = found.metric.units
        notes = _Notes()
        columns = ["entered", "converted", "conversion", "median_days", "p90_days"]
        funnel: list[str] = self.settings.stage_roles()["funnel"]
        latest = [row for row in found.rows if row["period"] == self.latest]
        latest.sort(key=lambda r: _position(funnel, str(r["from_stage"])))
        body = []
        for row in latest:
            step = f"{row['from_stage']} → {row['to_stage']}"
            body.append(
                [esc(step)]
                + [_cell(row.get(c), units.get(c, "text"), notes, f"{step} {c}") for c in columns]
            )
        table = _table(
            ["step", "entered", "reached next", "conversion", "median days", "p90 days"],
            body,
            [False, True, True, True, True, True],
        )
        return self.figure(
            f"Stage velocity in {self.latest}",
            "Per funnel step in the latest complete period: contacts entering the stage, how "
            "many went on, and how many days it took them (stage velocity).",
            "median and p90 of days from entering the stage to reaching the next (nearest rank)",
            table + notes.html(),
            wide=True,
        )

    def flows_section(self) -> str:
        totals = self.flow_totals()
        missing = self.missing("stage_flows")
        if not totals:
            body = '<p class="empty"><span class="na">n/a</span> (no stage moves in the range)</p>'
        else:
            order = ["(new)", *self.settings.stage_roles()["funnel"]]
            stages = [s.name for s in self.settings.stages.stages]
            order += [s for s in stages if s not in order]
            seen = {s for pair in totals for s in pair}
            order += sorted(seen - set(order))
            sources = [s for s in order if any(f == s for f, _ in totals)]
            targets = [s for s in order if any(t == s for _, t in totals)]
            out_size = [sum(n for (f, _), n in totals.items() if f == s) for s in sources]
            in_size = [sum(n for (_, t), n in totals.items() if t == s) for s in targets]
            node_x = [0.001] * len(sources) + [0.999] * len(targets)
            node_y = _stack(out_size) + _stack(in_size)
            labels = [_plot_text(s) for s in sources] + [_plot_text(f"→ {s}") for s in targets]
            colours = [self.stage_colour(s, i) for i, s in enumerate(sources)] + [
                self.stage_colour(s, i) for i, s in enumerate(targets)
            ]
            link_src, link_dst, link_val, link_col, link_text = [], [], [], [], []
            for (source, target), moves in sorted(totals.items()):
                link_src.append(sources.index(source))
                link_dst.append(len(sources) + targets.index(target))
                link_val.append(moves)
                link_col.append(_rgba(self.stage_colour(source, sources.index(source)), 0.35))
                link_text.append(_plot_text(f"{source} → {target}"))
            data = [
                {
                    "type": "sankey",
                    "arrangement": "snap",
                    "valueformat": ",d",
                    "node": {
                        "label": labels,
                        "x": node_x,
                        "y": node_y,
                        "color": colours,
                        "pad": 14,
                        "thickness": 14,
                        "line": {"color": "#ffffff", "width": 0.5},
                        "hovertemplate": "%{label}: %{value:,} moves<extra></extra>",
                    },
                    "link": {
                        "source": link_src,
                        "target": link_dst,
                        "value": link_val,
                        "color": link_col,
                        "customdata": link_text,
                        "hovertemplate": "%{customdata}: %{value:,} moves<extra></extra>",
                    },
                }
            ]
            layout = _layout(margin={"l": 16, "r": 16, "t": 16, "b": 16})
            chart = self.plot(data, layout, 420, "Stage to stage moves in the range")
            ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
            table = _table(
                ["from", "to", "moves"],
                [[esc(f), esc(t), esc(f"{n:,}")] for (f, t), n in ranked],
                [False, False, True],
            )
            body = f'<div class="split">{chart}<div class="side">{table}</div></div>'
        return (
            f'<section id="flows"><h2>Stage flows</h2>{missing}'
            + self.figure(
                "Stage → stage moves",
                "Every move between stages in the range, both directions: left the stage a "
                "contact left, right the stage they entered; '(new)' is a first stage.",
                f"{self.formula('stage_flows')}; summed over the periods",
                body,
                wide=True,
            )
            + "</section>"
        )

    # -- grades -----------------------------------------------------------------------------

    def grade_counts(self) -> dict[tuple[str, str], int]:
        life = self.engine.published("lifecycle")
        buyers = life.filter((life.audience_class == "buyer") & life.grade.notnull())
        grouped = buyers.group_by("fit_letter", "engagement_digit").aggregate(n=buyers.count())
        return {
            (str(r["fit_letter"]), str(r["engagement_digit"])): int(r["n"])
            for r in self.engine.to_arrow(grouped).to_pylist()
        }

    def grades_section(self) -> str:
        counts = self.grade_counts()
        total = sum(counts.values())
        letters, digits = list("ABCD"), list("1234")
        if not total:
            body = '<p class="empty"><span class="na">n/a</span> (no graded buyers)</p>'
        else:
            z = [[counts.get((letter, d), 0) for d in digits] for letter in letters]
            text = [
                [f"{letter}{d}<br>{n:,}" for d, n in zip(digits, row, strict=True)]
                for letter, row in zip(letters, z, strict=True)
            ]
            share = [[f"{n * 100 / total:.1f} %" for n in row] for row in z]
            data = [
                {
                    "type": "heatmap",
                    "x": [f"engagement {d}" for d in digits],
                    "y": [f"fit {letter}" for letter in letters],
                    "z": z,
                    "text": text,
                    "texttemplate": "%{text}",
                    "customdata": share,
                    "colorscale": BLUES,
                    "showscale": False,
                    "xgap": 3,
                    "ygap": 3,
                    "hovertemplate": "%{y}, %{x}: %{z:,} buyers (%{customdata})<extra></extra>",
                }
            ]
            layout = _layout(
                margin={"l": 64, "r": 16, "t": 16, "b": 40},
                yaxis={"autorange": "reversed", "type": "category", "showgrid": False},
                xaxis={"side": "bottom", "showgrid": False},
            )
            body = self.plot(data, layout, 340, "Grade matrix of buyers")
        return (
            '<section id="grades"><h2>Grades</h2>'
            + self.figure(
                "Grade matrix",
                f"Scored buyers ({total:,}) by fit letter (A fits best … D) and engagement "
                "digit (1 most engaged … 4), as of the published run.",
                "count of contacts of audience class 'buyer' per grade in the published "
                "lifecycle table",
                body,
            )
            + "</section>"
        )

    # -- cohorts ----------------------------------------------------------------------------

    def retention_section(self) -> str:
        found = self.result("retention")
        missing = self.missing("retention")
        body = ""
        if not isinstance(found, NA):
            cell = {
                (str(r["period"]), offset): r
                for r in found.rows
                if isinstance(offset := r.get("offset"), int)
            }
            offsets = sorted({off for _, off in cell})
            cohorts = [p for p in self.labels if any(c == p for c, _ in cell)]
            z: list[list[float | None]] = []
            text: list[list[str]] = []
            hover: list[list[str]] = []
            for cohort in cohorts:
                zr: list[float | None] = []
                tr: list[str] = []
                hr: list[str] = []
                for off in offsets:
                    row = cell.get((cohort, off))
                    value: Value = NA("no row") if row is None else row.get("retention")
                    number = _number(value)
                    zr.append(number)
                    tr.append("" if number is None else f"{number:.0f}")
                    hr.append(_plot_text(display(value, "%")))
                z.append(zr)
                text.append(tr)
                hover.append(hr)
            if cohorts and offsets:
                data = [
                    {
                        "type": "heatmap",
                        "x": [str(o) for o in offsets],
                        "y": cohorts,
                        "z": z,
                        "text": text,
                        "texttemplate": "%{text}",
                        "colorscale": BLUES,
                        "zmin": 0,
                        "zmax": 100,
                        "xgap": 2,
                        "ygap": 2,
                        "colorbar": {"title": {"text": "%"}, "thickness": 10},
                        "customdata": hover,
                        "textfont": {"size": 11},
                        "hovertemplate": "cohort %{y}, +%{x}: %{customdata}<extra></extra>",
                    }
                ]
                layout = _layout(
                    xaxis={"title": {"text": f"{self.ctx.calendar.kind}s since the cohort"}},
                    yaxis={"autorange": "reversed", "type": "category"},
                    margin={"t": 16},
                )
                body = self.plot(data, layout, 80 + 26 * len(cohorts), "Retention by cohort")
            else:
                body = '<p class="empty"><span class="na">n/a</span> (no cohorts in the range)</p>'
        return (
            f'<section id="retention"><h2>Retention</h2>{missing}'
            + self.figure(
                "Retention by cohort",
                "Each row is a cohort (the period its contacts started); each column how many "
                "periods later; the cell is the share of the cohort (in %) active again then. "
                "Blank cells are n/a (hover for why: mostly periods not reached yet).",
                self.formula("retention"),
                body,
                wide=True,
            )
            + "</section>"
        )

    def lifecycle_section(self) -> str:
        found = self.result("lifecycle")
        missing = self.missing("lifecycle")
        body = ""
        if not isinstance(found, NA):
            statuses = list(LIFECYCLE_COLOURS)
            statuses += sorted({str(r["status"]) for r in found.rows} - set(statuses))
            data = []
            for i, status in enumerate(statuses):
                values, texts = self.series("lifecycle", "contacts", status=status)
                sign = -1.0 if status == "dormant" else 1.0
                data.append(
                    {
                        "type": "bar",
                        "name": _plot_text(status),
                        "x": self.labels,
                        "y": [None if v is None else sign * v for v in values],
                        "customdata": texts,
                        "marker": {"color": LIFECYCLE_COLOURS.get(status, PALETTE[i % 8])},
                        "hovertemplate": "%{x} %{fullData.name}: %{customdata}<extra></extra>",
                    }
                )
            layout = _layout(
                barmode="relative",
                xaxis=self.period_axis(),
                yaxis={"title": {"text": "contacts"}},
            )
            body = self.plot(data, layout, 340, "Lifecycle per period")
        return (
            f'<section id="lifecycle"><h2>Lifecycle</h2>{missing}'
            + self.figure(
                "New, returning, resurrecting and dormant",
                "Active contacts per period by how they relate to the period before; dormant "
                "contacts (active before, not now) are drawn below zero.",
                self.formula("lifecycle"),
                body,
                wide=True,
            )
            + "</section>"
        )

    # -- community --------------------------------------------------------------------------

    def bars_and_line(
        self,
        bars: list[tuple[str, str, str]],
        line: tuple[str, str, str] | None,
        bar_title: str,
        line_title: str,
        label: str,
        stacked: bool = False,
    ) -> str:
        """Bars per period (metric, column, name) and one line on a second axis."""
        data: list[dict[str, Any]] = []
        for i, (name, column, legend) in enumerate(bars):
            values, texts = self.series(name, column)
            data.append(
                {
                    "type": "bar",
                    "name": _plot_text(legend),
                    "x": self.labels,
                    "y": values,
                    "customdata": texts,
                    "marker": {"color": PALETTE[i % len(PALETTE)]},
                    "hovertemplate": "%{x} %{fullData.name}: %{customdata}<extra></extra>",
                }
            )
        extra: dict[str, Any] = {}
        if line is not None:
            name, column, legend = line
            values, texts = self.series(name, column)
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": _plot_text(legend),
                    "x": self.labels,
                    "y": values,
                    "customdata": texts,
                    "yaxis": "y2",
                    "line": {"color": INK, "width": 2},
                    "marker": {"size": 5},
                    "hovertemplate": "%{x} %{fullData.name}: %{customdata}<extra></extra>",
                }
            )
            extra["yaxis2"] = {
                "overlaying": "y",
                "side": "right",
                "tickmode": "auto",
                "rangemode": "tozero",
                "showgrid": False,
                "automargin": True,
                "title": {"text": line_title, "font": {"color": MUTED, "size": 12}},
            }
        layout = _layout(
            barmode="stack" if stacked else "group",
            xaxis=self.period_axis(),
            yaxis={"title": {"text": bar_title}, "rangemode": "tozero"},
            **extra,
        )
        return self.plot(data, layout, 300, label)

    def login_heatmap(self) -> str:
        found = self.result("login_hours")
        if isinstance(found, NA):
            return ""
        logins: dict[tuple[int, int], int] = {}
        names: dict[int, str] = {}
        for row in found.rows:
            day, hour, n = row.get("weekday"), row.get("hour"), row.get("logins")
            if isinstance(day, int) and isinstance(hour, int) and isinstance(n, int | float):
                logins[(day, hour)] = logins.get((day, hour), 0) + int(n)
                names[day] = str(row.get("day") or day)
        if not any(logins.values()):
            return '<p class="empty"><span class="na">n/a</span> (no logins in the range)</p>'
        days = list(range(1, 8))
        data = [
            {
                "type": "heatmap",
                "x": [f"{h:02d}" for h in range(24)],
                "y": [_plot_text(names.get(d, str(d))) for d in days],
                "z": [[logins.get((d, h), 0) for h in range(24)] for d in days],
                "colorscale": BLUES,
                "xgap": 1,
                "ygap": 1,
                "colorbar": {"title": {"text": "logins"}, "thickness": 10},
                "hovertemplate": "%{y} %{x}:00: %{z:,} logins<extra></extra>",
            }
        ]
        layout = _layout(
            xaxis={"title": {"text": f"hour ({self.settings.report.timezone})"}, "dtick": 2},
            yaxis={"autorange": "reversed", "type": "category", "showgrid": False},
            margin={"t": 16},
        )
        return self.plot(data, layout, 300, "Logins by weekday and hour")

    def community_section(self) -> str:
        names = (
            "sessions",
            "stickiness",
            "login_hours",
            "ugc_share",
            "content_ratio",
            "self_moderation",
        )
        missing = self.missing(*names)
        figures = [
            self.figure(
                "Sessions",
                "Sessions started per period and how long they last on average.",
                self.formula("sessions"),
                self.bars_and_line(
                    [("sessions", "sessions", "sessions")],
                    ("sessions", "avg_minutes", "average minutes"),
                    "sessions",
                    "minutes",
                    "Sessions per period",
                ),
            ),
            self.figure(
                "Usage frequency",
                "How many members are active on an average day, week and month of the "
                "period, and how sticky the product is (DAU / MAU).",
                self.formula("stickiness"),
                self.bars_and_line(
                    [
                        ("stickiness", "avg_dau", "DAU"),
                        ("stickiness", "avg_wau", "WAU"),
                        ("stickiness", "avg_mau", "MAU"),
                    ],
                    ("stickiness", "stickiness", "stickiness %"),
                    "contacts",
                    "DAU / MAU %",
                    "Average DAU, WAU and MAU per period",
                ),
            ),
            self.figure(
                "Login hours",
                f"When members log in: weekday by hour in {self.settings.report.timezone}, all "
                "periods of the range together.",
                f"{self.formula('login_hours')}; logins summed over the periods",
                self.login_heatmap(),
            ),
            self.figure(
                "User-generated content",
                "Posts and comments by members and by employees, and the members' share.",
                self.formula("ugc_share"),
                self.bars_and_line(
                    [
                        ("ugc_share", "member_posts", "members"),
                        ("ugc_share", "employee_posts", "employees"),
                    ],
                    ("ugc_share", "ugc_share", "UGC share %"),
                    "posts",
                    "% by members",
                    "User-generated content per period",
                    stacked=True,
                ),
            ),
            self.figure(
                "Posts : shares : likes",
                "What members do with content; latest ratio "
                f"{self.latest_text('content_ratio', 'ratio')}.",
                self.formula("content_ratio"),
                self.bars_and_line(
                    [
                        ("content_ratio", "posts", "posts"),
                        ("content_ratio", "shares", "shares"),
                        ("content_ratio", "likes", "likes"),
                    ],
                    None,
                    "events",
                    "",
                    "Posts, shares and likes per period",
                ),
            ),
            self.figure(
                "Self-moderation",
                "Members reporting content, and reported posts per post created.",
                self.formula("self_moderation"),
                self.bars_and_line(
                    [("self_moderation", "reports", "reports")],
                    ("self_moderation", "reported_share", "reported share %"),
                    "reports",
                    "% of posts",
                    "Self-moderation per period",
                ),
            ),
        ]
        return (
            f'<section id="community"><h2>Community</h2>{missing}'
            f'<div class="grid">{"".join(figures)}</div></section>'
        )

    def latest_text(self, name: str, column: str) -> str:
        found = self.result(name)
        if isinstance(found, NA) or self.latest is None:
            return "n/a"
        for row in found.rows:
            if row["period"] == self.latest:
                value = row.get(column)
                return f"({self.latest}) {display(value, found.metric.units.get(column, 'text'))}"
        return "n/a"

    # -- care -------------------------------------------------------------------------------

    def care_section(self) -> str:
        missing = self.missing("first_response", "first_response_by_medium")
        sla = self.settings.metrics.sla_minutes
        data: list[dict[str, Any]] = []
        for column, legend, colour in (
            ("median_minutes", "median", PALETTE[0]),
            ("p90_minutes", "p90", PALETTE[1]),
        ):
            values, texts = self.series("first_response", column)
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": legend,
                    "x": self.labels,
                    "y": values,
                    "customdata": texts,
                    "line": {"color": colour},
                    "hovertemplate": "%{x} %{fullData.name}: %{customdata}<extra></extra>",
                }
            )
        layout = _layout(
            xaxis=self.period_axis(),
            yaxis={"title": {"text": "minutes"}, "rangemode": "tozero"},
            shapes=[
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": sla,
                    "y1": sla,
                    "line": {"color": PALETTE[3], "dash": "dash", "width": 1},
                }
            ],
            annotations=[
                {
                    "xref": "paper",
                    "x": 1,
                    "y": sla,
                    "xanchor": "right",
                    "yanchor": "bottom",
                    "text": f"SLA {sla:g} min",
                    "showarrow": False,
                    "font": {"color": PALETTE[3], "size": 11},
                }
            ],
        )
        times = self.plot(data, layout, 300, "First response minutes per period")
        by_medium = self.result("first_response_by_medium")
        mediums = (
            sorted({str(r["medium"]) for r in by_medium.rows})
            if not isinstance(by_medium, NA)
            else []
        )
        share_data: list[dict[str, Any]] = []
        values, texts = self.series("first_response", "sla_share")
        share_data.append(
            {
                "type": "bar",
                "name": "all channels",
                "x": self.labels,
                "y": values,
                "customdata": texts,
                "marker": {"color": "#cbd5e1"},
                "hovertemplate": "%{x} all channels: %{customdata}<extra></extra>",
            }
        )
        for i, medium in enumerate(mediums):
            values, texts = self.series("first_response_by_medium", "sla_share", medium=medium)
            share_data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": _plot_text(medium),
                    "x": self.labels,
                    "y": values,
                    "customdata": texts,
                    "line": {"color": PALETTE[i % len(PALETTE)]},
                    "hovertemplate": "%{x} %{fullData.name}: %{customdata}<extra></extra>",
                }
            )
        shares = self.plot(
            share_data,
            _layout(
                xaxis=self.period_axis(),
                yaxis={"title": {"text": "% within SLA"}, "range": [0, 105]},
            ),
            300,
            "Share answered within the SLA per period and channel",
        )
        figures = [
            self.figure(
                "First response time",
                "How long customers wait for the first human answer: median and p90 per period.",
                self.formula("first_response"),
                times,
            ),
            self.figure(
                "Answered within the SLA",
                f"Share of tickets with a human answer within {sla:g} minutes, all channels "
                "(bars) and per channel (lines).",
                "within SLA / (tickets \u2212 pending) \u00d7 100, per period and per channel",
                shares,
            ),
            self.care_table(),
        ]
        return (
            f'<section id="care"><h2>Customer care</h2>{missing}'
            f'<div class="grid">{"".join(figures)}</div></section>'
        )

    def care_table(self) -> str:
        found = self.result("first_response_by_medium")
        if isinstance(found, NA) or self.latest is None:
            return ""
        units = found.metric.units
        columns = [
            "tickets",
            "answered",
            "pending",
            "median_minutes",
            "p90_minutes",
            "sla_share",
            "change",
        ]
        notes = _Notes()
        body = []
        for row in found.rows:
            if row["period"] != self.latest:
                continue
            medium = str(row["medium"])
            body.append(
                [esc(medium)]
                + [_cell(row.get(c), units.get(c, "text"), notes, f"{medium} {c}") for c in columns]
            )
        if not body:
            return self.figure(
                f"By channel in {self.latest}",
                "Tickets per channel in the latest complete period.",
                "",
                '<p class="empty"><span class="na">n/a</span> (no tickets in the period)</p>',
                wide=True,
            )
        table = _table(
            [
                "channel",
                "tickets",
                "answered",
                "pending",
                "median",
                "p90",
                "within SLA",
                f"change vs {self.previous}",
            ],
            body,
            [False] + [True] * len(columns),
        )
        return self.figure(
            f"By channel in {self.latest}",
            "Tickets per channel in the latest complete period: waits and the SLA share.",
            self.formula("first_response_by_medium"),
            table + notes.html(),
            wide=True,
        )

    # -- the page ---------------------------------------------------------------------------

    def predictions_section(self) -> str:
        """The Predictions section, drawn by :mod:`clientela.panels.predict`."""
        from clientela.panels import predict as panels

        predict = self.settings.predict
        tables = panels.read(self.engine, predict.horizon_months, predict.time_unit)
        return panels.section(self, tables)

    def activation_section(self) -> str:
        """The Activation section, drawn by :mod:`clientela.panels.activation`."""
        from clientela.panels import activation as panels

        return panels.section(self, panels.read(self.engine, list(self.settings.loyalty.tiers)))

    def html(self) -> str:
        from plotly.offline import get_plotlyjs

        sections = [
            self.kpi_section(),
            self.funnel_section(),
            self.flows_section(),
            self.grades_section(),
            self.retention_section(),
            self.lifecycle_section(),
            self.community_section(),
            self.care_section(),
            self.predictions_section(),
            self.activation_section(),
        ]
        nav = "".join(
            f'<a href="#{key}">{esc(title)}</a>'
            for key, title in (
                ("kpis", "KPIs"),
                ("funnel", "Funnel"),
                ("flows", "Flows"),
                ("grades", "Grades"),
                ("retention", "Retention"),
                ("lifecycle", "Lifecycle"),
                ("community", "Community"),
                ("care", "Care"),
                ("predictions", "Predictions"),
                ("activation", "Activation"),
            )
        )
        figures = "".join(
            f'<script type="application/json" data-plot="{pid}">{payload}</script>'
            for pid, payload in self.plots
        )
        # The library is inlined as shipped; "</script" cannot occur in it, but be sure.
        plotly_js = get_plotlyjs().replace("</script", "<\\/script")
        title = f"{self.engine.workspace.root.name} · lifecycle report"
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="generator" content="clientela">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"{self.header()}<nav>{nav}</nav><main>{''.join(sections)}</main>"
            "<footer>clientela · every figure is computed from the published results; "
            "hover a chart for exact values, n/a marks a value that cannot be computed, with "
            "its reason.</footer>"
            f"{figures}<script>{plotly_js}</script><script>{BOOT}</script></body></html>\n"
        )


def _position(order: Sequence[str], name: str) -> tuple[int, str]:
    """Sort key: ``name``'s place in ``order``, unknown names last (alphabetically)."""
    return (order.index(name) if name in order else len(order), name)


def _stack(sizes: Sequence[float], gap: float = 0.05) -> list[float]:
    """Vertical centres (0 top … 1 bottom) of nodes stacked in order, sized by ``sizes``."""
    total = sum(sizes) or 1.0
    room = max(1.0 - gap * (len(sizes) - 1), 0.1)
    centres, top = [], 0.0
    for size in sizes:
        height = size / total * room
        centres.append(min(max(top + height / 2, 0.001), 0.999))
        top += height + gap
    return centres


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


BOOT = """
(function () {
  var config = {displaylogo: false, responsive: true,
                modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};
  var plots = [];
  document.querySelectorAll('script[data-plot]').forEach(function (holder) {
    var el = document.getElementById(holder.getAttribute('data-plot'));
    var figure = JSON.parse(holder.textContent);
    Plotly.newPlot(el, figure.data, figure.layout, config);
    plots.push(el);
  });
  function resize() { plots.forEach(function (el) { Plotly.Plots.resize(el); }); }
  window.addEventListener('beforeprint', resize);
  window.addEventListener('afterprint', resize);
})();
"""

CSS = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --soft: #f8fafc;
  --up: #047857; --down: #b91c1c; --accent: #2563eb; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif; }
header.top, nav, main, footer { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
header.top { padding-top: 28px; }
.kicker { margin: 0; color: var(--muted); text-transform: uppercase; letter-spacing: .08em;
  font-size: 12px; }
h1 { margin: 2px 0 12px; font-size: 28px; }
h2 { margin: 0 0 8px; font-size: 20px; }
h3 { margin: 0; font-size: 15px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr));
  gap: 6px 24px; margin: 0 0 8px; }
.facts div { border-left: 3px solid var(--line); padding-left: 8px; }
.facts dt { color: var(--muted); font-size: 12px; }
.facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.generated, footer { color: var(--muted); font-size: 12px; }
code { font-size: 12px; background: var(--soft); padding: 0 3px; border-radius: 3px; }
nav { display: flex; flex-wrap: wrap; gap: 4px 16px; padding-top: 8px; padding-bottom: 8px;
  border-bottom: 1px solid var(--line); position: sticky; top: 0; background: #fff; z-index: 5; }
nav a { color: var(--accent); text-decoration: none; font-weight: 600; }
section { padding: 24px 0 8px; border-bottom: 1px solid var(--line); }
section > .what { margin: 0 0 12px; color: var(--muted); }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px 8px;
  background: #fff; break-inside: avoid; }
.kpi h3 { font-size: 12px; color: var(--muted); font-weight: 600; }
.kpi .value { margin: 2px 0 0; font-size: 24px; font-weight: 700;
  font-variant-numeric: tabular-nums; }
.kpi .delta { margin: 0; font-weight: 600; font-size: 13px; }
.kpi .reason, .kpi .source { color: var(--muted); font-weight: 400; font-size: 11px; }
.kpi p.reason { margin: 0; }
.kpi .source { margin: 4px 0 0; }
.delta.up { color: var(--up); } .delta.down { color: var(--down); }
.delta.flat { color: var(--muted); }
.spark { display: block; width: 100%; height: 28px; margin-top: 6px; }
.spark path { fill: none; stroke: var(--accent); stroke-width: 1.5;
  vector-effect: non-scaling-stroke; }
.na { color: var(--muted); font-style: italic; border-bottom: 1px dotted var(--muted);
  cursor: help; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 20px; }
.figure { margin: 0; min-width: 0; break-inside: avoid; }
.figure.wide { grid-column: 1 / -1; }
figcaption { margin-bottom: 6px; }
figcaption .what { margin: 2px 0 0; }
.formula { margin: 2px 0 0; color: var(--muted); font-size: 12px; }
.formula span { font-weight: 600; text-transform: uppercase; font-size: 10px;
  letter-spacing: .06em; margin-right: 4px; }
.plot { width: 100%; }
.split { display: grid; grid-template-columns: minmax(0, 2fr) minmax(240px, 1fr); gap: 16px;
  align-items: start; }
.side { max-height: 420px; overflow: auto; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px;
  font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
  white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; }
tbody tr:nth-child(even) td { background: #fcfcfd; }
details { margin-top: 14px; }
summary { cursor: pointer; color: var(--accent); font-weight: 600; margin-bottom: 6px; }
.notes { margin: 6px 0 0; padding-left: 18px; color: var(--muted); font-size: 12px; }
.empty, .missing { color: var(--muted); margin: 8px 0; }
footer { padding-top: 16px; padding-bottom: 32px; }
@media (max-width: 720px) {
  .grid, .split { grid-template-columns: 1fr; }
}
@media print {
  @page { margin: 14mm; }
  body { font-size: 11px; }
  nav, .modebar-container { display: none !important; }
  header.top, main, footer { max-width: none; padding: 0; }
  section { break-inside: auto; border-bottom: none; padding-top: 12px; }
  h2 { break-after: avoid; }
  .grid { display: block; }
  .figure { margin-bottom: 14px; }
  .kpi { border-color: #cbd5e1; }
  .side { max-height: none; overflow: visible; }
  .table-wrap { overflow: visible; }
  table, th { font-size: 9px; }
  th, td { padding: 2px 4px; }
  .formula, .notes, .generated { font-size: 9.5px; }
  details > summary { display: none; }
  a { color: inherit; text-decoration: none; }
}
"""


def render(
    engine: Engine,
    settings: Settings,
    query: Query | None = None,
    on_metric: Callable[[str], None] | None = None,
) -> str:
    """The report as one HTML document. ``query`` gives the range and period (its ``by``,
    ``where`` and ``options`` are not used); ``on_metric`` is told each metric computed."""
    return _Report(engine, settings, query or Query(), on_metric).html()


def write(
    engine: Engine,
    settings: Settings,
    out: Path,
    query: Query | None = None,
    on_metric: Callable[[str], None] | None = None,
) -> int:
    """Render the report into ``out`` (folders created); returns its size in bytes."""
    text = render(engine, settings, query, on_metric)
    data = text.encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(out)
    return len(data)
