"""The main job: resolve identities, build profiles, classify audiences, score, place every
contact in its stage, and publish the results atomically.

The job is a pure function of (landed data, ``clientela.toml``, as-of time): run it with an
earlier ``as_of`` and it replays that date from the landed data (events after it, and CRM
contacts created after it, are not seen).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import ibis
import ibis.expr.types as ir

from clientela import audience, identity, lifecycle, profiles, scoring, stages
from clientela.activation import job as activation_job
from clientela.engine import Engine
from clientela.predict import clv, propensity, recommend
from clientela.predict import tables as prediction_tables
from clientela.scoring import events as scoring_events
from clientela.workspace import Workspace

# Published tables, in the order they are written.
TABLES = (
    "identities",
    "identity_conflicts",
    "identity_merges",
    "contacts",
    "contact_traits",
    "accounts",
    "account_traits",
    "memberships",
    "audience",
    "audience_evidence",
    "score_ledger",
    "scores",
    "stage_history",
    "subscriptions",
    "lifecycle",
    "account_scores",
    "activity",
    "predictions",
    "prediction_models",
    "recommendations",
    "prediction_backtests",
    *activation_job.TABLES,
    "run_info",
)


@dataclass
class RunReport:
    """What a run published, with row counts and timings."""

    version: str = ""
    engine: str = ""
    as_of: datetime | None = None
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _utc(moment: datetime | None) -> datetime:
    """Now, or ``moment`` in UTC (a time without a zone is read as UTC)."""
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def compute(
    engine: Engine, workspace: Workspace, as_of: datetime | None = None
) -> dict[str, ir.Table]:
    """Every result table of the main job, as Ibis expressions, as of ``as_of`` (default:
    now). Intermediate tables are materialised on the way; the published ones are not."""
    moment = _utc(as_of)
    engine.set_as_of(moment)
    settings = workspace.settings
    graph = identity.resolve(engine, settings)
    built = profiles.build(
        engine, settings, graph, scoring_events.narrow(engine, settings, engine.landed("events"))
    )
    contacts = engine.cache(built.contacts)
    contact_traits = engine.cache(built.contact_traits)
    events = scoring_events.of_contacts(built.contact_events)
    classes = audience.classify(
        engine,
        settings.audience,
        contacts,
        graph.identities,
        contact_traits,
        built.accounts,
        events,
    )
    scores = scoring.score(
        engine,
        settings,
        contacts,
        contact_traits,
        built.account_traits,
        classes.classes,
        events,
        moment,
    )
    subscribed = stages.subscriptions(engine, settings.stages, events, moment)
    placed = stages.build(
        engine,
        settings.stages,
        events,
        contacts,
        scores.primary.select("contact_id", "fit"),
        moment,
        subscribed.spells,
    )
    current = placed.current
    accounts = scoring.account_scores(
        engine,
        settings,
        built.accounts,
        built.account_traits,
        built.memberships,
        scores.scores,
        current,
        moment,
    )
    view = lifecycle.build(
        engine,
        settings,
        contacts,
        built.contact_events,
        events,
        classes.classes,
        scores.primary,
        current,
        subscribed,
        moment,
    )
    # Lifetime value (BG/NBD + Gamma-Gamma), fitted in the driver on the purchase summary.
    predicted = clv.predict(engine, settings, graph.identities, classes.classes, moment)
    # Churn risk and purchase propensity, learnt from the replayed history (back-tested).
    propensities = propensity.predict(
        engine,
        settings,
        events,
        placed.history,
        scores.primary,
        classes.classes,
        moment,
        contact_traits,
    )
    # Cross-sell and up-sell from co-purchases, with their back-test.
    suggested = recommend.recommend(
        engine,
        settings,
        graph.identities,
        classes.classes,
        contact_traits,
        built.contact_events,
        moment,
    )
    predictions = prediction_tables.combine(predicted.predictions, propensities.propensities)
    # Segments, loyalty, the next best action and the policy that may stop it.
    acting = activation_job.build(
        engine,
        workspace,
        activation_job.Inputs(
            contacts=contacts,
            contact_traits=contact_traits,
            contact_events=built.contact_events,
            classes=classes.classes,
            scores=scores.primary,
            stages=current,
            stage_history=placed.history,
            predictions=predictions,
            recommendations=suggested.recommendations,
            memberships=built.memberships,
            lifecycle=view,
        ),
        moment,
    )
    run_info = ibis.memtable({"as_of": [moment], "models": [", ".join(settings.model_order())]})
    run_info = run_info.cast({"as_of": "timestamp('UTC')"})
    return {
        "identities": graph.identities,
        "identity_conflicts": graph.conflicts,
        "identity_merges": graph.merges,
        "contacts": contacts,
        "contact_traits": contact_traits,
        "accounts": built.accounts,
        "account_traits": built.account_traits,
        "memberships": built.memberships,
        "audience": classes.classes,
        "audience_evidence": classes.evidence,
        "score_ledger": scores.ledger,
        "scores": scores.scores,
        "stage_history": placed.history,
        "subscriptions": subscribed.history,
        "lifecycle": view,
        "account_scores": accounts,
        "activity": scoring_events.activity(settings, built.contact_events),
        "predictions": predictions,
        "prediction_models": predicted.models,
        "recommendations": suggested.recommendations,
        "prediction_backtests": propensities.backtests.union(suggested.backtests),
        **acting,
        "run_info": run_info,
    }


def run(
    engine: Engine,
    workspace: Workspace,
    on_table: Callable[[str], None] | None = None,
    as_of: datetime | None = None,
) -> RunReport:
    """Compute and publish; returns the published version and row counts."""
    started = time.perf_counter()
    moment = _utc(as_of)
    tables = compute(engine, workspace, moment)
    version = engine.publish(tables, on_table=on_table)
    report = RunReport(version=version, engine=engine.kind, as_of=moment)
    for name in TABLES:
        report.rows[name] = int(engine.to_arrow(engine.published(name).count()).as_py())
    report.seconds = time.perf_counter() - started
    return report
