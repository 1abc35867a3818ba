"""Identity resolution: every id (userId, anonymousId, email) → exactly one contact.

Rules, in order:

1. Placeholder ids (``null``, ``undefined``, ``0``, ... plus ``identity.junk_ids``) are not ids.
2. userIds are joined into one person by ``alias`` calls whose ``previousId`` is a known userId,
   by ``identity.force_merge`` groups, by email — a CRM contact whose id the events never use
   joins the app user who first identified with its email (``identity.merge_crm_on_email``,
   on by default) — and, only when ``identity.merge_identified_on_email`` is true, by any two
   userIds sharing an email. Every such join is kept with its evidence (``merges``). The
   person's contact id is the userId that is not the ``previousId`` of any alias (the newest
   name), an app userId before a CRM-only id, the most recently seen first.
3. An anonymousId belongs to the person it was first seen with (any call carrying both ids,
   or an ``alias`` from it). Seen later with somebody else, it stays with the first: two
   identified people are never merged through a shared device. The refusal is recorded.
4. An email (lower-cased, trimmed) belongs to the person who first had it. Two app users
   with one email, or two CRM contacts with one email, are not merged (unless configured);
   the refusal is recorded.
5. An anonymousId never seen with a userId joins the person who owns its email (from its own
   identify traits); without such a person, anonymous ids sharing an email are one contact
   ``email:<address>``; with no email at all it is its own contact ``anon:<anonymousId>``.

Every step is an Ibis expression, so it runs on DuckDB and on Spark alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import Settings
from clientela.engine import Engine
from clientela.engine.portable import trim, union_all

# Longest chain of merges followed; real identity graphs are shallow (a few hops).
MAX_PROPAGATION_ROUNDS = 12


@dataclass(frozen=True)
class IdentityGraph:
    """The results of identity resolution, as Ibis tables."""

    identities: ir.Table
    """kind ('user_id' | 'anonymous_id' | 'email'), value, contact_id, first_seen, last_seen"""
    conflicts: ir.Table
    """kind, value, kept_contact, refused_contact, reason, seen_at: merges refused"""
    merges: ir.Table
    """contact_id, user_id, merged_with, reason ('alias' | 'force_merge' | 'email'), evidence,
    seen_at: every join of two userIds into one contact, with why"""


def clean_id(col: ir.StringValue, junk_ids: list[str]) -> ir.StringValue:
    """The trimmed id, or NULL when it is empty or a placeholder."""
    trimmed = trim(col)
    return ibis.ifelse(trimmed.lower().isin(junk_ids), ibis.null("string"), trimmed)


def clean_email(col: ir.StringValue) -> ir.StringValue:
    """The email as matched: trimmed and lower-cased, NULL when blank."""
    folded = trim(col).lower()
    return ibis.ifelse(folded == "", ibis.null("string"), folded)


def resolve(engine: Engine, settings: Settings) -> IdentityGraph:
    """Resolve every id in the landed events and CRM contacts into contacts."""
    junk = settings.identity.all_junk_ids()
    events = engine.landed("events")
    crm = engine.landed("contacts")

    ev = events.select(
        type=_.type,
        user_id=clean_id(_.user_id, junk),
        anonymous_id=clean_id(_.anonymous_id, junk),
        previous_id=clean_id(_.previous_id, junk),
        email=clean_email(_.email),
        ts=_.timestamp,
    )
    crm_ids = crm.select(
        user_id=clean_id(_.user_id, junk),
        email=clean_email(_.email),
        ts=_.created_at.fill_null(_.imported_at).cast(ev.ts.type()),
    )
    no_time = ibis.null().cast(ev.ts.type())

    # Every userId with when it was first and last seen.
    user_seen = engine.cache(_first_last_seen("user_id", ev, crm_ids))

    aliases = ev.filter((_.type == "alias") & _.user_id.notnull() & _.previous_id.notnull())
    # alias previousId → userId where previousId is itself a userId: one person, two names.
    known = user_seen.select(prev=_.user_id)
    user_alias = aliases.join(known, aliases.previous_id == known.prev).select(
        a=_.previous_id, b=_.user_id, ts=_.ts
    )
    # Every join of two userIds, with its evidence: (a, b, reason, evidence, seen_at).
    joins = [
        user_alias.filter(_.a != _.b)
        .group_by(["a", "b"])
        .aggregate(seen_at=_.ts.min())
        .select(
            "a",
            "b",
            reason=ibis.literal("alias"),
            evidence="alias call: previousId " + _.a + " is now userId " + _.b,
            seen_at=_.seen_at,
        )
    ]
    for group in settings.identity.force_merge:
        members = [m.strip() for m in group if m.strip()]
        for other in members[1:]:
            joins.append(
                ibis.memtable({"a": [other], "b": [members[0]]}).select(
                    "a",
                    "b",
                    reason=ibis.literal("force_merge"),
                    evidence=ibis.literal("identity.force_merge lists both ids"),
                    seen_at=no_time,
                )
            )

    # Email → the userIds that had it.
    user_emails = (
        ev.filter(_.user_id.notnull() & _.email.notnull())
        .select("user_id", "email", "ts")
        .union(
            crm_ids.filter(_.user_id.notnull() & _.email.notnull()).select("user_id", "email", "ts")
        )
        .group_by(["email", "user_id"])
        .aggregate(first_seen=_.ts.min())
    )
    user_emails = engine.cache(user_emails)
    # CRM-only ids: CRM contacts whose id no event uses (a CRM id the app also uses is the
    # app user itself).
    app_users = ev.filter(_.user_id.notnull()).select("user_id").distinct()
    crm_only = (
        crm_ids.filter(_.user_id.notnull())
        .select("user_id")
        .distinct()
        .anti_join(app_users, "user_id")
    )
    crm_only = engine.cache(crm_only)
    if settings.identity.merge_identified_on_email:
        first_owner = _first_per(user_emails, "email", "user_id")
        joins.append(
            user_emails.join(
                first_owner.select(email=_.email, owner=_.user_id, owned_at=_.first_seen), "email"
            )
            .filter(_.user_id != _.owner)
            .select(
                a=_.user_id,
                b=_.owner,
                reason=ibis.literal("email"),
                evidence="both identified with " + _.email,
                seen_at=ibis.greatest(_.first_seen, _.owned_at),
            )
        )
    elif settings.identity.merge_crm_on_email:
        # One person per email: the CRM contact that first had it joins the app user that
        # first had it. Two app users (or two CRM contacts) with one email stay apart.
        crm_emails = user_emails.semi_join(crm_only, "user_id")
        app_emails = user_emails.anti_join(crm_only, "user_id")
        crm_owner = _first_per(crm_emails, "email", "user_id")
        app_owner = _first_per(app_emails, "email", "user_id").select(
            email=_.email, owner=_.user_id, owned_at=_.first_seen
        )
        joins.append(
            crm_owner.join(app_owner, "email").select(
                a=_.user_id,
                b=_.owner,
                reason=ibis.literal("email"),
                evidence="CRM contact "
                + _.user_id
                + " and app user "
                + _.owner
                + " have "
                + _.email,
                seen_at=ibis.greatest(_.first_seen, _.owned_at),
            )
        )
    joined = engine.cache(union_all(joins))

    component = _components(engine, user_seen.select(node=_.user_id), joined.select("a", "b"))
    # The contact id of a person: a userId that was never renamed away, an app userId before
    # a CRM-only id (the CRM's import time is no sign of life), newest first.
    renamed = user_alias.select(node=_.a).distinct()
    ranked = (
        component.join(user_seen, component.node == user_seen.user_id)
        .left_join(renamed.mutate(was_renamed=ibis.literal(1)), "node")
        .left_join(crm_only.select(node=_.user_id, from_crm=ibis.literal(1)), "node")
        .select(
            "node",
            "label",
            "last_seen",
            was_renamed=_.was_renamed.fill_null(0),
            from_crm=_.from_crm.fill_null(0),
        )
    )
    head = ranked.mutate(
        rank=ibis.row_number().over(
            group_by="label", order_by=[_.was_renamed, _.from_crm, _.last_seen.desc(), _.node]
        )
    ).filter(_.rank == 0)
    person = engine.cache(
        component.join(head.select("label", contact_id=_.node), "label").select(
            user_id=_.node, contact_id=_.contact_id
        )
    )
    merges = joined.join(person, joined.a == person.user_id).select(
        contact_id=_.contact_id,
        user_id=_.a,
        merged_with=_.b,
        reason=_.reason,
        evidence=_.evidence,
        seen_at=_.seen_at,
    )

    # anonymousId → the person it was first seen with.
    anon_links = (
        ev.filter(_.user_id.notnull() & _.anonymous_id.notnull())
        .select(anonymous_id=_.anonymous_id, user_id=_.user_id, ts=_.ts)
        .union(aliases.select(anonymous_id=_.previous_id, user_id=_.user_id, ts=_.ts))
        .join(person, "user_id")
        .group_by(["anonymous_id", "contact_id"])
        .aggregate(first_seen=_.ts.min(), last_seen=_.ts.max())
    )
    anon_links = engine.cache(anon_links)
    anon_owner = _first_per(anon_links, "anonymous_id", "contact_id")
    anon_conflicts = anon_links.join(
        anon_owner.select(anonymous_id=_.anonymous_id, kept=_.contact_id), "anonymous_id"
    ).filter(_.contact_id != _.kept)

    # email → the person who first had it.
    email_people = (
        user_emails.join(person, "user_id")
        .group_by(["email", "contact_id"])
        .aggregate(first_seen=_.first_seen.min())
    )
    email_people = engine.cache(email_people)
    email_owner = _first_per(email_people, "email", "contact_id")
    email_conflicts = email_people.join(
        email_owner.select(email=_.email, kept=_.contact_id), "email"
    ).filter(_.contact_id != _.kept)

    # Anonymous ids never seen with a userId: their own email, if any, decides.
    alias_anon = aliases.anti_join(known, aliases.previous_id == known.prev).select(
        anonymous_id=_.previous_id, ts=_.ts
    )
    anon_seen = (
        ev.filter(_.anonymous_id.notnull())
        .select("anonymous_id", "ts")
        .union(alias_anon)
        .group_by("anonymous_id")
        .aggregate(first_seen=_.ts.min(), last_seen=_.ts.max())
    )
    anon_email = _first_per(
        ev.filter(_.anonymous_id.notnull() & _.user_id.isnull() & _.email.notnull())
        .group_by(["anonymous_id", "email"])
        .aggregate(first_seen=_.ts.min()),
        "anonymous_id",
        "email",
    ).select("anonymous_id", "email")
    anon_contact = (
        anon_seen.left_join(anon_owner.select("anonymous_id", owner=_.contact_id), "anonymous_id")
        .left_join(anon_email, "anonymous_id")
        .left_join(email_owner.select(email=_.email, email_contact=_.contact_id), "email")
        .select(
            kind=ibis.literal("anonymous_id"),
            value=_.anonymous_id,
            contact_id=ibis.coalesce(
                _.owner,
                _.email_contact,
                "email:" + _.email,
                "anon:" + _.anonymous_id,
            ),
            first_seen=_.first_seen,
            last_seen=_.last_seen,
        )
    )

    user_rows = user_seen.join(person, "user_id").select(
        kind=ibis.literal("user_id"),
        value=_.user_id,
        contact_id=_.contact_id,
        first_seen=_.first_seen,
        last_seen=_.last_seen,
    )
    all_emails = _first_last_seen("email", ev, crm_ids)
    email_rows = all_emails.left_join(
        email_owner.select(email=_.email, owner=_.contact_id), "email"
    ).select(
        kind=ibis.literal("email"),
        value=_.email,
        contact_id=ibis.coalesce(_.owner, "email:" + _.email),
        first_seen=_.first_seen,
        last_seen=_.last_seen,
    )
    identities = user_rows.union(anon_contact).union(email_rows)

    conflicts = anon_conflicts.select(
        kind=ibis.literal("anonymous_id"),
        value=_.anonymous_id,
        kept_contact=_.kept,
        refused_contact=_.contact_id,
        reason=ibis.literal(
            "this anonymousId was seen with two identified people; it stays with the first"
        ),
        seen_at=_.first_seen,
    ).union(
        email_conflicts.select(
            kind=ibis.literal("email"),
            value=_.email,
            kept_contact=_.kept,
            refused_contact=_.contact_id,
            reason=ibis.literal(
                "two identified people share this email; not merged "
                "(set identity.merge_identified_on_email = true to merge)"
            ),
            seen_at=_.first_seen,
        )
    )
    return IdentityGraph(identities=identities, conflicts=conflicts, merges=merges)


def _first_last_seen(column: str, *sources: ir.Table) -> ir.Table:
    """Every non-null value of ``column`` in the sources (each with a ``ts`` column), with
    when it was first and last seen."""
    rows = [s.filter(s[column].notnull()).select(column, "ts") for s in sources]
    return union_all(rows).group_by(column).aggregate(first_seen=_.ts.min(), last_seen=_.ts.max())


def _first_per(table: ir.Table, key: str, value: str) -> ir.Table:
    """For each ``key``, the row with the earliest ``first_seen`` (ties: smallest value)."""
    return (
        table.mutate(
            rank=ibis.row_number().over(group_by=key, order_by=[_.first_seen, table[value]])
        )
        .filter(_.rank == 0)
        .drop("rank")
    )


def _components(engine: Engine, nodes: ir.Table, edges: ir.Table) -> ir.Table:
    """Connected components by min-label propagation: (node, label) for every node."""
    both = edges.select("a", "b").union(edges.select(a=_.b, b=_.a))
    both = engine.cache(both)
    labels = engine.cache(nodes.distinct().mutate(label=_.node))
    if engine.to_arrow(both.count()).as_py() == 0:
        return labels
    for _round in range(MAX_PROPAGATION_ROUNDS):
        neighbour = (
            both.join(labels, both.b == labels.node)
            .group_by(node=both.a)
            .aggregate(best=_.label.min())
        )
        updated = engine.cache(
            labels.left_join(neighbour, "node").select(
                "node",
                label=ibis.ifelse(_.best.notnull() & (_.best < _.label), _.best, _.label),
            )
        )
        changed = updated.join(labels, "node").filter(_.label != _.label_right).count()
        labels = updated
        if engine.to_arrow(changed).as_py() == 0:
            break
    return labels


def contact_of_events(events: ir.Table, identities: ir.Table, junk_ids: list[str]) -> ir.Table:
    """Events with the ``contact_id`` they belong to: the userId's contact if the event has a
    userId, else the anonymousId's."""
    by_user = identities.filter(_.kind == "user_id").select(uid=_.value, user_contact=_.contact_id)
    by_anon = identities.filter(_.kind == "anonymous_id").select(
        aid=_.value, anon_contact=_.contact_id
    )
    ev = events.mutate(
        _uid=clean_id(events.user_id, junk_ids), _aid=clean_id(events.anonymous_id, junk_ids)
    )
    joined = ev.left_join(by_user, ev._uid == by_user.uid).left_join(
        by_anon, ev._aid == by_anon.aid
    )
    return joined.mutate(contact_id=ibis.coalesce(_.user_contact, _.anon_contact)).drop(
        "_uid", "_aid", "uid", "aid", "user_contact", "anon_contact"
    )
