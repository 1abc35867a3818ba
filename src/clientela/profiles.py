"""Contact and account profiles, built on the identity graph.

* ``contacts``: one row per contact with first/last seen, event count, main email and account.
* ``contact_traits``: one row per (contact, trait): the latest value wins, from identify calls
  and CRM rows alike (a CRM import counts as of its import time).
* ``accounts`` and ``account_traits``: the same for companies, from ``group`` calls and CRM
  account rows.
* ``memberships``: which contact belongs to which account, and why (a ``group`` call, the CRM
  row's account column, or the email's domain matching the account's web domain).

All of it is Ibis, so it runs on either engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from ibis import _

from clientela.config import Settings
from clientela.engine import Engine
from clientela.engine.portable import trim, union_all
from clientela.identity import IdentityGraph, clean_id, contact_of_events


@dataclass(frozen=True)
class Profiles:
    """Profile tables, as Ibis expressions."""

    contact_events: ir.Table
    contacts: ir.Table
    contact_traits: ir.Table
    accounts: ir.Table
    account_traits: ir.Table
    memberships: ir.Table


def build(engine: Engine, settings: Settings, graph: IdentityGraph, events: ir.Table) -> Profiles:
    """Build every profile table from the landed data and a resolved identity graph.

    ``events`` are the landed events narrowed to the columns the job reads
    (:func:`clientela.scoring.events.narrow`).
    """
    junk = settings.identity.all_junk_ids()
    identities = engine.cache(graph.identities)
    crm = engine.landed("contacts")
    crm_accounts = engine.landed("accounts")

    contact_events = engine.cache(contact_of_events(events, identities, junk))
    by_user = identities.filter(_.kind == "user_id").select(uid=_.value, contact_id=_.contact_id)
    by_email = identities.filter(_.kind == "email").select(mail=_.value, email_contact=_.contact_id)
    crm_rows = (
        crm.mutate(uid=clean_id(crm.user_id, junk))
        .left_join(by_user, "uid")
        .left_join(by_email, _.email == by_email.mail)
        .mutate(contact_id=ibis.coalesce(_.contact_id, _.email_contact))
    )
    crm_rows = engine.cache(crm_rows)

    # Traits: latest value per (contact, trait) from identify calls and CRM rows.
    identifies = contact_events.filter((_.type == "identify") & _.traits.notnull())
    contact_traits = _latest_traits(
        "contact_id",
        _trait_rows(engine, identifies, "contact_id", "contact_id", "timestamp", "event"),
        _trait_rows(engine, crm_rows, "contact_id", "contact_id", "imported_at", "crm"),
    )

    # Accounts: group calls and CRM rows.
    group_calls = contact_events.filter((_.type == "group") & _.group_id.notnull())
    account_traits = _latest_traits(
        "account_id",
        _trait_rows(engine, group_calls, "group_id", "account_id", "timestamp", "event"),
        _trait_rows(engine, crm_accounts, "account_id", "account_id", "imported_at", "crm"),
    )
    account_traits = engine.cache(account_traits)
    crm_account_latest = _latest_per(
        crm_accounts.select("account_id", "name", "domain", updated_at=_.imported_at),
        ["account_id"],
    )
    account_ids = (
        group_calls.select(account_id=_.group_id)
        .union(crm_accounts.select("account_id"))
        .distinct()
    )
    trait_name = account_traits.filter(_.trait == "name").select(
        account_id=_.account_id, trait_name=_.value
    )
    trait_domain = account_traits.filter(_.trait.isin(["domain", "website"])).select(
        account_id=_.account_id, trait_domain=_.value, updated_at=_.updated_at
    )
    trait_domain = _latest_per(trait_domain, ["account_id"]).drop("updated_at")
    accounts_base = (
        account_ids.left_join(crm_account_latest, "account_id")
        .left_join(trait_name, "account_id")
        .left_join(trait_domain, "account_id")
        .select(
            account_id=_.account_id,
            name=ibis.coalesce(_.name, _.trait_name),
            domain=ibis.coalesce(_.domain, _bare_domain(_.trait_domain)),
        )
    )
    accounts_base = engine.cache(accounts_base)

    # Memberships, with the evidence for each.
    from_group = group_calls.filter(_.contact_id.notnull()).select(
        contact_id=_.contact_id,
        account_id=_.group_id,
        reason=ibis.literal("group call"),
        since=_.timestamp,
    )
    from_crm = crm_rows.filter(_.contact_id.notnull() & _.account_id.notnull()).select(
        contact_id=_.contact_id,
        account_id=_.account_id,
        reason=ibis.literal("crm account column"),
        since=_.imported_at,
    )
    emails = identities.filter(_.kind == "email")
    with_domain = accounts_base.filter(_.domain.notnull())
    email_domain = emails.mutate(domain=_.value.split("@")[1])
    from_domain = email_domain.join(with_domain, email_domain.domain == with_domain.domain).select(
        contact_id=email_domain.contact_id,
        account_id=with_domain.account_id,
        reason=ibis.literal("email domain"),
        since=email_domain.first_seen,
    )
    memberships = (
        from_group.union(from_crm)
        .union(from_domain)
        .group_by(["contact_id", "account_id"])
        .aggregate(
            since=_.since.min(),
            last_evidence=_.since.max(),
            reasons=_.reason.collect(distinct=True),
        )
    )
    memberships = engine.cache(memberships)
    # A contact's account: the one with the latest evidence.
    main_account = _latest_per(
        memberships.select("contact_id", "account_id", updated_at=_.last_evidence),
        ["contact_id"],
    ).select("contact_id", "account_id")

    activity = (
        contact_events.filter(_.contact_id.notnull())
        .group_by("contact_id")
        .aggregate(
            first_seen=_.timestamp.min(),
            last_seen=_.timestamp.max(),
            events=_.count(),
        )
    )
    crm_seen = (
        crm_rows.filter(_.contact_id.notnull())
        .group_by("contact_id")
        .aggregate(crm_created=_.created_at.min(), in_crm=_.count())
    )
    latest_email = _latest_per(
        emails.select("contact_id", email=_.value, updated_at=_.last_seen), ["contact_id"]
    ).drop("updated_at")
    user_ids = (
        identities.filter(_.kind == "user_id")
        .group_by("contact_id")
        .aggregate(user_ids=_.value.count())
    )
    anon_ids = (
        identities.filter(_.kind == "anonymous_id")
        .group_by("contact_id")
        .aggregate(anonymous_ids=_.value.count())
    )
    contact_ids = identities.select("contact_id").distinct()
    contacts = (
        contact_ids.left_join(activity, "contact_id")
        .left_join(crm_seen, "contact_id")
        .left_join(latest_email, "contact_id")
        .left_join(main_account, "contact_id")
        .left_join(user_ids, "contact_id")
        .left_join(anon_ids, "contact_id")
        .select(
            contact_id=_.contact_id,
            email=_.email,
            account_id=_.account_id,
            first_seen=ibis.least(_.first_seen, _.crm_created).fill_null(_.first_seen),
            last_seen=_.last_seen,
            events=_.events.fill_null(0),
            identified=_.user_ids.fill_null(0) > 0,
            in_crm=_.in_crm.fill_null(0) > 0,
            user_ids=_.user_ids.fill_null(0),
            anonymous_ids=_.anonymous_ids.fill_null(0),
        )
    )
    members = memberships.group_by("account_id").aggregate(members=_.contact_id.nunique())
    accounts = accounts_base.left_join(members, "account_id").select(
        "account_id", "name", "domain", members=_.members.fill_null(0)
    )
    return Profiles(
        contact_events=contact_events,
        contacts=contacts,
        contact_traits=contact_traits,
        accounts=accounts,
        account_traits=account_traits,
        memberships=memberships.mutate(reasons=_.reasons.sort().join(", ")),
    )


def _trait_rows(
    engine: Engine, table: ir.Table, key: str, key_as: str, time: str, source: str
) -> ir.Table:
    """One row per trait of each row's ``traits`` JSON: key, trait, value, updated_at, source."""
    entries = engine.json_entries(table.select(key, time, "traits"), "traits", [key, time])
    return entries.select(
        **{key_as: entries[key]},
        trait=entries.key,
        value=entries.value,
        updated_at=entries[time],
        source=ibis.literal(source),
    )


def _latest_traits(key: str, *sources: ir.Table) -> ir.Table:
    """The latest value of each trait per ``key``; blank values never overwrite a known one."""
    rows = union_all(sources)
    return _latest_per(rows.filter(_.value.notnull() & (trim(_.value) != "")), [key, "trait"])


def _latest_per(table: ir.Table, keys: list[str]) -> ir.Table:
    """The row with the latest ``updated_at`` for each key (ties broken by every column)."""
    order = [_.updated_at.desc(), *[table[c] for c in table.columns if c not in keys]]
    return (
        table.mutate(rank=ibis.row_number().over(group_by=keys, order_by=order))
        .filter(_.rank == 0)
        .drop("rank")
    )


def _bare_domain(value: ir.StringValue) -> ir.StringValue:
    """'https://www.Acme.io/x' → 'acme.io'."""
    lowered = trim(value.lower())
    no_scheme = lowered.re_replace(r"^[a-z]+://", "").re_replace(r"^www\.", "")
    return no_scheme.re_replace(r"[/:?#].*$", "")
