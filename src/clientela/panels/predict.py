"""The report's Predictions section: CLV distribution, P(alive) by recency and frequency, the
churn-risk list, the calibration plot, the back-tests beside their baselines and the fitted
parameters.

Every panel is a function of the published prediction tables (:class:`Tables`, pyarrow) and
a :class:`~clientela.panels.Canvas`; an empty table gives a short sentence saying why
instead of an empty chart. :func:`read` loads the tables from an engine; :func:`section`
assembles the section.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clientela.panels import Canvas
from clientela.predict import published
from clientela.report import BLUES, MUTED, PALETTE, _layout, _table, esc

CHURN_LIST = 15
"""How many customers the churn-risk list shows."""
FREQUENCY_BINS = ((0, 0), (1, 1), (2, 2), (3, 3), (4, 5), (6, 9), (10, None))
"""Repeat-purchase bins of the P(alive) heatmap: (first, last) inclusive, None open."""
RECENCY_BINS = 8
"""Equal-width bins of recency (t_x) in the heatmap."""
CLV_BINS = 30
BAND_COLOURS = {"high": "#ef4444", "medium": "#f59e0b", "low": "#10b981"}


@dataclass
class Tables:
    """The published prediction tables one Predictions section is drawn from."""

    predictions: pa.Table
    models: pa.Table
    backtests: pa.Table
    contacts: pa.Table
    """``contact_id`` and ``email`` of the contacts in the churn-risk list."""
    horizon_months: int = 12
    time_unit: str = "week"


def read(engine: Any, horizon_months: int = 12, time_unit: str = "week") -> Tables:
    """The current published version's prediction tables (empty ones if it predates them)."""
    predictions = engine.to_arrow(published.table(engine, "predictions"))
    at_risk = published.table(engine, "predictions")
    at_risk = at_risk.filter(at_risk.churn_risk.notnull()).order_by(
        [at_risk.churn_risk.desc(), at_risk.contact_id]
    )
    contacts = engine.published("contacts")
    listed = at_risk.limit(CHURN_LIST).select("contact_id")
    people = contacts.filter(contacts.contact_id.isin(listed.contact_id)).select(
        "contact_id", "email"
    )
    return Tables(
        predictions=predictions,
        models=engine.to_arrow(published.table(engine, "prediction_models")),
        backtests=engine.to_arrow(published.table(engine, "prediction_backtests")),
        contacts=engine.to_arrow(people),
        horizon_months=horizon_months,
        time_unit=time_unit,
    )


def _empty(reason: str) -> str:
    return f'<p class="empty"><span class="na">n/a</span> ({esc(reason)})</p>'


def _values(table: pa.Table, column: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The column's non-null, finite values as floats."""
    if column not in table.column_names or table.num_rows == 0:
        return np.array([], dtype=np.float64)
    raw = table.column(column).to_numpy(zero_copy_only=False)
    values = np.asarray(raw, dtype=np.float64)
    return values[np.isfinite(values)]


def _finite(value: Any) -> bool:
    """A number a chart can draw (not None, NaN or infinite)."""
    return isinstance(value, int | float) and math.isfinite(value)


def _report(tables: Tables) -> published.ModelReport:
    return published.model_report(tables.models.to_pylist(), tables.backtests.to_pylist())


def _no_clv_reason(tables: Tables) -> str:
    report = _report(tables)
    failed = [m.message or m.model for m in report.models if m.status != "fitted"]
    if failed:
        return "; ".join(failed)
    if tables.predictions.num_rows == 0:
        return "no customer has an order by the as-of date"
    return "no lifetime-value model in this published version"


def clv_distribution(canvas: Canvas, tables: Tables) -> str:
    """A histogram of the customers' CLV (values above the 99th percentile in the last bar)."""
    values = _values(tables.predictions, "clv")
    months = tables.horizon_months
    if values.size == 0:
        body = _empty(f"no CLV: {_no_clv_reason(tables)}")
        what = "How much the customers are expected to be worth."
    else:
        top = float(np.quantile(values, 0.99)) if values.size > 100 else float(values.max())
        top = top if top > 0 else 1.0
        edges = np.linspace(min(0.0, float(values.min())), top, CLV_BINS + 1)
        counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
        centres = ((edges[:-1] + edges[1:]) / 2).tolist()
        ranges = [
            f"{lo:,.0f} \u2013 {hi:,.0f}" + (" and above" if i == CLV_BINS - 1 else "")
            for i, (lo, hi) in enumerate(itertools.pairwise(edges))
        ]
        data = [
            {
                "type": "bar",
                "x": centres,
                "y": counts.tolist(),
                "width": float(edges[1] - edges[0]) * 0.95,
                "customdata": ranges,
                "marker": {"color": PALETTE[0]},
                "hovertemplate": "CLV %{customdata}: %{y:,} customers<extra></extra>",
            }
        ]
        layout = _layout(
            xaxis={"type": "linear", "title": {"text": f"CLV, next {months} months"}},
            yaxis={"title": {"text": "customers"}},
            showlegend=False,
        )
        body = canvas.plot(data, layout, 300, "Histogram of customer lifetime value")
        order = np.sort(values)[::-1]
        decile = order[: max(1, math.ceil(order.size / 10))].sum()
        share = decile * 100 / order.sum() if order.sum() > 0 else 0.0
        what = (
            f"{values.size:,} customers, total {values.sum():,.0f}, median "
            f"{float(np.median(values)):,.2f}, mean {values.mean():,.2f}; the top 10 % hold "
            f"{share:.0f} % of it."
        )
    return canvas.figure(
        "CLV distribution",
        what,
        f"CLV = margin · E[order value] · Σ_m (E[Y(m)] \u2212 E[Y(m\u22121)]) / (1 + d)^m over "
        f"{months} months (BG/NBD purchases, Gamma-Gamma order value)",
        body,
    )


def _frequency_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}\u2013{high}"


def p_alive_heatmap(canvas: Canvas, tables: Tables) -> str:
    """Mean P(alive) over bins of recency (t_x) and frequency (repeat purchases)."""
    preds = tables.predictions
    unit = tables.time_unit
    have = (
        preds.filter(pc.is_valid(preds.column("p_alive")))
        if "p_alive" in preds.column_names and preds.num_rows
        else preds.slice(0, 0)
    )
    if have.num_rows == 0:
        body = _empty(f"no P(alive): {_no_clv_reason(tables)}")
    else:
        p = np.asarray(have.column("p_alive").to_numpy(zero_copy_only=False), dtype=np.float64)
        x = np.asarray(have.column("frequency").to_numpy(zero_copy_only=False), dtype=np.float64)
        t = np.asarray(have.column("recency").to_numpy(zero_copy_only=False), dtype=np.float64)
        kept = np.isfinite(p) & np.isfinite(x) & np.isfinite(t)
        p, x, t = p[kept], x[kept], t[kept]
        top = float(t.max()) if t.size and t.max() > 0 else 1.0
        edges = np.linspace(0.0, top, RECENCY_BINS + 1)
        column = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, RECENCY_BINS - 1)
        z: list[list[float | None]] = []
        counts: list[list[int]] = []
        for low, high in FREQUENCY_BINS:
            in_row = (x >= low) & (x <= (high if high is not None else np.inf))
            row_z: list[float | None] = []
            row_n: list[int] = []
            for c in range(RECENCY_BINS):
                cell = in_row & (column == c)
                n = int(cell.sum())
                row_n.append(n)
                row_z.append(round(float(p[cell].mean()), 4) if n else None)
            z.append(row_z)
            counts.append(row_n)
        xs = [f"{lo:,.0f}\u2013{hi:,.0f}" for lo, hi in itertools.pairwise(edges)]
        ys = [_frequency_label(lo, hi) for lo, hi in FREQUENCY_BINS]
        text = [[("" if v is None else f"{v:.2f}") for v in row] for row in z]
        data = [
            {
                "type": "heatmap",
                "x": xs,
                "y": ys,
                "z": z,
                "zmin": 0,
                "zmax": 1,
                "text": text,
                "texttemplate": "%{text}",
                "customdata": counts,
                "colorscale": BLUES,
                "colorbar": {"title": {"text": "P(alive)"}, "thickness": 12},
                "xgap": 2,
                "ygap": 2,
                "hoverongaps": False,
                "hovertemplate": f"recency %{{x}} {unit}s, %{{y}} repeat purchases: mean "
                "P(alive) %{z:.3f} over %{customdata:,} customers<extra></extra>",
            }
        ]
        layout = _layout(
            xaxis={"title": {"text": f"recency t_x ({unit}s from first to last purchase)"}},
            yaxis={"type": "category", "title": {"text": "repeat purchases (frequency)"}},
        )
        body = canvas.plot(data, layout, 320, "Mean P(alive) by recency and frequency")
    return canvas.figure(
        "P(alive) by recency and frequency",
        "Mean probability that a customer is still active, by how many times they bought "
        "again and how late in their history their last purchase came; a frequent buyer "
        "whose last purchase was long ago is the likeliest to have left.",
        "P(alive) = 1 / (1 + δ_{x>0} · a/(b+x\u22121) · ((\u03b1+T)/(\u03b1+t_x))^{r+x}) (BG/NBD), "
        "averaged per cell",
        body,
    )


def churn_list(canvas: Canvas, tables: Tables) -> str:
    """The customers with the highest churn risk: band, CLV and reasons."""
    preds = tables.predictions
    rows = [
        r
        for r in preds.select(
            [
                c
                for c in ("contact_id", "churn_risk", "churn_band", "churn_reasons", "clv")
                if c in preds.column_names
            ]
        ).to_pylist()
        if r.get("churn_risk") is not None
    ]
    rows.sort(key=lambda r: (-r["churn_risk"], r["contact_id"]))
    if not rows:
        why = published.missing_model(_report(tables), "churn")
        body = _empty(why or "no customer has a churn risk in this published version")
    else:
        emails = {r["contact_id"]: r["email"] for r in tables.contacts.to_pylist()}
        body_rows = []
        for r in rows[:CHURN_LIST]:
            band = r.get("churn_band") or ""
            colour = BAND_COLOURS.get(band, MUTED)
            body_rows.append(
                [
                    esc(r["contact_id"]),
                    esc(emails.get(r["contact_id"]) or ""),
                    esc(f"{r['churn_risk']:.3f}"),
                    f'<span style="color:{colour};font-weight:600">{esc(band)}</span>',
                    esc("" if r.get("clv") is None else f"{r['clv']:,.2f}"),
                    esc("; ".join(published.reasons(r.get("churn_reasons")))),
                ]
            )
        body = _table(
            ("contact", "email", "churn risk", "band", "CLV", "reasons"),
            body_rows,
            (False, False, True, False, True, False),
        )
    return canvas.figure(
        "Churn-risk list",
        f"The {CHURN_LIST} customers most likely to churn within the horizon, with their band, "
        "lifetime value and the features that raise their risk most.",
        "churn risk = P(churn within the horizon | features), from the churn model; ordered "
        "highest first",
        body,
        wide=True,
    )


def calibration(canvas: Canvas, tables: Tables) -> str:
    """Predicted vs observed rate per bin of every back-tested probability, with the
    diagonal of perfect calibration."""
    report = _report(tables)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [0, 1],
            "y": [0, 1],
            "name": "perfectly calibrated",
            "line": {"color": MUTED, "dash": "dot", "width": 1},
            "hoverinfo": "skip",
        }
    ]
    drawn = [
        (test, [f for f in test.calibration if _finite(f["baseline"]) and _finite(f["value"])])
        for test in report.backtests
    ]
    for i, (test, bins) in enumerate((t, b) for t, b in drawn if b):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": test.model,
                "x": [f["baseline"] for f in bins],
                "y": [f["value"] for f in bins],
                "customdata": [f["rows"] or 0 for f in bins],
                "marker": {"color": PALETTE[(i + 1) % len(PALETTE)], "size": 8},
                "hovertemplate": f"{esc(test.model)}: predicted %{{x:.3f}}, observed "
                "%{y:.3f} (%{customdata:,} rows)<extra></extra>",
            }
        )
    if len(data) == 1:
        notes = [published.missing_model(report, m) for m in ("churn", "conversion")]
        body = _empty("; ".join(n for n in notes if n) or "no back-test has calibration bins")
    else:
        layout = _layout(
            xaxis={"type": "linear", "range": [0, 1], "title": {"text": "mean predicted"}},
            yaxis={"range": [0, 1], "title": {"text": "observed rate"}},
        )
        body = canvas.plot(data, layout, 320, "Calibration: predicted against observed")
    return canvas.figure(
        "Calibration",
        "On the held-out rows of the back-test, grouped into bins of predicted probability: "
        "the mean prediction against the rate that happened. On the diagonal, a predicted 30 % "
        "happens 30 % of the time.",
        "per bin: x = mean predicted probability, y = observed positives / rows",
        body,
    )


def backtests(canvas: Canvas, tables: Tables) -> str:
    """Each model's back-test figures beside the baseline's on the same held-out rows."""
    report = _report(tables)
    body_rows = []
    for test in report.backtests:
        for f in test.metrics:
            better = ""
            if f["compared"] and f["value"] is not None and f["baseline"] is not None:
                lower = f["metric"] == "brier"
                wins = f["value"] < f["baseline"] if lower else f["value"] > f["baseline"]
                better = "yes" if wins else "no"
            body_rows.append(
                [
                    esc(test.model),
                    esc(f["label"]),
                    esc("" if f["value"] is None else f"{f['value']:.3f}"),
                    esc("" if f["baseline"] is None else f"{f['baseline']:.3f}"),
                    esc(f["baseline_name"] or ""),
                    esc(better),
                    esc("" if f["rows"] is None else f"{f['rows']:,}"),
                ]
            )
    notes = [
        why
        for name in published.PROPENSITY_MODELS
        if (why := published.missing_model(report, name))
    ]
    parts = []
    if body_rows:
        parts.append(
            _table(
                ("model", "metric", "model's", "baseline's", "baseline", "beats it", "rows"),
                body_rows,
                (False, False, True, True, False, False, True),
            )
        )
    if notes:
        parts.append("".join(_empty(n) for n in notes))
    return canvas.figure(
        "Back-tests against baselines",
        "Each model trained on the past, scored on the held-out period after it, beside a "
        "simple baseline on the same rows (lower is better for the Brier score, higher for "
        "the others).",
        "AUC = P(score of a positive > score of a negative); top-decile lift = rate in the "
        "top 10 % / overall rate; Brier = mean (p \u2212 outcome)²; hit rate@k = share with a "
        "purchase among their k suggestions",
        "".join(parts),
    )


def parameters(canvas: Canvas, tables: Tables) -> str:
    """The fitted parameters of the lifetime-value models with their standard errors."""
    report = _report(tables)
    body_rows = []
    notes = []
    for model in report.models:
        if model.status != "fitted":
            notes.append(f"{model.model}: {model.message}")
            continue
        for p in model.parameters:
            body_rows.append(
                [
                    esc(model.model),
                    esc(p["parameter"]),
                    esc("" if p["value"] is None else f"{p['value']:,.4f}"),
                    esc("" if p["se"] is None else f"{p['se']:,.4f}"),
                    esc(f"{model.customers or 0:,}"),
                    esc("" if model.log_likelihood is None else f"{model.log_likelihood:,.2f}"),
                ]
            )
        if model.message:
            notes.append(f"{model.model}: {model.message}")
    parts = []
    if body_rows:
        parts.append(
            _table(
                ("model", "parameter", "value", "standard error", "customers", "log-likelihood"),
                body_rows,
                (False, False, True, True, True, True),
            )
        )
    if notes or not body_rows:
        shown = notes or ["no lifetime-value model in this published version"]
        parts.append("".join(f'<p class="missing">{esc(n)}</p>' for n in shown))
    return canvas.figure(
        "Fitted parameters",
        "BG/NBD (purchases and dropout) and Gamma-Gamma (order value), fitted by maximum "
        "likelihood on the customers' purchase summary.",
        "standard error = √ diag(H⁻¹), H the Hessian of the negative log-likelihood",
        "".join(parts),
        wide=True,
    )


def section(canvas: Canvas, tables: Tables) -> str:
    """The Predictions section of the report."""
    figures = [
        clv_distribution(canvas, tables),
        p_alive_heatmap(canvas, tables),
        churn_list(canvas, tables),
        calibration(canvas, tables),
        backtests(canvas, tables),
        parameters(canvas, tables),
    ]
    return (
        '<section id="predictions"><h2>Predictions</h2>'
        '<p class="what">What each customer is expected to be worth and do next, from the '
        "models the main job fitted on the published version.</p>"
        f'<div class="grid">{"".join(figures)}</div></section>'
    )
