"""The contact policy: consent, do-not-contact, non-buyer classes, quiet hours and frequency
caps, enforced before anything leaves.

:func:`consent` reads the consent in force per contact and channel (latest wins, traits and
events alike); :func:`apply` gives every proposed action ``planned`` or ``suppressed`` with
ONE reason, the first that holds in this order (see ``docs/policy.md``):

1. ``do-not-contact`` — on a do-not-contact list (any purpose);
2. ``no consent`` — the channel's consent is withdrawn (or was never granted where
   ``require_opt_in`` asks for it), unless the purpose is in ``consent_exempt``;
3. ``non-buyer class`` — a class outside ``buyer_classes`` never gets ``buyer_only`` purposes;
4. ``quiet hours`` — local time of the contact (else of ``[report] timezone``) in the window;
5. ``capped`` — a frequency cap already reached by what really went out.

Lasting reasons come first: a suppression says whether waiting would ever help.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis import _

from clientela.activation.settings import FrequencyCap, PolicySettings
from clientela.activation.tables import ACTIONS_SCHEMA, CONSENT_SCHEMA
from clientela.config import Settings
from clientela.engine import Engine
from clientela.engine.portable import trim, union_all
from clientela.errors import ClientelaError
from clientela.scoring.events import property_column
from clientela.workspace import Workspace

TRUE_WORDS = ("true", "yes", "y", "1", "on")
FALSE_WORDS = ("false", "no", "n", "0", "off")
"""How a consent trait or a ``granted`` property says yes or no (case-insensitive); any
other value records nothing."""

SECONDS_PER_DAY = 86_400


# --- consent -----------------------------------------------------------------------------


def _truth(value: ir.Value) -> ir.BooleanValue:
    """True, false or null (neither) for a trait or property value."""
    word = trim(value.cast("string")).lower()
    return ibis.cases(
        (word.isin(TRUE_WORDS), ibis.literal(True)),
        (word.isin(FALSE_WORDS), ibis.literal(False)),
        else_=ibis.null("boolean"),
    )


def _trait_records(
    engine: Engine, options: PolicySettings, contact_traits: ir.Table
) -> ir.Table | None:
    if not options.consent_traits:
        return None
    meaning = engine.cache(
        ibis.memtable(
            {
                "c_trait": list(options.consent_traits),
                "c_channel": [t.channel.strip().lower() for t in options.consent_traits.values()],
                "c_when_true": [t.when_true for t in options.consent_traits.values()],
            }
        )
    )
    rows = contact_traits.filter(
        contact_traits.trait.isin(list(options.consent_traits)) & _.contact_id.notnull()
    )
    joined = rows.join(meaning, rows.trait == meaning.c_trait).mutate(truth=_truth(_.value))
    return joined.filter(_.truth.notnull()).select(
        "contact_id",
        channel=_.c_channel,
        granted=_.truth == _.c_when_true,
        at=_.updated_at.cast("timestamp('UTC')"),
        source="trait " + _.trait,
    )


def _event_records(options: PolicySettings, contact_events: ir.Table) -> ir.Table | None:
    named = [*options.opt_out_events, *options.opt_in_events, *options.consent_events]
    if not named:
        return None
    rows = contact_events.filter((_.type == "track") & _.event.isin(named) & _.contact_id.notnull())
    channel_col = property_column(options.channel_property)
    granted_col = property_column(options.granted_property)
    default = ibis.literal(options.default_channel.strip().lower())
    if channel_col in rows.columns:
        said = trim(rows[channel_col].cast("string")).lower()
        channel = ibis.ifelse(said.isnull() | (said == ""), default, said)
    else:
        channel = default
    told = _truth(rows[granted_col]) if granted_col in rows.columns else ibis.null("boolean")
    granted = ibis.cases(
        (rows.event.isin(options.opt_out_events), ibis.literal(False)),
        (rows.event.isin(options.opt_in_events), ibis.literal(True)),
        else_=told,
    )
    return (
        rows.mutate(channel=channel, granted=granted)
        .filter(_.granted.notnull())
        .select(
            "contact_id",
            "channel",
            "granted",
            at=_.timestamp.cast("timestamp('UTC')"),
            source="event " + _.event,
        )
    )


def consent(
    engine: Engine,
    settings: Settings,
    contact_events: ir.Table,
    contact_traits: ir.Table,
    moment: datetime,
) -> ir.Table:
    """:data:`~clientela.activation.tables.CONSENT_SCHEMA`: the consent in force per contact
    and channel as of ``moment`` — the latest record of the consent traits
    (``contact_traits.updated_at``) and consent events (their time), a withdrawal winning
    a tie. A row on channel ``all`` speaks for every channel; :func:`apply` weighs it
    against the channel's own row, latest wins."""
    options = settings.policy
    found = [
        t
        for t in (
            _trait_records(engine, options, contact_traits),
            _event_records(options, contact_events),
        )
        if t is not None
    ]
    if not found:
        return ibis.memtable(CONSENT_SCHEMA.empty_table())
    records = union_all(found).filter(_.at <= ibis.literal(moment.astimezone(UTC)))
    ranked = records.mutate(
        n=ibis.row_number().over(
            group_by=["contact_id", "channel"],
            order_by=[_.at.desc(), _.granted.asc(), _.source],
        )
    )
    latest = ranked.filter(_.n == 0)
    return latest.select(
        **{f.name: latest[f.name].cast(ibis.dtype(f.type)) for f in CONSENT_SCHEMA}
    )


# --- do-not-contact list (kept in the workspace) -----------------------------------------

DNC_FILE = "do_not_contact.json"


@dataclass(frozen=True)
class DoNotContact:
    """One entry of the workspace's do-not-contact list."""

    entry: str
    """An email, a user id or a contact id."""
    added_at: str
    note: str = ""


def _normal(entry: str) -> str:
    """Emails match case-insensitively; ids exactly (only surrounding blanks go)."""
    entry = entry.strip()
    return entry.lower() if "@" in entry else entry


def do_not_contact(workspace: Workspace) -> list[DoNotContact]:
    """The workspace's do-not-contact list (``state/do_not_contact.json``), oldest first."""
    path = workspace.state_dir / DNC_FILE
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [DoNotContact(**row) for row in rows]
    except (ValueError, TypeError) as error:
        raise ClientelaError(
            f"{path}: not a do-not-contact list (a JSON list of entries): {error}"
        ) from None


def _save(workspace: Workspace, entries: list[DoNotContact]) -> None:
    text = json.dumps([e.__dict__ for e in entries], indent=1, ensure_ascii=False)
    with workspace.atomic_file(workspace.state_dir / DNC_FILE) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def add_do_not_contact(workspace: Workspace, entry: str, note: str = "") -> bool:
    """Put an email, user id or contact id on the workspace list; False if it was there.
    It takes effect at the next run."""
    key = _normal(entry)
    if not key:
        raise ClientelaError("a do-not-contact entry must be an email, a user id or a contact id")
    entries = do_not_contact(workspace)
    if any(e.entry == key for e in entries):
        return False
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    _save(workspace, [*entries, DoNotContact(entry=key, added_at=stamp, note=note)])
    return True


def remove_do_not_contact(workspace: Workspace, entry: str) -> bool:
    """Take an entry off the workspace list; False if it was not on it."""
    key = _normal(entry)
    entries = do_not_contact(workspace)
    kept = [e for e in entries if e.entry != key]
    if len(kept) == len(entries):
        return False
    _save(workspace, kept)
    return True


def _blocked(entries: Sequence[str], facts: ir.Table, contact_events: ir.Table) -> ir.Table | None:
    """contact_id, dnc_entry: contacts a do-not-contact entry names — by contact id or email
    (facts), or by any user id or email their events carry."""
    keys = sorted({_normal(e) for e in entries if e.strip()})
    if not keys:
        return None
    by_fact = facts.select(
        "contact_id",
        entry=ibis.ifelse(facts.contact_id.isin(keys), facts.contact_id, facts.email.lower()),
    )
    by_event = contact_events.filter(_.contact_id.notnull()).select(
        "contact_id",
        entry=ibis.ifelse(_.user_id.isin(keys), _.user_id, _.email.lower()),
    )
    hits = union_all([by_fact, by_event]).filter(_.entry.isin(keys))
    return hits.group_by("contact_id").aggregate(dnc_entry=_.entry.min())


# --- quiet hours (local time per zone, worked out in the driver) -------------------------

_CLOCK_SCHEMA = pa.schema(
    [("q_zone", pa.string()), ("q_quiet", pa.bool_()), ("q_local", pa.string())]
)


def local_clock(
    options: PolicySettings, zones: Sequence[str], fallback: str, moment: datetime
) -> ir.Table:
    """zone, quiet, local: for each zone name (a contact's ``timezone`` trait), whether
    ``moment`` falls in the quiet hours there and how it reads ("22:30 in Europe/Madrid").
    A name that is no IANA zone is read as ``fallback`` (the report's zone) and says so.
    The zones are few: this runs in the driver instead of per-row time-zone SQL."""
    rows: dict[str, list[Any]] = {"q_zone": [], "q_quiet": [], "q_local": []}
    for name in sorted(set(zones) | {fallback}):
        try:
            zone, label = ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            zone, label = ZoneInfo(fallback), f"{fallback} ({name!r} is no time zone)"
        local = moment.astimezone(zone)
        rows["q_zone"].append(name)
        rows["q_quiet"].append(options.quiet_hours.is_quiet(local.hour * 60 + local.minute))
        rows["q_local"].append(f"{local:%H:%M} in {label}")
    return ibis.memtable(pa.table(rows, schema=_CLOCK_SCHEMA))


# --- frequency caps ------------------------------------------------------------------------


def _counted(
    options: PolicySettings, cap: FrequencyCap, purpose: ir.StringValue
) -> ir.BooleanValue:
    """Whether a message (or an action) of ``purpose`` falls under ``cap``."""
    applies = ~purpose.isin(options.cap_exempt) if options.cap_exempt else ibis.literal(True)
    if "all" not in cap.purposes:
        applies = applies & purpose.isin(cap.purposes)
    return applies


def outgoing(options: PolicySettings, sent: ir.Table, contact_events: ir.Table) -> ir.Table:
    """contact_id, purpose, secs: every message that went out — the delivery store's
    ``sent`` rows and the ``sent_events`` other tools reported (purpose from
    ``purpose_property``, else ``default_sent_purpose``)."""
    delivered = sent.select(
        "contact_id", "purpose", secs=_.sent_at.truncate("s").epoch_seconds().cast("int64")
    )
    if not options.sent_events:
        return delivered
    rows = contact_events.filter(
        (_.type == "track") & _.event.isin(list(options.sent_events)) & _.contact_id.notnull()
    )
    column = property_column(options.purpose_property)
    default = ibis.literal(options.default_sent_purpose)
    if column in rows.columns:
        said = trim(rows[column].cast("string")).lower()
        purpose = ibis.ifelse(said.isnull() | (said == ""), default, said)
    else:
        purpose = default
    reported = rows.select("contact_id", purpose=purpose, secs=_.secs.cast("int64"))
    return delivered.union(reported)


def _cap_label(cap: FrequencyCap) -> str:
    return "" if "all" in cap.purposes else "/".join(cap.purposes) + " "


def _counts(
    options: PolicySettings, proposed: ir.Table, sent_out: ir.Table, moment: datetime
) -> ir.Table | None:
    """action_id, cap_<i>: what each cap counts for the action's contact in its window
    before ``moment`` — one join and one group-by for every cap."""
    if not options.caps:
        return None
    now = int(moment.timestamp())
    widest = max(cap.days for cap in options.caps) * SECONDS_PER_DAY
    mine = proposed.select(k_action=_.action_id, k_contact=_.contact_id)
    near = sent_out.filter((_.secs >= now - widest) & (_.secs <= now))
    pairs = mine.join(near, mine.k_contact == near.contact_id)
    sums = {
        f"cap_{i}": ibis.ifelse(
            _counted(options, cap, pairs.purpose)
            & (pairs.secs >= now - cap.days * SECONDS_PER_DAY),
            1,
            0,
        ).sum()
        for i, cap in enumerate(options.caps)
    }
    return pairs.group_by(action_id=pairs.k_action).aggregate(**sums)


# --- the decision --------------------------------------------------------------------------


def apply(
    engine: Engine,
    settings: Settings,
    proposed: ir.Table,
    facts: ir.Table,
    consent: ir.Table,
    sent: ir.Table,
    contact_events: ir.Table,
    moment: datetime,
    do_not_contact: Sequence[str] = (),
) -> ir.Table:
    """:data:`~clientela.activation.tables.ACTIONS_SCHEMA`: every proposed action, planned or
    suppressed with its reason (the first that holds, in the order of this module's
    docstring). ``sent`` holds the messages that went out
    (:data:`~clientela.activation.tables.SENT_SCHEMA`); ``do_not_contact`` the workspace
    list's entries (``settings.policy.do_not_contact`` is added to it)."""
    options = settings.policy
    moment = moment.astimezone(UTC)
    fallback = settings.report.timezone

    people = facts.select(
        f_contact=_.contact_id, f_class=_.audience_class, f_zone=_.timezone, f_email=_.email
    )
    base = proposed.left_join(people, proposed.contact_id == people.f_contact)

    # Consent: the channel's own row and the ``all`` row; the later one wins.
    own = consent.select(
        o_contact=_.contact_id,
        o_channel=_.channel,
        o_granted=_.granted,
        o_at=_.at,
        o_source=_.source,
    )
    every = consent.filter(_.channel == "all").select(
        a_contact=_.contact_id, a_granted=_.granted, a_at=_.at, a_source=_.source
    )
    base = base.left_join(
        own, (base.contact_id == own.o_contact) & (base.channel.lower() == own.o_channel)
    )
    base = base.left_join(every, base.contact_id == every.a_contact)

    # Do-not-contact.
    blocked = _blocked([*options.do_not_contact, *do_not_contact], facts, contact_events)
    if blocked is not None:
        blocked = blocked.select(d_contact=_.contact_id, d_entry=_.dnc_entry)
        base = base.left_join(blocked, base.contact_id == blocked.d_contact)
    else:
        base = base.mutate(d_entry=ibis.null("string"))

    # Quiet hours: a small table of the local time in each zone the contacts live in.
    zone = ibis.coalesce(trim(base.f_zone.cast("string")).nullif(""), ibis.literal(fallback))
    base = base.mutate(q_key=zone)
    names = (
        engine.to_arrow(
            facts.select(z=trim(_.timezone.cast("string")))
            .filter(_.z.notnull() & (_.z != ""))
            .distinct()
        )
        .column("z")
        .to_pylist()
    )
    # A native table, not an Arrow scan: DuckDB cannot push a join's bloom filter into one.
    clock = engine.cache(local_clock(options, names, fallback, moment))
    base = base.left_join(clock, base.q_key == clock.q_zone)

    # Frequency caps.
    counts = _counts(options, proposed, outgoing(options, sent, contact_events), moment)
    if counts is not None:
        counts = counts.rename(c_action="action_id")
        base = base.left_join(counts, base.action_id == counts.c_action)
    return _decide(options, base, moment)


def _decide(options: PolicySettings, base: ir.Table, moment: datetime) -> ir.Table:
    """Status and the first reason that holds, as one ``cases``."""
    purpose = base.purpose
    channel = base.channel.lower()

    # Consent in force for the action's channel: the later of its own row and the ``all``
    # row (a tie: the withdrawal).
    take_all = base.a_at.notnull() & (
        base.o_at.isnull() | (base.a_at > base.o_at) | ((base.a_at == base.o_at) & ~base.a_granted)
    )
    granted = ibis.ifelse(take_all, base.a_granted, base.o_granted)
    at = ibis.ifelse(take_all, base.a_at, base.o_at)
    source = ibis.ifelse(take_all, base.a_source + ", every channel", base.o_source)
    required = "all" in options.require_opt_in
    needs_opt_in = (
        ibis.literal(True)
        if required
        else (
            channel.isin(options.require_opt_in) if options.require_opt_in else ibis.literal(False)
        )
    )
    consent_applies = (
        ~purpose.isin(options.consent_exempt) if options.consent_exempt else ibis.literal(True)
    )
    withdrawn = granted.notnull() & ~granted
    never = granted.isnull() & needs_opt_in
    consent_reason = ibis.ifelse(
        withdrawn,
        "no consent: "
        + channel
        + " unsubscribed on "
        + at.date().cast("string")
        + " ("
        + source
        + ")",
        "no consent: " + channel + " never granted (opt-in required)",
    )

    klass = ibis.coalesce(base.f_class, ibis.literal("unknown"))
    non_buyer = purpose.isin(options.buyer_only) & ~klass.isin(options.buyer_classes)
    quiet_applies = (
        ~purpose.isin(options.quiet_hours.exempt)
        if options.quiet_hours.exempt
        else ibis.literal(True)
    )
    start, end = options.quiet_hours.start, options.quiet_hours.end

    cases: list[tuple[ir.BooleanValue, ir.StringValue]] = [
        (base.d_entry.notnull(), "do-not-contact: " + base.d_entry),
        (consent_applies & (withdrawn | never), consent_reason),
        (non_buyer, "non-buyer class: " + klass + " never receives " + purpose),
        (
            quiet_applies & ibis.coalesce(base.q_quiet, False),
            "quiet hours: " + base.q_local + f" (quiet {start}-{end})",
        ),
    ]
    for i, cap in enumerate(options.caps):
        n = ibis.coalesce(base[f"cap_{i}"], 0)
        since = (moment - timedelta(days=cap.days)).date().isoformat()
        cases.append(
            (
                _counted(options, cap, purpose) & (n >= cap.limit),
                "capped: " + n.cast("string") + f" {_cap_label(cap)}messages since {since}",
            )
        )
    reason = ibis.cases(*cases, else_=ibis.null("string"))
    decided = base.mutate(
        suppressed_reason=reason,
        status=ibis.ifelse(reason.isnull(), "planned", "suppressed"),
    )
    return decided.select(
        **{f.name: decided[f.name].cast(ibis.dtype(f.type)) for f in ACTIONS_SCHEMA}
    )
