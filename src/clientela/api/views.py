"""Typed responses of the read API (``/api/*``): what ``/openapi.json`` documents.

Every time is ISO 8601 in UTC. Lists are paginated with ``limit`` and ``offset``; a page says
the ``total`` and where the ``next`` page starts (``null`` on the last page). Reads answer
from one published version (``version``) for the whole request, even when a run publishes a
new one meanwhile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Error(BaseModel):
    """Every error: a stable machine-readable ``code`` and a message for people."""

    code: str
    message: str


class Page(BaseModel):
    """Pagination of a list: ``next`` is the URL of the next page (``null`` on the last)."""

    version: str = Field(description="The published version the page was read from.")
    total: int = Field(description="Rows matching, across all pages.")
    limit: int
    offset: int
    next_offset: int | None = None
    next: str | None = Field(default=None, description="Path and query of the next page.")


# --- contacts -------------------------------------------------------------------------------


class ContactSummary(BaseModel):
    """One row of the contact list (``clientela contacts list``)."""

    contact_id: str
    email: str | None = None
    label: str | None = Field(default=None, description="Grade and stage, e.g. 'A2 · customer'.")
    grade: str | None = None
    fit: float | None = None
    fit_letter: str | None = None
    engagement: float | None = None
    engagement_digit: str | None = None
    stage: str | None = None
    audience_class: str | None = None
    account_id: str | None = None
    model: str | None = None
    scored: bool | None = None
    identified: bool | None = None
    last_seen: datetime | None = None
    next_initiative: str | None = None


class ContactPage(Page):
    items: list[ContactSummary]


class Identity(BaseModel):
    kind: str = Field(description="user_id, anonymous_id or email.")
    value: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class Trait(BaseModel):
    trait: str
    value: str | None = None
    updated_at: datetime | None = None
    source: str | None = None


class Score(BaseModel):
    """The 3D score under one model: fit (letter), engagement (digit) and their grade."""

    model: str
    scored: bool
    fit: float | None = None
    fit_letter: str | None = None
    engagement: float | None = None
    engagement_points: float | None = Field(
        default=None, description="Raw engagement points before the saturation curve."
    )
    engagement_digit: str | None = None
    grade: str | None = None


class Lifecycle(BaseModel):
    """Where the contact is in the lifecycle (the third dimension) and what to do next."""

    stage: str | None = None
    label: str | None = None
    stage_since: datetime | None = None
    days_in_stage: float | None = None
    stage_reason: str | None = None
    orders: int | None = None
    products: int | None = None
    categories: int | None = None
    first_purchase_at: datetime | None = None
    tenure_days: float | None = None
    last_active_at: datetime | None = None
    recency_days: float | None = None
    subscription_status: str | None = None
    """active, cancelled or lapsed (None: never subscribed); see docs/metrics.md."""
    plan: str | None = None
    mrr: float | None = None
    subscribed_at: datetime | None = None
    subscription_ended_at: datetime | None = None
    next_initiative: str | None = None


class Evidence(BaseModel):
    audience_class: str
    rule: str | None = None
    detail: str | None = None
    seen_at: datetime | None = None


class Audience(BaseModel):
    """The audience class (buyer, student, partner, ...), its policy and the evidence."""

    audience_class: str | None = None
    policy: str | None = None
    route: str | None = None
    evidence: str | None = Field(default=None, description="The evidence in one line.")
    evidence_rows: list[Evidence] = []


class LedgerRow(BaseModel):
    """One row of the score ledger: a fit rule that matched or one scored event."""

    dimension: str = Field(description="fit or engagement.")
    rule: str
    detail: str | None = None
    message_id: str | None = None
    event_at: datetime | None = None
    raw_points: float | None = None
    decay: float | None = None
    points: float | None = None


class SignalTotal(BaseModel):
    """Engagement per signal (what ``clientela explain`` shows by default)."""

    rule: str
    events: int
    raw_points: float
    points: float = Field(description="After decay and caps.")
    latest: datetime | None = None


class Explanation(BaseModel):
    """Why the score is what it is: every ledger row, adding up to the totals."""

    model: str | None = None
    as_of: datetime | None = None
    scored: bool = False
    reason: str | None = Field(default=None, description="Why the contact is not scored.")
    fit: float | None = None
    fit_letter: str | None = None
    fit_total: float = Field(default=0.0, description="Sum of the fit rows' points.")
    engagement_points: float | None = None
    saturation: float | None = None
    engagement: float | None = None
    engagement_digit: str | None = None
    engagement_total: float = Field(default=0.0, description="Sum of the engagement rows' points.")
    curve: str | None = Field(default=None, description="The engagement curve, worked out.")
    fit_rows: list[LedgerRow] = []
    engagement_rows: list[LedgerRow] = []
    signals: list[SignalTotal] = []


class StageSpan(BaseModel):
    stage: str
    previous_stage: str | None = None
    entered_at: datetime | None = None
    exited_at: datetime | None = Field(default=None, description="null: the current stage.")
    days_in_stage: float | None = None
    reason: str | None = None


class Membership(BaseModel):
    account_id: str
    since: datetime | None = None
    last_evidence: datetime | None = None
    reasons: str | None = None


class Conflict(BaseModel):
    """An identity merge that was refused (the identity stays with ``kept_contact``)."""

    kind: str
    value: str
    kept_contact: str | None = None
    refused_contact: str | None = None
    reason: str | None = None
    seen_at: datetime | None = None


class Merge(BaseModel):
    """Why an id is this contact's: two userIds joined into one person, with the evidence."""

    user_id: str
    merged_with: str
    reason: str = Field(description="alias, force_merge or email.")
    evidence: str | None = None
    seen_at: datetime | None = None


class TimelineEvent(BaseModel):
    """One event of the contact (the published ``activity`` table)."""

    message_id: str | None = None
    type: str | None = None
    event: str | None = None
    timestamp: datetime | None = None
    path: str | None = None
    channel: str | None = None
    passive: bool | None = None
    rating: float | None = None
    fields: dict[str, str | None] = Field(
        default={}, description="The metric fields of the event (metrics.fields), when set."
    )


class TimelinePage(Page):
    contact_id: str
    items: list[TimelineEvent]


class ContactDetail(BaseModel):
    """A contact: profile, identities, traits, 3D score with its explanation, audience class
    with evidence, stage history and the newest events."""

    version: str
    as_of: datetime | None = None
    contact_id: str
    email: str | None = None
    account_id: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    events: int = 0
    identified: bool | None = None
    in_crm: bool | None = None
    identities: list[Identity] = []
    traits: list[Trait] = []
    score: Score | None = Field(default=None, description="The score under the primary model.")
    scores: list[Score] = Field(default=[], description="Every model that applies.")
    lifecycle: Lifecycle | None = None
    audience: Audience | None = None
    explanation: Explanation
    history: list[StageSpan] = []
    memberships: list[Membership] = []
    merges: list[Merge] = []
    conflicts: list[Conflict] = []
    timeline: TimelinePage


# --- accounts -------------------------------------------------------------------------------


class AccountScore(BaseModel):
    model: str
    members: int | None = None
    scored_members: int | None = None
    fit: float | None = None
    fit_letter: str | None = None
    engagement_points: float | None = None
    engagement: float | None = None
    engagement_digit: str | None = None
    grade: str | None = None
    stage: str | None = None


class AccountSummary(BaseModel):
    account_id: str
    name: str | None = None
    domain: str | None = None
    members: int = 0
    scores: list[AccountScore] = []


class AccountPage(Page):
    items: list[AccountSummary]


class AccountMember(BaseModel):
    contact_id: str
    email: str | None = None
    label: str | None = None
    grade: str | None = None
    stage: str | None = None
    since: datetime | None = None
    last_evidence: datetime | None = None
    reasons: str | None = None


class AccountDetail(AccountSummary):
    version: str
    traits: list[Trait] = []
    contacts: list[AccountMember] = []


# --- metrics --------------------------------------------------------------------------------


class MetricColumn(BaseModel):
    name: str
    unit: str = Field(
        description="count, %, pp, ratio, money, minutes, days, hours, rating or text."
    )


class MetricInfo(BaseModel):
    name: str
    title: str
    family: str
    formula: str
    columns: list[MetricColumn]
    keys: list[str] = Field(description="Columns of the metric's own besides the period.")
    options: dict[str, str] = Field(description="Option name → default (options=NAME=VALUE).")
    choices: dict[str, list[str]] = Field(
        default_factory=dict, description="Option name → the values it takes (where limited)."
    )
    headline: str | None = Field(default=None, description="The column 'change' is about.")


class MetricCatalogue(BaseModel):
    metrics: list[MetricInfo]
    dimensions: list[str] = Field(description="What 'by' and 'where' accept (and trait:NAME).")
    periods: list[str]


class MetricValues(BaseModel):
    """A metric's rows, as ``clientela metrics NAME --format json`` writes them: each row
    holds the values (``null`` when not available) and ``n/a``: column → reason."""

    metric: str
    title: str
    formula: str
    period: str
    timezone: str
    as_of: datetime
    version: str
    units: dict[str, str]
    columns: list[str]
    rows: list[dict[str, Any]]


class MetricWho(BaseModel):
    """The contacts behind one cell of a metric (the drill-down)."""

    metric: str
    cell: dict[str, str]
    version: str
    total: int
    columns: list[str]
    rows: list[dict[str, Any]]


# --- runs -----------------------------------------------------------------------------------


class RunRequest(BaseModel):
    as_of: datetime | None = Field(
        default=None, description="Replay the job as of this time (default: now)."
    )


class RunStatus(BaseModel):
    """A run of the main job started through the API."""

    id: str
    status: Literal["running", "succeeded", "failed"]
    requested_at: datetime
    finished_at: datetime | None = None
    as_of: datetime | None = None
    previous_version: str | None = None
    version: str | None = Field(default=None, description="What the run published.")
    tables_done: int = 0
    tables: int = 0
    rows: dict[str, int] = {}
    seconds: float | None = None
    error: str | None = None


class RunList(BaseModel):
    runs: list[RunStatus]


class Published(BaseModel):
    """The version reads answer from."""

    version: str
    as_of: datetime | None = None
    models: list[str] = []
    tables: list[str] = []


# --- predictions ----------------------------------------------------------------------------


class Prediction(BaseModel):
    """One contact's published predictions (``predictions``): lifetime value for buyers,
    churn risk for customers, purchase propensity for prospects; empty where the model did
    not score them."""

    contact_id: str
    email: str | None = None
    label: str | None = Field(default=None, description="Grade and stage, e.g. 'A2 · customer'.")
    stage: str | None = None
    orders: int | None = None
    transactions: int | None = Field(default=None, description="Buying days.")
    frequency: int | None = Field(default=None, description="Repeat transactions (x).")
    recency: float | None = Field(default=None, description="First to last transaction (t_x).")
    age: float | None = Field(default=None, description="First transaction to the as-of (T).")
    time_unit: str | None = None
    monetary_value: float | None = Field(
        default=None, description="Mean value of the repeat transactions."
    )
    revenue: float | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    p_alive: float | None = Field(default=None, description="P(alive), BG/NBD.")
    expected_purchases: float | None = Field(
        default=None, description="Purchases expected over the horizon."
    )
    expected_order_value: float | None = Field(default=None, description="Gamma-Gamma.")
    clv: float | None = Field(default=None, description="Discounted value over the horizon.")
    churn_risk: float | None = Field(default=None, description="P(churn within the horizon).")
    churn_band: str | None = Field(default=None, description="high, medium or low.")
    churn_reasons: list[str] = Field(default=[], description="Top contributing features.")
    purchase_propensity: float | None = Field(
        default=None, description="P(purchase within the horizon)."
    )
    purchase_band: str | None = None
    purchase_reasons: list[str] = []


class PredictionPage(Page):
    as_of: datetime | None = None
    items: list[Prediction]


class Recommendation(BaseModel):
    """A cross-sell or up-sell suggestion (``recommendations``), rank 1 the best."""

    rank: int
    kind: str = Field(description="cross_sell or up_sell.")
    product_id: str
    product_name: str | None = None
    category: str | None = None
    score: float | None = None
    support: float | None = None
    confidence: float | None = None
    lift: float | None = None
    because_of: str | None = Field(default=None, description="The product it follows from.")
    reason: str | None = None


class RecommendationList(BaseModel):
    version: str
    contact_id: str
    items: list[Recommendation]
    note: str | None = Field(default=None, description="Why there are none, when known.")


class ContactPredictions(BaseModel):
    """A contact's predictions and recommendations; ``notes`` say why a model has none."""

    version: str
    as_of: datetime | None = None
    contact_id: str
    prediction: Prediction | None = None
    recommendations: list[Recommendation] = []
    notes: list[str] = []


class ModelParameter(BaseModel):
    parameter: str
    value: float | None = None
    se: float | None = Field(default=None, description="Standard error.")


class FittedModel(BaseModel):
    """A lifetime-value model of ``prediction_models``: status ``fitted`` or ``failed``."""

    model: str
    status: str
    message: str | None = None
    customers: int | None = None
    log_likelihood: float | None = None
    parameters: list[ModelParameter] = []


class BacktestFigure(BaseModel):
    """One back-test figure beside the baseline's on the same held-out rows; for
    ``calibration``, ``value`` is the observed rate in ``bin`` and ``baseline`` the mean
    predicted probability."""

    metric: str
    label: str
    bin: int | None = None
    compared: bool = False
    """Whether the model beating its baseline on this figure means something."""
    value: float | None = None
    baseline: float | None = None
    baseline_name: str | None = None
    rows: int | None = None


class Backtest(BaseModel):
    model: str
    metrics: list[BacktestFigure] = []
    calibration: list[BacktestFigure] = []
    notes: list[str] = []


class ModelReport(BaseModel):
    """The fitted parameters and the back-tests of the published version (``clientela
    predict``); ``missing`` says, per model, why it has no figures yet."""

    version: str
    as_of: datetime | None = None
    models: list[FittedModel]
    backtests: list[Backtest]
    missing: dict[str, str] = {}
