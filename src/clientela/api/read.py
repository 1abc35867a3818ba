"""The read API (``/api/*``): contacts, accounts, metrics and runs of the main job.

Every route needs a read key or an admin key (:data:`clientela.api.auth.READ`). Reads come
from the
published results through a pool of private in-memory DuckDB engines
(:mod:`clientela.api.readers`), one request at a time per engine and one published version
per request. Runs of the main job (``/api/runs``) are in :mod:`clientela.api.runs`. Swagger
UI is at ``/docs`` (:mod:`clientela.api.docs`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

import ibis.expr.types as ir
from fastapi import APIRouter, Path, Query, Request, Security
from ibis import _
from pydantic import StringConstraints

from clientela.api import docs
from clientela.api.auth import read_key
from clientela.api.errors import ApiError
from clientela.api.readers import ReadEngine, ReaderPool
from clientela.api.views import (
    AccountDetail,
    AccountMember,
    AccountPage,
    AccountScore,
    AccountSummary,
    Audience,
    Conflict,
    ContactDetail,
    ContactPage,
    ContactSummary,
    Error,
    Evidence,
    Explanation,
    Identity,
    LedgerRow,
    Lifecycle,
    Membership,
    Merge,
    MetricCatalogue,
    MetricColumn,
    MetricInfo,
    MetricValues,
    MetricWho,
    Published,
    Score,
    SignalTotal,
    StageSpan,
    TimelineEvent,
    TimelinePage,
    Trait,
)
from clientela.errors import NotFoundError, did_you_mean
from clientela.metrics.limits import DEFAULT_LIMITS, count_periods

PERIODS = ("day", "week", "month", "quarter", "year")
Period = Literal["day", "week", "month", "quarter", "year"]
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)
TIMELINE_CORE = ("message_id", "type", "event", "timestamp", "path", "channel", "passive", "rating")
TIMELINE_SKIP = ("contact_id", "secs", "day")
# Text parameters never hold NUL (DuckDB cannot take it in a SQL literal).
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL, max_length=1000)]
# An id can be as long as a landed event allows (Segment's 32 KB): every landed id is readable.
ID_LIMIT = 32 * 1024


def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("No API key, or an unknown or revoked one."),
    403: _error("A write key: the read API needs a read or an admin key."),
    404: _error("Not found, or nothing published yet (code not_published)."),
    422: _error("A parameter is not valid."),
}

api = APIRouter(prefix="/api", dependencies=[Security(read_key)], responses=ERRORS)
_state_lock = threading.Lock()


def _pool(request: Request) -> ReaderPool:
    state = request.app.state
    with _state_lock:
        pool: ReaderPool | None = getattr(state, "readers", None)
        if pool is None:
            pool = ReaderPool(state.workspace)
            state.readers = pool
    return pool


@contextmanager
def _reading(request: Request) -> Iterator[ReadEngine]:
    with _pool(request).engine() as eng:
        yield eng


def _rows(eng: ReadEngine, expr: ir.Table) -> list[dict[str, Any]]:
    return list(eng.to_arrow(expr).to_pylist())


def _first(eng: ReadEngine, expr: ir.Table) -> dict[str, Any] | None:
    rows = _rows(eng, expr.limit(1))
    return rows[0] if rows else None


def _count(eng: ReadEngine, expr: ir.Table) -> int:
    return int(eng.to_arrow(expr.count()).as_py())


def _split(values: list[str] | None) -> list[str]:
    """``["A1,A2", "B"]`` → ``["A1", "A2", "B"]``: lists as repeated or comma-separated."""
    return [p.strip() for v in values or [] for p in v.split(",") if p.strip()]


def _page_links(
    request: Request, total: int, limit: int, offset: int, path: str | None = None
) -> dict[str, Any]:
    following = offset + limit
    if following >= total:
        return {"next_offset": None, "next": None}
    if path is None:
        url = request.url.include_query_params(offset=following)
        link = url.path + (f"?{url.query}" if url.query else "")
    else:
        root = request.scope.get("root_path", "").rstrip("/")
        link = f"{root}{path}?limit={limit}&offset={following}"
    return {"next_offset": following, "next": link}


Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Rows to skip.")]
Listed = Annotated[
    list[Text] | None, Query(description="Values, repeated or comma-separated.", max_length=100)
]
Bound = Annotated[float | None, Query(allow_inf_nan=False)]


# --- contacts -------------------------------------------------------------------------------


@api.get(
    "/contacts",
    tags=["contacts"],
    summary="List contacts, best grade first, with filters",
    responses={
        400: _error(
            "A filter names a stage, grade, class or model that cannot exist (code "
            "invalid_query, with a suggestion)."
        )
    },
)
def list_contacts(
    request: Request,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL,
            description="Text in the contact id, an identity (userId, anonymousId, email) "
            "or the email, ignoring case.",
        ),
    ] = None,
    grade: Annotated[
        list[Text] | None, Query(description="Grades or fit letters: A1,A2 or A,B.")
    ] = None,
    stage: Listed = None,
    audience_class: Annotated[
        list[Text] | None,
        Query(alias="class", description="Audience classes: buyer, student, partner..."),
    ] = None,
    account: Annotated[
        str | None,
        Query(pattern=NO_NUL, max_length=500, description="Only this account's contacts."),
    ] = None,
    min_fit: Bound = None,
    max_fit: Bound = None,
    min_engagement: Bound = None,
    max_engagement: Bound = None,
    identified: Annotated[
        bool | None, Query(description="true: identified only; false: anonymous only.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ContactPage:
    """Contacts as ``clientela contacts list`` filters and orders them: best grade first,
    then most engaged, then by id."""
    from clientela.lifecycle import best_first, select_contacts
    from clientela.metrics.base import FIT_LETTERS, check_values

    grades = [g.upper() for g in _split(grade)]
    with _reading(request) as eng:
        # A value that cannot exist is a 400 with a suggestion, not an empty page.
        settings = request.app.state.workspace.settings
        check_values(settings, "grade", grades, also=tuple(FIT_LETTERS))
        check_values(settings, "stage", _split(stage))
        check_values(settings, "class", _split(audience_class))
        view = eng.published("lifecycle")
        people = eng.published("contacts").select("contact_id", "email", "last_seen", "identified")
        t = view.join(people, "contact_id")
        if q is not None and q.strip():
            needle = q.strip().lower()
            ids = eng.published("identities")
            matching = ids.filter(ids.value.lower().contains(needle)).select("contact_id")
            t = t.filter(
                t.contact_id.isin(matching.contact_id)
                | t.contact_id.lower().contains(needle)
                | t.email.lower().contains(needle).fill_null(False)
            )
        t = select_contacts(
            t,
            grades=grades,
            stages=_split(stage),
            classes=_split(audience_class),
            account=account,
            identified=identified,
            min_fit=min_fit,
            max_fit=max_fit,
            min_engagement=min_engagement,
            max_engagement=max_engagement,
        )
        total = _count(eng, t)
        ordered = best_first(t)
        rows = _rows(eng, ordered.limit(limit, offset=offset))
        version = eng.pinned or ""
    return ContactPage(
        version=version,
        total=total,
        limit=limit,
        offset=offset,
        items=[ContactSummary.model_validate(r) for r in rows],
        **_page_links(request, total, limit, offset),
    )


def _find_contact(eng: ReadEngine, text: str) -> str:
    """The contact id for a contact id, userId, anonymousId or email (as the CLI finds it)."""
    ids = eng.published("identities")
    wanted = text.strip()
    hit = _first(
        eng,
        ids.filter(
            (ids.value == wanted) | (ids.value == wanted.lower()) | (ids.contact_id == wanted)
        ).select("contact_id"),
    )
    if hit is None:
        hit = _first(
            eng, eng.published("contacts").filter(_.contact_id == wanted).select("contact_id")
        )
    if hit is None:
        raise NotFoundError(f"no contact has the id, userId, anonymousId or email {text!r}")
    return str(hit["contact_id"])


def _timeline(request: Request, eng: ReadEngine, cid: str, limit: int, offset: int) -> TimelinePage:
    activity = eng.published("activity")
    mine = activity.filter(activity.contact_id == cid)
    total = _count(eng, mine)
    rows = _rows(
        eng,
        mine.order_by([mine.timestamp.desc(), mine.message_id.desc()]).limit(limit, offset=offset),
    )
    items = []
    for row in rows:
        extra = {
            k: None if v is None else str(v)
            for k, v in row.items()
            if k not in TIMELINE_CORE and k not in TIMELINE_SKIP
        }
        items.append(
            TimelineEvent.model_validate({k: row.get(k) for k in TIMELINE_CORE} | {"fields": extra})
        )
    path = f"/api/contacts/{quote(cid, safe='')}/timeline"
    return TimelinePage(
        version=eng.pinned or "",
        contact_id=cid,
        total=total,
        limit=limit,
        offset=offset,
        items=items,
        **_page_links(request, total, limit, offset, path=path),
    )


def _explanation(eng: ReadEngine, cid: str, view: dict[str, Any], model: str | None) -> Explanation:
    """What ``clientela explain`` shows, as data: the ledger rows and their totals."""
    from clientela.scoring.grade import engagement_curve

    run_info = _first(eng, eng.published("run_info")) or {}
    chosen = model or view.get("model")
    score_row = None
    if chosen:
        scores = eng.published("scores")
        score_row = _first(
            eng, scores.filter((scores.contact_id == cid) & (scores.model == chosen))
        )
    if model and score_row is None:
        raise NotFoundError(f"model {model!r} does not apply to contact {cid}")
    ledger = eng.published("score_ledger")
    rows = _rows(
        eng,
        ledger.filter((ledger.contact_id == cid) & (ledger.model == (chosen or ""))).order_by(
            ["dimension", ledger.event_at.desc(), "rule"]
        ),
    )
    fit_rows = [LedgerRow.model_validate(r) for r in rows if r["dimension"] == "fit"]
    eng_rows = [LedgerRow.model_validate(r) for r in rows if r["dimension"] == "engagement"]
    base = Explanation(
        model=chosen,
        as_of=run_info.get("as_of"),
        fit_rows=fit_rows,
        engagement_rows=eng_rows,
        fit_total=sum(r.points or 0.0 for r in fit_rows),
        engagement_total=sum(r.points or 0.0 for r in eng_rows),
    )
    if not score_row or not score_row.get("scored"):
        base.reason = (
            f"not scored as a lead: audience class {view.get('audience_class')} "
            f"(policy {view.get('policy')}) — {view.get('evidence') or 'no model applies'}"
        )
        return base
    settings = eng.workspace.settings
    saturation = settings.models[chosen].saturation if chosen in settings.models else None
    raw = float(score_row.get("engagement_points") or 0.0)
    per: dict[str, SignalTotal] = {}
    for r in eng_rows:
        item = per.setdefault(r.rule, SignalTotal(rule=r.rule, events=0, raw_points=0, points=0))
        item.events += 1
        item.raw_points += r.raw_points or 0.0
        item.points += r.points or 0.0
        if r.event_at is not None and (item.latest is None or r.event_at > item.latest):
            item.latest = r.event_at
    base.scored = True
    base.fit = score_row.get("fit")
    base.fit_letter = score_row.get("fit_letter")
    base.engagement_points = raw
    base.saturation = saturation
    base.engagement = score_row.get("engagement")
    base.engagement_digit = score_row.get("engagement_digit")
    if saturation:
        base.curve = (
            f"100 * (1 - 0.5 ** ({raw:,.2f} / {saturation:g})) = "
            f"{engagement_curve(raw, saturation):.1f}"
        )
    base.signals = sorted(per.values(), key=lambda s: (-s.points, s.rule))
    return base


def _scores(eng: ReadEngine, cid: str) -> list[Score]:
    scores = eng.published("scores")
    rows = _rows(eng, scores.filter(scores.contact_id == cid))
    order = {name: i for i, name in enumerate(eng.workspace.settings.model_order())}
    rows.sort(key=lambda r: (order.get(r["model"], len(order)), r["model"]))
    return [Score.model_validate(r) for r in rows]


ModelParam = Annotated[
    str | None,
    Query(pattern=NO_NUL, max_length=200, description="Explain this model (default: primary)."),
]
ContactPath = Annotated[
    str,
    Path(
        description=(
            "Contact id, userId, anonymousId or email; a '/' in it may be sent as it is or as "
            "%2F (an id ending in '/timeline', '/explain', '/predictions', '/recommendations' or "
            "'/actions' is read as that sub-resource)."
        ),
        max_length=ID_LIMIT,
        pattern=NO_NUL,
    ),
]


@api.get(
    "/contacts/{contact:path}/timeline",
    tags=["contacts"],
    summary="A contact's events, newest first",
)
def get_timeline(
    request: Request, contact: ContactPath, limit: Limit = 50, offset: Offset = 0
) -> TimelinePage:
    """The contact's events from the published ``activity`` table, newest first."""
    with _reading(request) as eng:
        return _timeline(request, eng, _find_contact(eng, contact), limit, offset)


@api.get(
    "/contacts/{contact:path}/explain",
    tags=["contacts"],
    summary="Why a contact's score is what it is",
)
def explain_contact(
    request: Request,
    contact: ContactPath,
    model: ModelParam = None,
) -> Explanation:
    """Every fit rule and scored event of the contact under one model (``clientela
    explain``): the fit rows add up to the fit, the engagement rows to the raw points."""
    with _reading(request) as eng:
        cid = _find_contact(eng, contact)
        view = _first(eng, eng.published("lifecycle").filter(_.contact_id == cid)) or {}
        return _explanation(eng, cid, view, model)


# Registered after the two above: the path converter would also match their '/timeline'.
@api.get(
    "/contacts/{contact:path}",
    tags=["contacts"],
    summary="One contact: 3D score, explanation, class, history",
)
def get_contact(
    request: Request,
    contact: ContactPath,
    model: ModelParam = None,
    events: Annotated[int, Query(ge=1, le=1000, description="Timeline events shown.")] = 20,
) -> ContactDetail:
    """The contact with its 3D score (fit, engagement, grade under every model, and the
    lifecycle stage), the explanation of the score (every ledger row, as ``clientela
    explain``), audience class with evidence, stage history, account memberships, the
    identity merges that made it one person and the refused ones, and the first page of its
    timeline (newest first; the rest at ``/api/contacts/{contact}/timeline``)."""
    with _reading(request) as eng:
        cid = _find_contact(eng, contact)
        profile = _first(eng, eng.published("contacts").filter(_.contact_id == cid)) or {}
        view = _first(eng, eng.published("lifecycle").filter(_.contact_id == cid)) or {}
        run_info = _first(eng, eng.published("run_info")) or {}
        ids = eng.published("identities")
        identities = _rows(eng, ids.filter(ids.contact_id == cid).order_by(["kind", "value"]))
        traits = _rows(
            eng, eng.published("contact_traits").filter(_.contact_id == cid).order_by("trait")
        )
        scores = _scores(eng, cid)
        audience_row = _first(eng, eng.published("audience").filter(_.contact_id == cid))
        evidence = _rows(
            eng,
            eng.published("audience_evidence")
            .filter(_.contact_id == cid)
            .order_by(["seen_at", "rule"]),
        )
        history = _rows(
            eng, eng.published("stage_history").filter(_.contact_id == cid).order_by("entered_at")
        )
        members = _rows(
            eng, eng.published("memberships").filter(_.contact_id == cid).order_by("since")
        )
        conflicts = _rows(
            eng,
            eng.published("identity_conflicts").filter(
                (_.kept_contact == cid) | (_.refused_contact == cid)
            ),
        )
        merges = _rows(
            eng,
            eng.published("identity_merges")
            .filter(_.contact_id == cid)
            .order_by(["seen_at", "user_id"]),
        )
        explanation = _explanation(eng, cid, view, model)
        timeline = _timeline(request, eng, cid, events, 0)
        version = eng.pinned or ""
    audience = None
    if audience_row is not None or view:
        audience = Audience.model_validate(
            (audience_row or {"audience_class": view.get("audience_class")})
            | {"evidence_rows": [Evidence.model_validate(e) for e in evidence]}
        )
    primary = next((s for s in scores if s.model == view.get("model")), None)
    return ContactDetail(
        version=version,
        as_of=run_info.get("as_of"),
        contact_id=cid,
        email=profile.get("email"),
        account_id=profile.get("account_id"),
        first_seen=profile.get("first_seen"),
        last_seen=profile.get("last_seen"),
        events=profile.get("events") or 0,
        identified=profile.get("identified"),
        in_crm=profile.get("in_crm"),
        identities=[Identity.model_validate(i) for i in identities],
        traits=[Trait.model_validate(t) for t in traits],
        score=primary,
        scores=scores,
        lifecycle=Lifecycle.model_validate(view) if view else None,
        audience=audience,
        explanation=explanation,
        history=[StageSpan.model_validate(h) for h in history],
        memberships=[Membership.model_validate(m) for m in members],
        merges=[Merge.model_validate(m) for m in merges],
        conflicts=[Conflict.model_validate(c) for c in conflicts],
        timeline=timeline,
    )


# --- accounts -------------------------------------------------------------------------------


def _account_scores(eng: ReadEngine, ids: list[str]) -> dict[str, list[AccountScore]]:
    if not ids:
        return {}
    table = eng.published("account_scores")
    rows = _rows(eng, table.filter(table.account_id.isin(ids)).order_by(["account_id", "model"]))
    order = {name: i for i, name in enumerate(eng.workspace.settings.model_order())}
    rows.sort(key=lambda r: (r["account_id"], order.get(r["model"], len(order)), r["model"]))
    out: dict[str, list[AccountScore]] = {}
    for r in rows:
        out.setdefault(r["account_id"], []).append(AccountScore.model_validate(r))
    return out


@api.get("/accounts", tags=["accounts"], summary="List accounts, most members first")
def list_accounts(
    request: Request,
    q: Annotated[
        str | None,
        Query(
            pattern=NO_NUL, max_length=200, description="Text in the account id, name or domain."
        ),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AccountPage:
    """Accounts (published ``accounts``) with their scores per model (``account_scores``)."""
    with _reading(request) as eng:
        t = eng.published("accounts")
        if q is not None and q.strip():
            needle = q.strip().lower()
            t = t.filter(
                t.account_id.lower().contains(needle)
                | t.name.lower().contains(needle).fill_null(False)
                | t.domain.lower().contains(needle).fill_null(False)
            )
        total = _count(eng, t)
        rows = _rows(eng, t.order_by([t.members.desc(), t.account_id]).limit(limit, offset=offset))
        scores = _account_scores(eng, [r["account_id"] for r in rows])
        version = eng.pinned or ""
    items = [
        AccountSummary.model_validate(r | {"scores": scores.get(r["account_id"], [])}) for r in rows
    ]
    return AccountPage(
        version=version,
        total=total,
        limit=limit,
        offset=offset,
        items=items,
        **_page_links(request, total, limit, offset),
    )


@api.get(
    "/accounts/{account_id:path}",
    tags=["accounts"],
    summary="One account: traits, scores and members",
)
def get_account(
    request: Request,
    account_id: Annotated[str, Path(pattern=NO_NUL, max_length=ID_LIMIT)],
    limit: Annotated[int, Query(ge=1, le=1000, description="Members listed.")] = 100,
) -> AccountDetail:
    """The account, its traits, its score per model and its members (``memberships``)
    with their grade and stage, earliest member first."""
    with _reading(request) as eng:
        accounts = eng.published("accounts")
        row = _first(eng, accounts.filter(accounts.account_id == account_id))
        if row is None:
            raise NotFoundError(f"no account {account_id!r}")
        traits = _rows(
            eng,
            eng.published("account_traits").filter(_.account_id == account_id).order_by("trait"),
        )
        scores = _account_scores(eng, [account_id]).get(account_id, [])
        members = eng.published("memberships").filter(_.account_id == account_id)
        people = eng.published("contacts").select("contact_id", "email")
        life = eng.published("lifecycle").select("contact_id", "label", "grade", "stage")
        joined = members.left_join(people, "contact_id").left_join(life, "contact_id")
        listed = _rows(
            eng,
            joined.select(
                members.contact_id,
                people.email,
                life.label,
                life.grade,
                life.stage,
                members.since,
                members.last_evidence,
                members.reasons,
            )
            .order_by(["since", "contact_id"])
            .limit(limit),
        )
        version = eng.pinned or ""
    return AccountDetail.model_validate(
        row
        | {
            "version": version,
            "traits": [Trait.model_validate(t) for t in traits],
            "scores": scores,
            "contacts": [AccountMember.model_validate(m) for m in listed],
        }
    )


# --- metrics --------------------------------------------------------------------------------


@api.get("/metrics", tags=["metrics"], summary="The metrics catalogue")
def metric_catalogue() -> MetricCatalogue:
    """Every metric (``clientela metrics list``): formula, output columns with their units,
    keys and options with their defaults."""
    from clientela import metrics
    from clientela.metrics.base import DIMENSIONS, LOYALTY_TIER

    items = [
        MetricInfo(
            name=m.name,
            title=m.title,
            family=m.family,
            formula=m.formula,
            columns=[MetricColumn(name=c, unit=u) for c, u in m.units.items()],
            keys=list(m.keys),
            options=dict(m.options),
            choices={name: list(values) for name, values in m.choices.items()},
            headline=m.headline,
        )
        for m in sorted(metrics.REGISTRY.values(), key=lambda m: (m.family, m.name))
    ]
    return MetricCatalogue(
        metrics=items, dimensions=[*DIMENSIONS, LOYALTY_TIER, "trait:NAME"], periods=list(PERIODS)
    )


def _pairs(items: list[str], what: str, lists: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ApiError(400, "invalid_query", f"{what}: {item!r} is not NAME=VALUE")
        out[key.strip()] = tuple(_split([value])) if lists else value.strip()
    return out


def _check_range(start: date | None, end: date | None, period: str) -> None:
    for value, name in ((start, "from"), (end, "to")):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise ApiError(
                400, "invalid_query", f"{name}: {value} is not between {EARLIEST} and {LATEST}"
            )
    if start is not None and end is not None:
        if start > end:
            raise ApiError(400, "invalid_query", f"from ({start}) is after to ({end})")
        most = DEFAULT_LIMITS.periods
        if count_periods(start, end, period, most + 1) > most:
            raise ApiError(
                400,
                "invalid_query",
                f"from {start} to {end} is more than {most:,} {period}s; "
                "ask for a shorter range or a longer period",
            )


@api.get(
    "/metrics/{name}",
    tags=["metrics"],
    summary="One metric's values per period, or the contacts behind one cell",
    response_model=MetricValues | MetricWho,
    responses={400: _error("The query is not valid for this metric.")},
)
def metric_values(
    request: Request,
    name: Annotated[str, Path(pattern=NO_NUL, max_length=200)],
    start: Annotated[
        date | None, Query(alias="from", description="First day (local date), e.g. 2026-01-01.")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, included.")] = None,
    period: Annotated[Period | None, Query(description="Default: from clientela.toml.")] = None,
    by: Annotated[
        list[Text] | None,
        Query(
            max_length=10,
            description="Break down by stage, grade, class, fit, engagement, account, model, "
            "tier or trait:NAME (repeated or comma-separated).",
        ),
    ] = None,
    where: Annotated[
        list[Text] | None,
        Query(
            max_length=20,
            description="Only contacts with DIMENSION=V1,V2 (repeatable), e.g. stage=customer.",
        ),
    ] = None,
    options: Annotated[
        list[Text] | None,
        Query(
            max_length=20,
            description="Metric option NAME=VALUE (repeatable), e.g. "
            "steps=Signed Up,Order Completed.",
        ),
    ] = None,
    who: Annotated[
        str | None,
        Query(
            max_length=1000,
            pattern=NO_NUL,
            description="The drill-down: COLUMN=VALUE pairs, comma-separated, e.g. "
            "period=2026-05,stage=customer; answers the contacts behind that cell.",
        ),
    ] = None,
) -> MetricValues | MetricWho:
    """A lifecycle KPI (``clientela metrics NAME``). Values that cannot be computed are
    ``null``, with the reason in the row's ``n/a`` object (column → reason)."""
    from clientela import metrics

    if name not in metrics.REGISTRY:
        raise ApiError(
            404,
            "not_found",
            f"no metric {name!r}{did_you_mean(name, metrics.REGISTRY)}; "
            "see GET /api/metrics for the catalogue",
        )
    metric = metrics.REGISTRY[name]
    ws = request.app.state.workspace
    _check_range(start, end, period or ws.settings.metrics.default_period)
    query = metrics.Query(
        start=start,
        end=end,
        period=period,
        by=tuple(dict.fromkeys(_split(by))),
        where=_pairs(where or [], "where", lists=True),
        options=_pairs(options or [], "options"),
    )
    with _reading(request) as eng:
        if who is not None:
            cell = _pairs(_split([who]), "who")
            table = metrics.who(eng, ws.settings, name, cell, query)
            return MetricWho(
                metric=name,
                cell=cell,
                version=eng.pinned or "",
                total=table.num_rows,
                columns=list(table.column_names),
                rows=table.to_pylist(),
            )
        result = metrics.compute(eng, ws.settings, name, query)
        version = eng.pinned or ""
    records = []
    for row in result.rows:
        record: dict[str, Any] = {k: metrics.plain(v) for k, v in row.items()}
        record["n/a"] = {k: v.reason for k, v in row.items() if isinstance(v, metrics.NA)}
        records.append(record)
    return MetricValues(
        metric=metric.name,
        title=metric.title,
        formula=metric.formula,
        period=result.calendar.kind,
        timezone=result.calendar.timezone,
        as_of=result.as_of,
        version=version,
        units=metric.units,
        columns=list(result.columns),
        rows=records,
    )


# --- the published version ------------------------------------------------------------------


@api.get("/published", tags=["runs"], summary="The published version reads answer from")
def published(request: Request) -> Published:
    with _reading(request) as eng:
        info = _first(eng, eng.published("run_info")) or {}
        version = eng.pinned or ""
        folder = eng.workspace.results_dir / version
        tables = sorted(p.stem for p in folder.glob("*.parquet"))
    models = [m.strip() for m in str(info.get("models") or "").split(",") if m.strip()]
    return Published(version=version, as_of=info.get("as_of"), models=models, tables=tables)


router = APIRouter()
router.include_router(api)
router.include_router(docs.router)

__all__ = ["router"]
