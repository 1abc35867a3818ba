"""The predictions in the read API: ``/api/predictions``, ``/api/predictions/models`` and a
contact's ``/predictions`` and ``/recommendations``.

Same rules as :mod:`clientela.api.read`: a read or admin key, one pinned published version
per request, JSON errors. A published version written before the prediction tables existed
reads as if they were empty; a model that has not produced anything yet leaves its columns
empty and says why in ``missing`` / ``notes``.

The router is included before :mod:`clientela.api.read`'s: its contact sub-routes must come
before ``/api/contacts/{contact:path}``, whose path converter would match them too.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

import ibis.expr.types as ir
from fastapi import APIRouter, Query, Request, Security
from ibis import _

from clientela.api.auth import read_key
from clientela.api.errors import ApiError
from clientela.api.read import (
    ERRORS,
    ContactPath,
    Limit,
    Offset,
    Text,
    _count,
    _error,
    _find_contact,
    _first,
    _page_links,
    _reading,
    _rows,
    _split,
)
from clientela.api.readers import ReadEngine
from clientela.api.views import (
    Backtest,
    BacktestFigure,
    ContactPredictions,
    FittedModel,
    ModelParameter,
    ModelReport,
    Prediction,
    PredictionPage,
    Recommendation,
    RecommendationList,
)
from clientela.predict import published

Probability = Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False)]
Amount = Annotated[float | None, Query(allow_inf_nan=False)]
PredictionSort = Literal[
    "clv", "p_alive", "churn_risk", "purchase_propensity", "expected_purchases"
]
BANDS = ("high", "medium", "low")

api = APIRouter(prefix="/api", dependencies=[Security(read_key)], responses=ERRORS)


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """A row with NaN and infinities as null (JSON has neither)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def _prediction(row: dict[str, Any]) -> Prediction:
    row = _finite(row)
    row["churn_reasons"] = published.reasons(row.get("churn_reasons"))
    row["purchase_reasons"] = published.reasons(row.get("purchase_reasons"))
    return Prediction.model_validate(row)


def _as_of(eng: ReadEngine) -> datetime | None:
    info = _first(eng, eng.published("run_info")) or {}
    as_of: datetime | None = info.get("as_of")
    return as_of


def _with_people(eng: ReadEngine, preds: ir.Table) -> ir.Table:
    """Predictions with the contact's email, label and stage (one row per prediction)."""
    people = eng.published("contacts").select(_c=_.contact_id, email=_.email)
    life = eng.published("lifecycle").select(_l=_.contact_id, label=_.label, stage=_.stage)
    joined = preds.left_join(people, preds.contact_id == people._c).left_join(
        life, preds.contact_id == life._l
    )
    return joined.drop("_c", "_l")


@api.get(
    "/predictions",
    tags=["predictions"],
    summary="Contacts' predictions, highest CLV first, with filters",
    responses={400: _error("A minimum is above its maximum, or an unknown band.")},
)
def list_predictions(
    request: Request,
    min_p_alive: Probability = None,
    max_p_alive: Probability = None,
    min_clv: Amount = None,
    max_clv: Amount = None,
    min_churn_risk: Probability = None,
    max_churn_risk: Probability = None,
    min_purchase_propensity: Probability = None,
    churn_band: Annotated[
        list[Text] | None,
        Query(max_length=10, description="high, medium, low (repeated or comma-separated)."),
    ] = None,
    sort: Annotated[
        PredictionSort, Query(description="Highest first; contacts without the value last.")
    ] = "clv",
    limit: Limit = 50,
    offset: Offset = 0,
) -> PredictionPage:
    """The published ``predictions`` (``clientela contacts list`` with the prediction
    filters), each with the contact's email, label and stage. A contact without a value
    fails any bound on it."""
    bounds = {
        "p_alive": (min_p_alive, max_p_alive),
        "clv": (min_clv, max_clv),
        "churn_risk": (min_churn_risk, max_churn_risk),
    }
    for name, (low, high) in bounds.items():
        if low is not None and high is not None and low > high:
            raise ApiError(
                400, "invalid_query", f"min_{name} ({low:g}) is above max_{name} ({high:g})"
            )
    bands = _split(churn_band)
    unknown = [b for b in bands if b not in BANDS]
    if unknown:
        raise ApiError(
            400, "invalid_query", f"unknown churn_band {unknown[0]!r} (known: {', '.join(BANDS)})"
        )
    with _reading(request) as eng:
        t = published.select_predictions(
            published.table(eng, "predictions"),
            min_p_alive=min_p_alive,
            max_p_alive=max_p_alive,
            min_clv=min_clv,
            max_clv=max_clv,
            min_churn_risk=min_churn_risk,
            max_churn_risk=max_churn_risk,
            min_purchase_propensity=min_purchase_propensity,
        )
        if bands:
            t = t.filter(t.churn_band.isin(bands))
        total = _count(eng, t)
        t = _with_people(eng, t)
        page = t.order_by([t[sort].desc(nulls_first=False), t.contact_id])
        rows = _rows(eng, page.limit(limit, offset=offset))
        as_of = _as_of(eng)
        version = eng.pinned or ""
    return PredictionPage(
        version=version,
        as_of=as_of,
        total=total,
        limit=limit,
        offset=offset,
        items=[_prediction(r) for r in rows],
        **_page_links(request, total, limit, offset),
    )


def _model_report(eng: ReadEngine) -> ModelReport:
    report = published.read_model_report(eng)
    return ModelReport(
        version=eng.pinned or "",
        as_of=_as_of(eng),
        models=[
            FittedModel(
                model=m.model,
                status=m.status,
                message=m.message,
                customers=m.customers,
                log_likelihood=_finite({"v": m.log_likelihood})["v"],
                parameters=[ModelParameter.model_validate(_finite(p)) for p in m.parameters],
            )
            for m in report.models
        ],
        backtests=[
            Backtest(
                model=b.model,
                metrics=[BacktestFigure.model_validate(_finite(f)) for f in b.metrics],
                calibration=[BacktestFigure.model_validate(_finite(f)) for f in b.calibration],
                notes=b.notes,
            )
            for b in report.backtests
        ],
        missing={
            name: why
            for name in published.PROPENSITY_MODELS
            if (why := published.missing_model(report, name))
        },
    )


@api.get(
    "/predictions/models",
    tags=["predictions"],
    summary="The model report: fitted parameters and back-tests beside their baselines",
)
def prediction_models(request: Request) -> ModelReport:
    """What ``clientela predict`` prints: BG/NBD and Gamma-Gamma parameters with standard
    errors and log-likelihood (or why a fit failed), and each model's back-test figures
    beside its baseline's, with the calibration bins."""
    with _reading(request) as eng:
        return _model_report(eng)


def _recommendations(eng: ReadEngine, cid: str) -> list[Recommendation]:
    recs = published.table(eng, "recommendations")
    rows = _rows(eng, recs.filter(recs.contact_id == cid).order_by(["rank", "product_id"]))
    return [Recommendation.model_validate(_finite(r)) for r in rows]


@api.get(
    "/contacts/{contact:path}/predictions",
    tags=["contacts", "predictions"],
    summary="A contact's predictions and recommendations",
)
def contact_predictions(request: Request, contact: ContactPath) -> ContactPredictions:
    """The contact's row of ``predictions`` (null when they have none: no order and no
    propensity score) and recommendations; ``notes`` say why a model left them empty."""
    with _reading(request) as eng:
        cid = _find_contact(eng, contact)
        preds = published.table(eng, "predictions")
        rows = _rows(eng, _with_people(eng, preds.filter(preds.contact_id == cid)))
        recommendations = _recommendations(eng, cid)
        report = published.read_model_report(eng)
        as_of = _as_of(eng)
        version = eng.pinned or ""
    notes = []
    row = rows[0] if rows else None
    if row is not None and row.get("orders") and row.get("clv") is None:
        failed = [f"{m.message}" for m in report.models if m.status != "fitted" and m.message]
        notes.append("no CLV: " + ("; ".join(failed) or "the lifetime-value model has no fit"))
    for name in published.PROPENSITY_MODELS:
        why = published.missing_model(report, name)
        if why:
            notes.append(why)
    return ContactPredictions(
        version=version,
        as_of=as_of,
        contact_id=cid,
        prediction=_prediction(row) if row is not None else None,
        recommendations=recommendations,
        notes=notes,
    )


@api.get(
    "/contacts/{contact:path}/recommendations",
    tags=["contacts", "predictions"],
    summary="A contact's cross-sell and up-sell suggestions, best first",
)
def contact_recommendations(request: Request, contact: ContactPath) -> RecommendationList:
    """The contact's rows of ``recommendations``, rank 1 first, each with its reason;
    ``note`` says why there are none when the recommendation model has not run."""
    with _reading(request) as eng:
        cid = _find_contact(eng, contact)
        items = _recommendations(eng, cid)
        note = None
        if not items:
            note = published.missing_model(published.read_model_report(eng), "recommendations")
        version = eng.pinned or ""
    return RecommendationList(version=version, contact_id=cid, items=items, note=note)


router = APIRouter()
router.include_router(api)

__all__ = ["router"]
