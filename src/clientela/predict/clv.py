"""Customer lifetime value: per contact, expected purchases, P(alive), expected order value
and CLV over a horizon, from BG/NBD and Gamma-Gamma fitted on the purchase summary.

CLV over ``[predict] horizon_months`` (M) months, discounted monthly::

    CLV = margin · E[order value] · Σ_{m=1..M} (E[Y(m·L)] − E[Y((m−1)·L)]) / (1 + d)^m

where E[Y(t)] is the customer's BG/NBD expected purchases in the next t (conditional on their
own history), L is a month in the time unit (365.25 / 12 days), E[order value] is the
Gamma-Gamma expectation and d = (1 + annual_discount_rate)^(1/12) − 1. Purchases expected in
month m are discounted as if paid at its end (a slight under-statement, the usual choice).

The models are fitted in the driver on the summary (a few floats per customer); when a fit
fails, its columns are NULL and the model's row in ``prediction_models`` says why. The job
never fails because a model could not be fitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
from ibis import _

from clientela.config import PredictSettings, Settings
from clientela.engine import Engine
from clientela.predict import summary as purchase_summary
from clientela.predict.models import Array, BetaGeometricNBD, FitError, GammaGamma

DAYS_PER_MONTH = 365.25 / 12

PREDICTIONS_SCHEMA = pa.schema(
    [
        ("contact_id", pa.string()),
        ("orders", pa.int64()),
        ("transactions", pa.int64()),
        ("frequency", pa.int64()),
        ("recency", pa.float64()),
        ("age", pa.float64()),
        ("time_unit", pa.string()),
        ("monetary_value", pa.float64()),
        ("revenue", pa.float64()),
        ("first_order_at", pa.timestamp("us", tz="UTC")),
        ("last_order_at", pa.timestamp("us", tz="UTC")),
        ("p_alive", pa.float64()),
        ("expected_purchases", pa.float64()),
        ("expected_order_value", pa.float64()),
        ("clv", pa.float64()),
    ]
)
"""``predictions``: one row per contact who bought by the as-of date (non-buyer classes in
``[predict] exclude_classes`` left out). ``expected_purchases`` and ``clv`` are over
``[predict] horizon_months``."""

MODELS_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("status", pa.string()),
        ("message", pa.string()),
        ("customers", pa.int64()),
        ("log_likelihood", pa.float64()),
        ("parameter", pa.string()),
        ("value", pa.float64()),
        ("se", pa.float64()),
    ]
)
"""``prediction_models``: one row per fitted parameter (status ``fitted``; ``message`` names
the parameters whose standard error is above their estimate, if any), or one row with no
parameter and the reason (status ``failed``) for a model that could not be fitted."""


@dataclass
class Fitted:
    """The outcome of fitting both models on one summary."""

    bgnbd: BetaGeometricNBD | None
    gamma_gamma: GammaGamma | None
    errors: dict[str, str]


def fit(summary: Any, settings: PredictSettings) -> Fitted:
    """Fit BG/NBD and Gamma-Gamma; a model that cannot be fitted is None, with its reason."""
    errors: dict[str, str] = {}
    bgnbd: BetaGeometricNBD | None = None
    gamma_gamma: GammaGamma | None = None
    try:
        bgnbd = BetaGeometricNBD(settings.min_customers, settings.min_repeat_customers).fit(summary)
    except FitError as exc:
        errors["bgnbd"] = str(exc)
    try:
        gamma_gamma = GammaGamma(settings.min_repeat_customers).fit(summary)
    except FitError as exc:
        errors["gamma_gamma"] = str(exc)
    return Fitted(bgnbd, gamma_gamma, errors)


def month_length(time_unit: str) -> float:
    """A month (365.25 / 12 days) in ``time_unit``."""
    return DAYS_PER_MONTH / purchase_summary.UNIT_DAYS[time_unit]


def customer_values(
    summary: Any, settings: PredictSettings, fitted: Fitted
) -> dict[str, Array | None]:
    """Per customer: ``p_alive``, ``expected_purchases`` (horizon), ``expected_order_value``
    and ``clv``; a column is None when the model it needs could not be fitted."""
    months = settings.horizon_months
    length = month_length(settings.time_unit)
    out: dict[str, Array | None] = dict.fromkeys(
        ("p_alive", "expected_purchases", "expected_order_value", "clv")
    )
    bgnbd, gamma_gamma = fitted.bgnbd, fitted.gamma_gamma
    cumulative: list[Array] = []
    if bgnbd is not None:
        try:
            out["p_alive"] = bgnbd.p_alive(summary)
            cumulative = [bgnbd.predict(m * length, summary) for m in range(1, months + 1)]
            out["expected_purchases"] = cumulative[-1]
        except FitError as exc:
            fitted.errors["bgnbd"] = str(exc)
            out["p_alive"] = None
            cumulative = []
    if gamma_gamma is not None:
        out["expected_order_value"] = gamma_gamma.predict(summary)
    value = out["expected_order_value"]
    if cumulative and value is not None:
        monthly_rate = (1 + settings.annual_discount_rate) ** (1 / 12) - 1
        previous = np.zeros_like(cumulative[0])
        discounted = np.zeros_like(cumulative[0])
        for m, upto in enumerate(cumulative, start=1):
            discounted += (upto - previous) / (1 + monthly_rate) ** m
            previous = upto
        out["clv"] = settings.margin * value * discounted
    return out


def model_rows(fitted: Fitted, customers: int) -> pa.Table:
    """The ``prediction_models`` rows of one fit (empty when there were no customers)."""
    rows: list[dict[str, Any]] = []
    if customers:
        for name, model in (("bgnbd", fitted.bgnbd), ("gamma_gamma", fitted.gamma_gamma)):
            if model is None or name in fitted.errors:
                rows.append(
                    {
                        "model": name,
                        "status": "failed",
                        "message": fitted.errors.get(name, ""),
                        "customers": customers,
                    }
                )
                continue
            loose = [p.name for p in model.parameters if not p.se < p.value]
            note = (
                f"{', '.join(loose)} weakly identified (standard error above the estimate): "
                "the predictions lean on the other parameters"
                if loose
                else ""
            )
            for parameter in model.parameters:
                rows.append(
                    {
                        "model": name,
                        "status": "fitted",
                        "message": note,
                        "customers": model.customers_,
                        "log_likelihood": model.log_likelihood_,
                        "parameter": parameter.name,
                        "value": parameter.value,
                        "se": parameter.se,
                    }
                )
    return pa.Table.from_pylist(rows, schema=MODELS_SCHEMA)


@dataclass(frozen=True)
class Predictions:
    """The published prediction tables, as Ibis expressions."""

    predictions: ir.Table
    models: ir.Table


def predict(
    engine: Engine,
    settings: Settings,
    identities: ir.Table,
    audience: ir.Table,
    as_of: datetime,
) -> Predictions:
    """Summarise the landed orders as of ``as_of``, fit both models in the driver and
    return the ``predictions`` and ``prediction_models`` tables (the main job's step).

    ``audience`` holds each contact's ``audience_class``; classes in ``[predict]
    exclude_classes`` are neither fitted nor predicted.
    """
    options = settings.predict
    summary = purchase_summary.build(engine, settings, identities, as_of)
    excluded = audience.filter(_.audience_class.isin(options.exclude_classes)).select("contact_id")
    summary = summary.anti_join(excluded, "contact_id") if options.exclude_classes else summary
    # Sorted, so that the fit sees the customers in the same order on every engine.
    rows = engine.to_arrow(summary.order_by("contact_id"))
    fitted = fit(rows, options)
    values = customer_values(rows, options, fitted) if rows.num_rows else {}
    columns: dict[str, Any] = {}
    for field in PREDICTIONS_SCHEMA:
        if field.name == "time_unit":
            columns[field.name] = pa.array([options.time_unit] * rows.num_rows, pa.string())
        elif field.name in rows.column_names:
            columns[field.name] = rows.column(field.name).cast(field.type)
        else:
            computed = values.get(field.name)
            columns[field.name] = (
                pa.nulls(rows.num_rows, pa.float64())
                if computed is None
                else pa.array(computed, pa.float64())
            )
    table = pa.table(columns, schema=PREDICTIONS_SCHEMA)
    return Predictions(
        predictions=ibis.memtable(table), models=ibis.memtable(model_rows(fitted, rows.num_rows))
    )
