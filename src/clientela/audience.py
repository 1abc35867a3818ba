"""Audience classes: is this contact a buyer at all? (Seed 001: not every visitor is a prospect.)

Each non-buyer class is recognised by evidence, and every piece of evidence is kept:

* ``employee``: the email's domain is one of ``audience.own_domains``.
* ``competitor``: the email's or the account's domain is a competitor's, or the ``company``
  trait names a competitor.
* ``vendor``: the email's or the account's domain is a supplier's.
* ``student``: an academic email domain, or an occupation / job title like "student".
* ``job_seeker``: a job application event, or careers pages make up at least
  ``careers_share`` of their page views (and at least ``careers_min_pages`` of them).
* ``bot``: a crawler's user agent; bursts of page views machine-fast after each other
  (a run of ``burst_events`` views, each within ``burst_seconds`` of the previous one); or
  ``click_links`` links of one email clicked within ``click_seconds`` (a link scanner).

A contact with evidence for several classes gets the first in
:data:`~clientela.config.NON_BUYER_CLASSES` order (a bot is a bot before anything else); one
with none is a ``buyer``. Each class has a policy: ``exclude`` (never marketed to, not scored
as a lead, still counted in traffic) or ``demote`` (scored, with fit points taken off), and a
courteous route.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import NON_BUYER_CLASSES, AudienceSettings
from clientela.engine import Engine
from clientela.engine.portable import trim, union_all


@dataclass(frozen=True)
class Audience:
    """``classes``: one row per contact; ``evidence``: every reason found."""

    classes: ir.Table
    """contact_id, audience_class, policy, route, evidence (the chosen class's reasons)"""
    evidence: ir.Table
    """contact_id, audience_class, rule, detail, seen_at"""


def _domain_matches(domain: ir.StringValue, entries: list[str]) -> ir.BooleanValue:
    """``domain`` is one of ``entries``, or under one (``x.edu`` matches ``.edu`` and ``edu``)."""
    test = ibis.literal(False)
    for entry in entries:
        e = entry.strip().lower()
        if not e:
            continue
        if e.startswith("."):
            test = test | domain.endswith(e)
        else:
            test = test | (domain == e) | domain.endswith("." + e)
    return test


def _rows(table: ir.Table, cls: str, rule: str, detail: ir.StringValue, at: ir.Value) -> ir.Table:
    return table.select(
        contact_id=table.contact_id,
        audience_class=ibis.literal(cls),
        rule=ibis.literal(rule),
        detail=detail.cast("string"),
        seen_at=at.cast("timestamp('UTC')"),
    )


def classify(
    engine: Engine,
    settings: AudienceSettings,
    contacts: ir.Table,
    identities: ir.Table,
    contact_traits: ir.Table,
    accounts: ir.Table,
    events: ir.Table,
) -> Audience:
    """Audience class of every contact, with evidence. ``events`` are prepared scoring events."""
    pieces: list[ir.Table] = []
    email_seen = identities.filter(_.kind == "email").select(
        "contact_id", email=_.value, email_seen=_.first_seen
    )
    mail = (
        contacts.filter(_.email.notnull())
        .select("contact_id", "email", "first_seen")
        .left_join(email_seen, ["contact_id", "email"])
        .select(
            "contact_id",
            "email",
            domain=_.email.split("@")[1].lower(),
            seen=ibis.coalesce(_.email_seen, _.first_seen),
        )
    )
    acc = (
        contacts.filter(_.account_id.notnull())
        .join(accounts.filter(_.domain.notnull()), "account_id")
        .select("contact_id", "first_seen", acc_domain=_.domain.lower(), acc_name=_.name)
    )
    domain_classes = (
        ("employee", settings.own_domains, "own domain"),
        ("competitor", settings.competitor_domains, "competitor domain"),
        ("vendor", settings.vendor_domains, "vendor domain"),
        ("student", settings.academic_domains, "academic domain"),
    )
    for cls, entries, rule in domain_classes:
        if not entries:
            continue
        hit = mail.filter(_domain_matches(mail.domain, entries))
        pieces.append(_rows(hit, cls, f"email {rule}", "email " + hit.email, hit.seen))
        if cls in ("competitor", "vendor"):
            hit_acc = acc.filter(_domain_matches(acc.acc_domain, entries))
            pieces.append(
                _rows(
                    hit_acc,
                    cls,
                    f"account {rule}",
                    "account " + hit_acc.acc_name.fill_null(hit_acc.acc_domain),
                    hit_acc.first_seen,
                )
            )

    traits = contact_traits.select("contact_id", "trait", "value", "updated_at")
    if settings.competitor_names:
        names = [n.strip().lower() for n in settings.competitor_names if n.strip()]
        hit = traits.filter((_.trait == "company") & trim(_.value).lower().isin(names))
        pieces.append(
            _rows(hit, "competitor", "company name", "company " + hit.value, hit.updated_at)
        )
    pattern = "(?i)" + settings.student_pattern
    hit = traits.filter(
        _.trait.isin(["occupation", "title", "job_title"]) & _.value.re_search(pattern)
    )
    pieces.append(
        _rows(hit, "student", "occupation or title", hit.trait + " " + hit.value, hit.updated_at)
    )

    # Job seekers: applications, or a browsing pattern dominated by careers pages.
    if settings.job_events:
        apps = (
            events.filter((_.type == "track") & _.event.isin(settings.job_events))
            .group_by("contact_id")
            .aggregate(n=_.count(), first=_.timestamp.min())
        )
        pieces.append(
            _rows(
                apps,
                "job_seeker",
                "job application",
                apps.n.cast("string") + " job application(s)",
                apps.first,
            )
        )
    pages = events.filter(_.type == "page")
    careers = pages.group_by("contact_id").aggregate(
        views=_.count(),
        careers=(_.path.re_search(settings.careers_path).fill_null(False)).cast("int64").sum(),
        first=_.timestamp.min(),
    )
    careers = careers.filter(
        (_.careers >= settings.careers_min_pages)
        & (_.careers.cast("float64") >= _.views.cast("float64") * settings.careers_share)
    )
    pieces.append(
        _rows(
            careers,
            "job_seeker",
            "careers pages dominate",
            careers.careers.cast("string") + " of " + careers.views.cast("string") + " page views",
            careers.first,
        )
    )

    # Bots: user agents, bursts of views, link scanners.
    ua = (
        events.filter(_.user_agent.re_search("(?i)" + settings.bot_user_agent).fill_null(False))
        .group_by("contact_id")
        .aggregate(agent=_.user_agent.max(), n=_.count(), first=_.timestamp.min())
    )
    pieces.append(
        _rows(
            ua,
            "bot",
            "crawler user agent",
            ua.n.cast("string") + " events from " + ua.agent,
            ua.first,
        )
    )
    # A burst is a run of views each machine-fast after the one before: runs are numbered by
    # counting the slow gaps before each view, and a run of n views has n - 1 fast gaps.
    views = events.filter(_.type.isin(["page", "screen"]))
    by_time = ibis.window(group_by="contact_id", order_by=[views.secs, views.message_id])
    gaps = views.mutate(gap=views.secs - views.secs.lag().over(by_time))
    gaps = gaps.mutate(fast=(gaps.gap.notnull() & (gaps.gap < settings.burst_seconds)))
    upto = ibis.window(group_by="contact_id", order_by=[gaps.secs, gaps.message_id], rows=(None, 0))
    runs = gaps.mutate(run=(~gaps.fast).cast("int64").sum().over(upto))
    bursts = (
        runs.filter(_.fast)
        .group_by(["contact_id", "run"])
        .aggregate(n=_.count() + 1, first=_.timestamp.min())
        .filter(_.n >= settings.burst_events)
        .group_by("contact_id")
        .aggregate(n=_.n.max(), runs=_.count(), first=_.first.min())
    )
    pieces.append(
        _rows(
            bursts,
            "bot",
            "machine-fast page views",
            bursts.runs.cast("string")
            + " burst(s), the longest of "
            + bursts.n.cast("string")
            + f" views each within {settings.burst_seconds:g}s of the previous one",
            bursts.first,
        )
    )
    # Link scanners: the click ``click_links - 1`` places later on the same email came within
    # ``click_seconds`` of this one.
    clicked = events.filter(
        (_.type == "track") & (_.event == "Email Link Clicked") & _.email_id.notnull()
    )
    per_email = ibis.window(
        group_by=["contact_id", "email_id"], order_by=[clicked.secs, clicked.message_id]
    )
    ahead = clicked.mutate(later=clicked.secs.lead(settings.click_links - 1).over(per_email))
    clicks = (
        ahead.filter(_.later.notnull() & ((_.later - _.secs) <= settings.click_seconds))
        .group_by("contact_id")
        .aggregate(emails=_.email_id.nunique(), first=_.timestamp.min())
    )
    pieces.append(
        _rows(
            clicks,
            "bot",
            "links clicked at machine speed",
            f"{settings.click_links} links of one email clicked within "
            + f"{settings.click_seconds:g}s, in "
            + clicks.emails.cast("string")
            + " email(s)",
            clicks.first,
        )
    )

    evidence = engine.cache(union_all(pieces))

    priority = ibis.cases(
        *((evidence.audience_class == c, i) for i, c in enumerate(NON_BUYER_CLASSES)),
        else_=len(NON_BUYER_CLASSES),
    )
    per_class = (
        evidence.mutate(priority=priority)
        .group_by(["contact_id", "audience_class", "priority"])
        .aggregate(
            reasons=(_.rule + ": " + _.detail).collect(distinct=True),
        )
    )
    ranked = per_class.mutate(
        rank=ibis.row_number().over(group_by="contact_id", order_by=_.priority)
    ).filter(_.rank == 0)
    policy = ibis.cases(
        *((ranked.audience_class == c, settings.policy_of(c)) for c in NON_BUYER_CLASSES),
        else_="exclude",
    )
    route = ibis.cases(
        *((ranked.audience_class == c, settings.routes.get(c, "")) for c in NON_BUYER_CLASSES),
        else_="",
    )
    chosen = ranked.select(
        "contact_id",
        "audience_class",
        policy=policy,
        route=route,
        evidence=_.reasons.sort().join("; "),
    )
    classes = (
        contacts.select("contact_id")
        .left_join(chosen, "contact_id")
        .select(
            "contact_id",
            audience_class=_.audience_class.fill_null("buyer"),
            policy=_.policy.fill_null("score"),
            route=_.route.fill_null(""),
            evidence=_.evidence.fill_null(""),
        )
    )
    return Audience(classes=engine.cache(classes), evidence=evidence)
