"""The contact policy: consent latest-wins, and every suppression reason with its precedence.

One world is built and computed once for the module; proposed actions are written by hand
(PROPOSED_SCHEMA rows) and decided by ``policy.apply`` at chosen as-of times.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest

from clientela import pipeline
from clientela.activation import job as activation_job
from clientela.activation import policy, segments
from clientela.activation.settings import FrequencyCap, PolicySettings
from clientela.activation.tables import PROPOSED_SCHEMA, SENT_SCHEMA
from clientela.config import Settings, parse_settings
from clientela.engine import Engine, connect
from conftest import make_workspace
from helpers import land
from journeys import Journeys

MOMENT = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
"""As of Wednesday 1 July 2026, 10:00 UTC: 12:00 in Madrid (CEST), 06:00 in New York (EDT)."""

SETTINGS = """
[audience]
competitor_domains = ["rival.example"]

[policy]
do_not_contact = ["dee@mail.example"]
"""


def on(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _world() -> Journeys:
    """Who is who (every time UTC, as of 1 July 2026 10:00):

    ann  Madrid. Trait email_opt_in=false (1 Jun), then Resubscribed (10 Jun): granted.
    bob  Trait email_opt_in=true (1 May), then Unsubscribed (20 Jun): withdrawn on email.
    cy   Trait marketing_opt_out=true (15 Jun, channel all), then Consent Updated
         channel=email granted=true (25 Jun): email granted, sms withdrawn (the all row).
    dee  On the settings' do-not-contact list (by email); also Unsubscribed (2 Jun).
    eve  A competitor (rival.example); New York.
    fay  New York (06:00 local: quiet).
    gus  Email Sent 20 Jun (outside 7 days), 28 Jun (no purpose: marketing) and 29 Jun
         (transactional: exempt); the delivery store sent him one marketing message 26 Jun.
    hal  One Email Sent (27 Jun): under the cap.
    ivy  A competitor who also unsubscribed (5 Jun), in New York, with two Email Sent.
    """
    j = Journeys()

    def who(user: str, email: str, at: str, **traits: Any) -> None:
        j.identify(user_id=user, traits={"email": email, **traits}, at=on(at))

    who("ann", "ann@mail.example", "2026-06-01 09:00", email_opt_in=False, timezone="Europe/Madrid")
    j.track("Resubscribed", user_id="ann", at=on("2026-06-10 09:00"))
    who("bob", "bob@mail.example", "2026-05-01 09:00", email_opt_in=True)
    j.track("Unsubscribed", user_id="bob", at=on("2026-06-20 09:00"))
    who("cy", "cy@mail.example", "2026-06-15 09:00", marketing_opt_out="true")
    j.track(
        "Consent Updated",
        user_id="cy",
        properties={"channel": "Email", "granted": True},
        at=on("2026-06-25 09:00"),
    )
    who("dee", "Dee@Mail.example", "2026-06-01 09:00")
    j.track("Unsubscribed", user_id="dee", at=on("2026-06-02 09:00"))
    who("eve", "eve@rival.example", "2026-06-01 09:00", timezone="America/New_York")
    who("fay", "fay@mail.example", "2026-06-01 09:00", timezone="America/New_York")
    who("gus", "gus@mail.example", "2026-06-01 09:00")
    j.track("Email Sent", user_id="gus", at=on("2026-06-20 09:00"))
    j.track("Email Sent", user_id="gus", at=on("2026-06-28 09:00"))
    j.track(
        "Email Sent",
        user_id="gus",
        properties={"purpose": "transactional"},
        at=on("2026-06-29 09:00"),
    )
    who("hal", "hal@mail.example", "2026-06-01 09:00")
    j.track("Email Sent", user_id="hal", at=on("2026-06-27 09:00"))
    who("ivy", "ivy@rival.example", "2026-06-01 09:00", timezone="America/New_York")
    j.track("Unsubscribed", user_id="ivy", at=on("2026-06-05 09:00"))
    j.track("Email Sent", user_id="ivy", at=on("2026-06-28 09:00"))
    j.track("Email Sent", user_id="ivy", at=on("2026-06-29 09:00"))
    return j


SENT = pa.Table.from_pylist(
    [
        {
            "contact_id": "gus",
            "channel": "email",
            "purpose": "marketing",
            "action": "win_back",
            "sent_at": on("2026-06-26 09:00"),
        },
        # Before the 7-day window (it opens 24 Jun 10:00): not counted.
        {
            "contact_id": "hal",
            "channel": "sms",
            "purpose": "marketing",
            "action": "win_back",
            "sent_at": on("2026-06-24 09:59"),
        },
    ],
    schema=SENT_SCHEMA,
)


@dataclass
class World:
    engine: Engine
    settings: Settings
    facts: Any
    consent: Any
    contact_events: Any

    def decide(
        self,
        actions: list[tuple[str, str, str, str]],
        moment: datetime = MOMENT,
        settings: Settings | None = None,
        dnc: tuple[str, ...] = (),
    ) -> dict[str, dict[str, Any]]:
        """(contact, action, channel, purpose) rows → {action_id: decided row}."""
        proposed = ibis.memtable(
            pa.Table.from_pylist(
                [
                    {
                        "action_id": f"{c}-{a}",
                        "contact_id": c,
                        "action": a,
                        "channel": ch,
                        "purpose": p,
                        "priority": 1,
                        "reason": "test",
                        "products": None,
                        "as_of": moment,
                    }
                    for c, a, ch, p in actions
                ],
                schema=PROPOSED_SCHEMA,
            )
        )
        decided = policy.apply(
            self.engine,
            settings or self.settings,
            proposed,
            self.facts,
            self.consent,
            ibis.memtable(SENT),
            self.contact_events,
            moment,
            dnc,
        )
        rows = self.engine.to_arrow(decided).to_pylist()
        return {r["action_id"]: r for r in rows}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The world computed once; the activation inputs captured from the job."""
    ws = make_workspace(tmp_path_factory.mktemp("policy") / "ws", SETTINGS)
    land(ws, _world())
    seen: dict[str, Any] = {}
    real = activation_job.build

    def capture(engine: Engine, workspace: Any, inputs: Any, moment: datetime) -> Any:
        seen["inputs"] = inputs
        return real(engine, workspace, inputs, moment)

    engine = connect(ws, "duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(activation_job, "build", capture)
        tables = pipeline.compute(engine, ws, MOMENT)
    inputs = seen["inputs"]
    empty_loyalty = tables["loyalty"]
    facts = segments.contact_facts(engine, ws.settings, inputs, empty_loyalty, MOMENT)
    consent = engine.cache(
        policy.consent(engine, ws.settings, inputs.contact_events, inputs.contact_traits, MOMENT)
    )
    try:
        yield World(engine, ws.settings, facts, consent, inputs.contact_events)
    finally:
        engine.close()


def _settings(world: World, **policy_fields: Any) -> Settings:
    """The world's settings with ``[policy]`` fields changed."""
    changed = world.settings.policy.model_copy(update=policy_fields)
    return world.settings.model_copy(update={"policy": changed})


# --- consent -------------------------------------------------------------------------------


def test_consent_latest_wins_across_traits_and_events(world: World) -> None:
    """Each contact's consent row is the latest record, trait or event, with its source."""
    rows = world.engine.to_arrow(world.consent).to_pylist()
    got = {(r["contact_id"], r["channel"]): (r["granted"], r["at"], r["source"]) for r in rows}
    # ann: trait email_opt_in=false 1 Jun < Resubscribed 10 Jun → granted by the event.
    assert got[("ann", "email")] == (True, on("2026-06-10 09:00"), "event Resubscribed")
    # bob: trait email_opt_in=true 1 May < Unsubscribed 20 Jun → withdrawn.
    assert got[("bob", "email")] == (False, on("2026-06-20 09:00"), "event Unsubscribed")
    # cy: marketing_opt_out=true is an "all" row; Consent Updated says Email (lower-cased).
    assert got[("cy", "all")] == (False, on("2026-06-15 09:00"), "trait marketing_opt_out")
    assert got[("cy", "email")] == (True, on("2026-06-25 09:00"), "event Consent Updated")
    # Contacts with no record have no row (eve, fay, gus, hal).
    assert not {c for c, _ in got} & {"eve", "fay", "gus", "hal"}


def test_consent_withdrawal_wins_a_tie(world: World) -> None:
    """A grant and a withdrawal at the same second: the withdrawal is in force."""
    traits = ibis.memtable(
        {
            "contact_id": ["x", "x"],
            "trait": ["email_opt_in", "unsubscribed"],
            "value": ["true", "true"],  # opt-in says granted, unsubscribed says withdrawn
            "updated_at": [on("2026-06-01 09:00")] * 2,
        }
    )
    events = world.contact_events.limit(0)
    rows = world.engine.to_arrow(
        policy.consent(world.engine, world.settings, events, traits, MOMENT)
    ).to_pylist()
    assert [(r["channel"], r["granted"], r["source"]) for r in rows] == [
        ("email", False, "trait unsubscribed")
    ]


# --- one test per suppression reason ----------------------------------------------------


def test_do_not_contact_by_email_user_id_or_contact_id(world: World) -> None:
    """The settings' list matches an email case-insensitively; the workspace's, a user id;
    and it stops even a transactional message."""
    got = world.decide(
        [
            ("dee", "receipt", "email", "transactional"),
            ("hal", "win_back", "email", "marketing"),
            ("ann", "thanks", "email", "courtesy"),
        ],
        dnc=("hal",),
    )
    assert got["dee-receipt"]["suppressed_reason"] == "do-not-contact: dee@mail.example"
    assert got["hal-win_back"]["suppressed_reason"] == "do-not-contact: hal"
    assert got["ann-thanks"]["status"] == "planned"


def test_no_consent_names_channel_date_and_source(world: World) -> None:
    """A withdrawn channel stops marketing and sales but not service; the all row counts."""
    got = world.decide(
        [
            ("bob", "win_back", "email", "marketing"),
            ("cy", "promo", "sms", "marketing"),
            ("cy", "newsletter", "email", "marketing"),
            ("bob", "ticket", "email", "service"),
            ("ann", "promo", "email", "marketing"),
        ]
    )
    assert got["bob-win_back"]["suppressed_reason"] == (
        "no consent: email unsubscribed on 2026-06-20 (event Unsubscribed)"
    )
    # cy's sms: only the "all" row (15 Jun) speaks for it.
    assert got["cy-promo"]["suppressed_reason"] == (
        "no consent: sms unsubscribed on 2026-06-15 (trait marketing_opt_out, every channel)"
    )
    # cy's email: granted 25 Jun, later than the all row of 15 Jun.
    assert got["cy-newsletter"]["status"] == "planned"
    assert got["bob-ticket"]["status"] == "planned"  # service is consent-exempt
    assert got["ann-promo"]["status"] == "planned"  # resubscribed


def test_require_opt_in_makes_silence_a_no(world: World) -> None:
    """With require_opt_in = ["email"], no record means no consent; a grant still counts."""
    strict = _settings(world, require_opt_in=["email"])
    got = world.decide(
        [("hal", "promo", "email", "marketing"), ("ann", "promo", "email", "marketing")],
        settings=strict,
    )
    assert got["hal-promo"]["suppressed_reason"] == (
        "no consent: email never granted (opt-in required)"
    )
    assert got["ann-promo"]["status"] == "planned"


def test_non_buyer_gets_no_marketing_or_sales_but_courtesy(world: World) -> None:
    """A competitor's marketing and sales actions are suppressed; a courtesy note goes."""
    got = world.decide(
        [
            ("eve", "call", "phone", "sales"),
            ("eve", "promo", "email", "marketing"),
        ],
        moment=on("2026-07-01 15:00"),  # 11:00 in New York: not quiet
    )
    assert (
        got["eve-call"]["suppressed_reason"] == "non-buyer class: competitor never receives sales"
    )
    assert got["eve-promo"]["suppressed_reason"] == (
        "non-buyer class: competitor never receives marketing"
    )
    courtesy = world.decide(
        [("eve", "careers", "email", "courtesy")], moment=on("2026-07-01 15:00")
    )
    assert courtesy["eve-careers"]["status"] == "planned"


def test_quiet_hours_in_the_contacts_zone_else_the_reports(world: World) -> None:
    """10:00 UTC is 06:00 in New York (quiet until 08:00), 12:00 in Madrid and 10:00 UTC
    for a contact with no zone; a transactional message goes at any hour."""
    got = world.decide(
        [
            ("fay", "promo", "email", "marketing"),
            ("fay", "receipt", "email", "transactional"),
            ("ann", "promo", "email", "marketing"),
            ("hal", "promo", "email", "marketing"),
        ]
    )
    assert got["fay-promo"]["suppressed_reason"] == (
        "quiet hours: 06:00 in America/New_York (quiet 21:00-08:00)"
    )
    assert got["fay-receipt"]["status"] == "planned"
    assert got["ann-promo"]["status"] == "planned"
    assert got["hal-promo"]["status"] == "planned"
    # With [report] timezone = Asia/Tokyo (UTC+9, no DST), hal (no zone of his own) at
    # 13:00 UTC is at 22:00 there: quiet.
    tokyo = world.settings.model_copy(
        update={"report": world.settings.report.model_copy(update={"timezone": "Asia/Tokyo"})}
    )
    late = world.decide(
        [("hal", "promo", "email", "marketing")], moment=on("2026-07-01 13:00"), settings=tokyo
    )
    assert late["hal-promo"]["suppressed_reason"] == (
        "quiet hours: 22:00 in Asia/Tokyo (quiet 21:00-08:00)"
    )


def test_quiet_hours_follow_a_dst_change(world: World) -> None:
    """Madrid moves from CET (UTC+1) to CEST (UTC+2) on 29 March 2026 at 01:00 UTC: 06:30 UTC
    is 07:30 (quiet) on the 28th and 08:30 (not quiet) on the 29th."""
    before = world.decide([("ann", "promo", "email", "marketing")], moment=on("2026-03-28 06:30"))
    after = world.decide([("ann", "promo", "email", "marketing")], moment=on("2026-03-29 06:30"))
    assert before["ann-promo"]["suppressed_reason"] == (
        "quiet hours: 07:30 in Europe/Madrid (quiet 21:00-08:00)"
    )
    assert after["ann-promo"]["status"] == "planned"


def test_cap_counts_delivered_and_reported_sends_and_exempts_transactional(world: World) -> None:
    """gus: the store's 26 Jun send + Email Sent 28 Jun = 2 marketing in the 7 days since
    24 Jun 10:00 (20 Jun is older; 29 Jun is transactional): capped at 2. hal: Email Sent
    27 Jun = 1 (the store's sms of 24 Jun 09:59 is a minute too old): planned."""
    got = world.decide(
        [
            ("gus", "promo", "email", "marketing"),
            ("hal", "promo", "sms", "marketing"),
        ]
    )
    assert got["gus-promo"]["suppressed_reason"] == "capped: 2 marketing messages since 2026-06-24"
    assert got["hal-promo"]["status"] == "planned"
    receipt = world.decide([("gus", "receipt", "email", "transactional")])
    assert receipt["gus-receipt"]["status"] == "planned"


def test_a_cap_over_every_purpose_but_the_exempt(world: World) -> None:
    """A cap of 3 over "all" purposes still leaves transactional sends out: gus has 2
    (26 Jun, 28 Jun; the transactional 29 Jun is exempt) → planned; at limit 2 → capped."""
    loose = _settings(world, caps=[FrequencyCap(limit=3, days=7, purposes=["all"])])
    assert (
        world.decide([("gus", "p", "email", "sales")], settings=loose)["gus-p"]["status"]
        == "planned"
    )
    tight = _settings(world, caps=[FrequencyCap(limit=2, days=7, purposes=["all"])])
    assert (
        world.decide([("gus", "p", "email", "sales")], settings=tight)["gus-p"]["suppressed_reason"]
        == "capped: 2 messages since 2026-06-24"
    )


# --- precedence --------------------------------------------------------------------------


def test_precedence_when_several_reasons_hold(world: World) -> None:
    """do-not-contact > no consent > non-buyer class > quiet hours > capped."""
    got = world.decide(
        [
            # dee: on the list and unsubscribed → do-not-contact.
            ("dee", "promo", "email", "marketing"),
            # ivy: competitor, unsubscribed, quiet in New York, 2 sends → no consent.
            ("ivy", "promo", "email", "marketing"),
            # eve: competitor and quiet in New York → non-buyer class.
            ("eve", "promo", "email", "marketing"),
        ]
    )
    assert got["dee-promo"]["suppressed_reason"] == "do-not-contact: dee@mail.example"
    assert got["ivy-promo"]["suppressed_reason"].startswith("no consent: email unsubscribed")
    assert got["eve-promo"]["suppressed_reason"].startswith("non-buyer class: competitor")
    # Without consent and class in the way (marketing consent-exempt, competitors allowed),
    # ivy is quiet at 06:00 in New York before her cap of 2 sends; at 11:00 there, capped.
    lax = _settings(world, consent_exempt=["marketing"], buyer_classes=["buyer", "competitor"])
    both = world.decide([("ivy", "promo", "email", "marketing")], settings=lax)
    assert both["ivy-promo"]["suppressed_reason"].startswith("quiet hours:")
    later = world.decide(
        [("ivy", "promo", "email", "marketing")], settings=lax, moment=on("2026-07-01 15:00")
    )
    assert later["ivy-promo"]["suppressed_reason"] == (
        "capped: 2 marketing messages since 2026-06-24"
    )


# --- the whole world -------------------------------------------------------------------------


def test_no_marketing_or_sales_planned_for_non_buyers_or_opted_out(world: World) -> None:
    """Marketing and sales for every contact on every channel: none planned for a non-buyer
    or a contact whose consent for that channel is withdrawn."""
    people = world.engine.to_arrow(world.facts).to_pylist()
    actions = [
        (p["contact_id"], f"{purpose}-{channel}", channel, purpose)
        for p in people
        for purpose in ("marketing", "sales")
        for channel in ("email", "sms")
    ]
    decided = world.decide(actions, moment=on("2026-07-01 15:00"))
    klass = {p["contact_id"]: p["audience_class"] for p in people}
    planned = {
        (r["contact_id"], r["channel"]) for r in decided.values() if r["status"] == "planned"
    }
    assert planned  # something goes out, so the check below means something
    assert all(klass[c] == "buyer" for c, _ in planned)
    withdrawn = {("bob", "email"), ("cy", "sms"), ("dee", "email"), ("ivy", "email")}
    assert not planned & withdrawn
    assert {("cy", "email"), ("ann", "email")} <= planned


# --- docs/policy.md --------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "policy.md"


def _blocks(kind: str) -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    return [part.split("```", 1)[0] for part in text.split(f"```{kind}\n")[1:]]


def test_docs_settings_examples_load_and_the_defaults_are_true() -> None:
    """Every TOML example of docs/policy.md loads; the one with every setting is the defaults;
    every setting of [policy] is named in the docs."""
    loaded = [parse_settings(tomllib.loads(block)).policy for block in _blocks("toml")]
    assert PolicySettings() in loaded
    strict = loaded[-1]
    assert strict.require_opt_in == ["email"] and [c.limit for c in strict.caps] == [2, 4]
    text = DOCS.read_text(encoding="utf-8")
    for name in PolicySettings.model_fields:
        assert any(f in text for f in (f"`{name}`", f"{name} =", f"policy.{name}")), name


def test_docs_reasons_are_the_ones_the_policy_writes(world: World) -> None:
    """The reasons listed in docs/policy.md are exactly those these cases publish."""
    tokyo = world.settings.model_copy(
        update={"report": world.settings.report.model_copy(update={"timezone": "Asia/Tokyo"})}
    )
    tight = _settings(world, caps=[FrequencyCap(limit=2, days=7, purposes=["all"])])
    runs = [
        world.decide(
            [
                ("dee", "promo", "email", "marketing"),
                ("hal", "promo", "email", "marketing"),
                ("bob", "promo", "email", "marketing"),
                ("cy", "promo", "sms", "marketing"),
                ("eve", "call", "phone", "sales"),
                ("eve", "promo", "email", "marketing"),
                ("fay", "promo", "email", "marketing"),
                ("gus", "promo", "email", "marketing"),
            ],
            dnc=("hal",),
        ),
        world.decide(
            [("hal", "promo", "email", "marketing")],
            settings=_settings(world, require_opt_in=["email"]),
        ),
        world.decide([("ann", "promo", "email", "marketing")], moment=on("2026-03-28 06:30")),
        world.decide(
            [("hal", "promo", "email", "marketing")], moment=on("2026-07-01 13:00"), settings=tokyo
        ),
        world.decide([("gus", "promo", "email", "sales")], settings=tight),
    ]
    written = {r["suppressed_reason"] for run in runs for r in run.values()} - {None}
    [listed] = _blocks("text")
    assert written == set(listed.strip().splitlines())


# --- both engines ----------------------------------------------------------------------------


def _hand_tables() -> dict[str, pa.Table]:
    """Small hand-built inputs with the columns the policy reads (no job run needed)."""
    t = on("2026-06-20 09:00")
    events = pa.Table.from_pylist(
        [
            {"type": "track", "event": "Unsubscribed", "contact_id": "b", "user_id": "b",
             "email": None, "timestamp": t, "p_channel": None, "p_granted": None,
             "p_purpose": None},
            {"type": "track", "event": "Consent Updated", "contact_id": "a", "user_id": "a",
             "email": None, "timestamp": t, "p_channel": "SMS", "p_granted": "false",
             "p_purpose": None},
            {"type": "track", "event": "Email Sent", "contact_id": "a", "user_id": "a",
             "email": None, "timestamp": on("2026-06-29 09:00"), "p_channel": None,
             "p_granted": None, "p_purpose": None},
            {"type": "identify", "event": None, "contact_id": "c", "user_id": "c-old",
             "email": "C@x.example", "timestamp": t, "p_channel": None, "p_granted": None,
             "p_purpose": None},
        ]
    )  # fmt: skip
    secs = [int(ts.timestamp()) for ts in events.column("timestamp").to_pylist()]
    events = events.append_column("secs", pa.array(secs, pa.int64()))
    traits = pa.Table.from_pylist(
        [
            {"contact_id": "a", "trait": "email_opt_in", "value": "yes",
             "updated_at": on("2026-06-01 09:00")},
            {"contact_id": "d", "trait": "marketing_opt_out", "value": "TRUE", "updated_at": t},
        ]
    )  # fmt: skip
    facts = pa.Table.from_pylist(
        [
            {"contact_id": c, "audience_class": k, "timezone": z, "email": f"{c}@x.example"}
            for c, k, z in [
                ("a", "buyer", "Europe/Madrid"),
                ("b", "buyer", None),
                ("c", "buyer", "Not/AZone"),
                ("d", "student", "America/New_York"),
            ]
        ]
    )
    return {"events": events, "traits": traits, "facts": facts}


@pytest.mark.spark
def test_consent_and_apply_are_identical_on_duckdb_and_spark(
    tmp_path: Path, spark_session: Any
) -> None:
    """consent and apply give the same rows on both engines (hand-built inputs)."""
    ws = make_workspace(tmp_path / "ws", '[policy]\ndo_not_contact = ["c-old"]\n')
    tables = _hand_tables()
    actions = [
        (c, a, ch, p)
        for c in ("a", "b", "c", "d")
        for a, ch, p in (("promo", "email", "marketing"), ("sms", "sms", "sales"))
    ]
    proposed = pa.Table.from_pylist(
        [
            {"action_id": f"{c}-{a}", "contact_id": c, "action": a, "channel": ch,
             "purpose": p, "priority": 1, "reason": "r", "products": None, "as_of": MOMENT}
            for c, a, ch, p in actions
        ],
        schema=PROPOSED_SCHEMA,
    )  # fmt: skip
    results = {}
    for kind in ("duckdb", "spark"):
        engine = connect(ws, kind)
        try:
            events = ibis.memtable(tables["events"])
            consent = policy.consent(
                engine, ws.settings, events, ibis.memtable(tables["traits"]), MOMENT
            )
            decided = policy.apply(
                engine,
                ws.settings,
                ibis.memtable(proposed),
                ibis.memtable(tables["facts"]),
                consent,
                ibis.memtable(SENT),
                events,
                MOMENT,
            )
            results[kind] = (
                sorted(engine.to_arrow(consent).to_pylist(), key=repr),
                sorted(engine.to_arrow(decided).to_pylist(), key=repr),
            )
        finally:
            engine.close()
    assert results["duckdb"] == results["spark"]
    reasons = {r["action_id"]: r["suppressed_reason"] for r in results["duckdb"][1]}
    # a: sms withdrawn 20 Jun (Consent Updated, SMS lower-cased); email granted by the trait.
    assert reasons["a-sms"] == "no consent: sms unsubscribed on 2026-06-20 (event Consent Updated)"
    assert reasons["a-promo"] is None
    assert reasons["b-promo"].startswith("no consent: email")  # Unsubscribed
    assert reasons["b-sms"] is None
    assert reasons["c-promo"] == "do-not-contact: c-old"  # by an old user id
    # d: a student, withdrawn on every channel: consent comes first.
    assert reasons["d-sms"] == (
        "no consent: sms unsubscribed on 2026-06-20 (trait marketing_opt_out, every channel)"
    )
