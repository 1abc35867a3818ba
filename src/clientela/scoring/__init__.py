"""3D scoring (seed 001): fit, engagement and lifecycle, with every point in a ledger.

:func:`score` runs every model of ``[models]`` over the contacts each applies to. Contacts
whose audience class is excluded get no lead score (they keep a row, ``scored = false``);
demoted ones are scored with fit points taken off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import Settings
from clientela.engine import Engine
from clientela.engine.portable import union_all
from clientela.scoring import engagement, fit, ledger
from clientela.scoring.grade import engagement_digit, engagement_expr, fit_letter

SCORE_DIGITS = 4
"""0-100 scores are published with 4 decimals; point sums keep the ledger's 6."""


@dataclass(frozen=True)
class Scores:
    ledger: ir.Table
    """every contribution: see :mod:`clientela.scoring.ledger`"""
    scores: ir.Table
    """contact_id, model, scored, fit, fit_letter, engagement_points, engagement,
    engagement_digit, grade: one row per contact and model that applies to it"""
    primary: ir.Table
    """the same columns, one row per contact: its preferred model's"""


def _applies(contacts: ir.Table, applies_to: str) -> ir.Table:
    if applies_to == "with_account":
        return contacts.filter(_.account_id.notnull())
    if applies_to == "without_account":
        return contacts.filter(_.account_id.isnull())
    return contacts


def score(
    engine: Engine,
    settings: Settings,
    contacts: ir.Table,
    contact_traits: ir.Table,
    account_traits: ir.Table,
    audience: ir.Table,
    events: ir.Table,
    as_of: datetime,
) -> Scores:
    """Score every contact with every model that applies to it."""
    as_of_secs = int(as_of.timestamp())
    demote_points = settings.audience.demote_points
    people = engine.cache(
        contacts.select("contact_id", "account_id", "email").join(
            audience.select("contact_id", "policy"), "contact_id"
        )
    )
    parts: list[ir.Table] = []
    applied: list[ir.Table] = []
    for order, name in enumerate(settings.model_order()):
        model = settings.models[name]
        subjects = _applies(people, model.applies_to)
        applied.append(
            subjects.select(
                "contact_id",
                model=ibis.literal(name),
                preference=ibis.literal(order),
                scored=subjects.policy != "exclude",
            )
        )
        scored = subjects.filter(_.policy != "exclude")
        wide = engine.cache(
            fit.trait_table(scored, contact_traits, account_traits, model.fit).mutate(
                demoted=_.policy == "demote"
            )
        )
        parts.append(
            fit.ledger_rows(
                name, model, wide, as_of, demote=wide.demoted, demote_points=demote_points
            )
        )
        model_events = events.semi_join(scored.select("contact_id"), "contact_id")
        parts.append(engagement.ledger_rows(name, model, model_events, as_of_secs))
    all_rows = engine.cache(ledger.union(parts))

    sums = all_rows.group_by(["contact_id", "model"]).aggregate(
        fit=_.points.sum(where=_.dimension == "fit"),
        engagement_points=_.points.sum(where=_.dimension == "engagement"),
    )
    joined = (
        union_all(applied)
        .left_join(sums, ["contact_id", "model"])
        .select(
            "contact_id",
            "model",
            "preference",
            "scored",
            fit=ibis.ifelse(
                _.scored, _.fit.fill_null(0.0).round(ledger.DIGITS), ibis.null("float64")
            ),
            engagement_points=ibis.ifelse(
                _.scored,
                _.engagement_points.fill_null(0.0).round(ledger.DIGITS),
                ibis.null("float64"),
            ),
        )
    )
    graded = []
    for name in settings.model_order():
        model = settings.models[name]
        part = joined.filter(_.model == name)
        eng = engagement_expr(part.engagement_points, model.saturation).round(SCORE_DIGITS)
        part = part.mutate(engagement=ibis.ifelse(part.scored, eng, ibis.null("float64")))
        letter = fit_letter(part.fit, model.fit_cutoffs)
        digit = engagement_digit(part.engagement, model.engagement_cutoffs)
        graded.append(
            part.mutate(
                fit_letter=ibis.ifelse(part.scored, letter, ibis.null("string")),
                engagement_digit=ibis.ifelse(part.scored, digit, ibis.null("string")),
                grade=ibis.ifelse(part.scored, letter + digit, ibis.null("string")),
            )
        )
    scores = engine.cache(union_all(graded))
    primary = (
        scores.mutate(rank=ibis.row_number().over(group_by="contact_id", order_by=_.preference))
        .filter(_.rank == 0)
        .drop("rank", "preference")
    )
    return Scores(ledger=all_rows, scores=scores.drop("preference"), primary=primary)


def account_scores(
    engine: Engine,
    settings: Settings,
    accounts: ir.Table,
    account_traits: ir.Table,
    memberships: ir.Table,
    scores: ir.Table,
    stages: ir.Table,
    as_of: datetime,
) -> ir.Table:
    """Account fit (the account-only fit rules), members' engagement rolled up, grade and
    stage, per model that applies to contacts with an account."""
    stage_order = {s.name: i for i, s in enumerate(settings.stages.stages) if not s.exit}
    exits = [s.name for s in settings.stages.stages if s.exit]
    out = []
    for name in settings.model_order():
        model = settings.models[name]
        if model.applies_to == "without_account":
            continue
        rules = [r for r in model.fit if r.on_account_only]
        subjects = accounts.select("account_id", contact_id=_.account_id)
        wide = fit.trait_table(subjects, None, account_traits, rules)
        rows = fit.ledger_rows(name, model, wide, as_of, rules=rules)
        account_fit = rows.group_by("contact_id").aggregate(fit=_.points.sum())
        member_scores = memberships.select("contact_id", "account_id").join(
            scores.filter((_.model == name) & _.scored).select("contact_id", "engagement_points"),
            "contact_id",
        )
        ranked = member_scores.mutate(
            rank=ibis.row_number().over(
                group_by="account_id",
                order_by=[_.engagement_points.desc(), _.contact_id],
            )
        )
        rollup = {
            "sum": ranked.engagement_points.sum(),
            "mean": ranked.engagement_points.mean(),
            "max": ranked.engagement_points.max(),
            "top_k": ranked.engagement_points.sum(where=ranked.rank < model.top_k),
        }[model.account_rollup]
        engaged = ranked.group_by("account_id").aggregate(
            engagement_points=rollup, scored_members=ranked.count()
        )
        # The account's stage: its members' most advanced funnel stage, else an exit.
        member_stage = memberships.select("contact_id", "account_id").join(
            stages.select("contact_id", "stage"), "contact_id"
        )
        rank = ibis.cases(
            *((member_stage.stage == s, -i) for s, i in stage_order.items()),
            *((member_stage.stage == s, 100 + k) for k, s in enumerate(exits)),
            else_=1000,
        )
        best = (
            member_stage.mutate(rank=rank)
            .mutate(n=ibis.row_number().over(group_by="account_id", order_by=[_.rank, _.stage]))
            .filter(_.n == 0)
            .select("account_id", "stage")
        )
        table = (
            accounts.select("account_id", "name", "members")
            .left_join(account_fit.select(account_id=_.contact_id, fit=_.fit), "account_id")
            .left_join(engaged, "account_id")
            .left_join(best, "account_id")
        )
        table = table.select(
            "account_id",
            "name",
            model=ibis.literal(name),
            members=_.members,
            scored_members=_.scored_members.fill_null(0),
            fit=_.fit.fill_null(0.0).clip(0.0, fit.FIT_MAX).round(SCORE_DIGITS),
            engagement_points=_.engagement_points.fill_null(0.0).round(ledger.DIGITS),
            stage=_.stage.fill_null(settings.stages.rules[-1].stage),
        )
        eng = engagement_expr(table.engagement_points, model.saturation).round(SCORE_DIGITS)
        table = table.mutate(engagement=eng)
        letter = fit_letter(table.fit, model.fit_cutoffs)
        digit = engagement_digit(table.engagement, model.engagement_cutoffs)
        out.append(table.mutate(fit_letter=letter, engagement_digit=digit, grade=letter + digit))
    if not out:
        # No model scores contacts with accounts: the same columns, no rows.
        none = accounts.filter(ibis.literal(False))
        return none.select(
            "account_id",
            "name",
            model=ibis.literal(""),
            members=none.members,
            scored_members=ibis.literal(0, type="int64"),
            fit=ibis.literal(0.0),
            engagement_points=ibis.literal(0.0),
            stage=ibis.literal(""),
            engagement=ibis.literal(0.0),
            fit_letter=ibis.literal(""),
            engagement_digit=ibis.literal(""),
            grade=ibis.literal(""),
        )
    return union_all(out)
