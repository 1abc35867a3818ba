"""Audience classes: who is not a buyer, the evidence kept for it, priority and policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clientela.config import NON_BUYER_CLASSES, AudienceSettings
from conftest import make_workspace
from helpers import land, run_job
from journeys import START, Journeys

AS_OF = datetime(2025, 2, 1, tzinfo=UTC)
ROUTES = AudienceSettings().routes

SETTINGS = """\
[audience]
own_domains = ["acme.example"]
competitor_domains = ["rival.example", "other-rival.example"]
competitor_names = ["Rival Corp"]
vendor_domains = ["supplier.example"]
"""

Rows = dict[str, list[dict[str, Any]]]


def day(n: float) -> datetime:
    """``n`` days after the builder's start (2025-01-06 09:00 UTC)."""
    return START + timedelta(days=n)


def people() -> Journeys:
    """One or two contacts per piece of evidence, plus buyers that must stay buyers."""
    j = Journeys()
    # employee, competitor, vendor, student: by email domain, trait or account
    j.identify(user_id="emp", traits={"email": "Ann@Acme.example"}, at=day(0))
    j.identify(user_id="comp_mail", traits={"email": "bob@rival.example"}, at=day(0))
    j.identify(user_id="comp_name", traits={"company": " RIVAL corp "}, at=day(1))
    j.group(
        "acct-or",
        user_id="comp_acc",
        traits={"name": "Other Rival", "website": "https://www.Other-Rival.example/about"},
        at=day(2),
    )
    j.identify(user_id="vendor", traits={"email": "vic@supplier.example"}, at=day(0))
    j.group("acct-sup", user_id="vendor_acc", traits={"domain": "supplier.example"}, at=day(2))
    j.identify(user_id="stud_mail", traits={"email": "sam@cs.uni.edu"}, at=day(0))
    j.identify(user_id="stud_occ", traits={"occupation": "Student"}, at=day(3))
    # job seekers: an application, or careers pages dominating their page views
    j.track("Job Application Submitted", user_id="job_app", at=day(4))
    for i, path in enumerate(["/careers/eng", "/", "/careers/sales"]):
        j.page(user_id="job_pages", properties={"path": path}, at=day(5) + timedelta(minutes=i))
    for i in range(10):
        path = "/careers/eng" if i == 3 else f"/p{i}"
        j.page(user_id="one_careers", properties={"path": path}, at=day(5) + timedelta(minutes=i))
    for i in range(10):
        path = "/careers/eng" if i < 4 else f"/p{i}"
        j.page(user_id="few_careers", properties={"path": path}, at=day(5) + timedelta(minutes=i))
    # bots: a crawler, a machine-fast burst, a link scanner
    j.page(
        user_id="bot_ua",
        context={"userAgent": "Googlebot/2.1"},
        properties={"path": "/"},
        at=day(6),
    )
    for i in range(6):  # 6 views, 5 of them 1 s after the previous one
        j.page(user_id="bot_burst", properties={"path": f"/p{i}"}, at=day(6) + timedelta(seconds=i))
    for i, sec in enumerate([0, 4, 9]):
        j.track(
            "Email Link Clicked",
            user_id="scanner",
            properties={"email_id": "e1", "link_url": f"https://acme.example/{i}"},
            at=day(7) + timedelta(seconds=sec),
        )
    # humans: views 30 s apart; views exactly 2 s apart; three clicks over three minutes
    for i in range(6):
        at = day(6) + timedelta(seconds=30 * i)
        j.page(user_id="human", properties={"path": f"/p{i}"}, at=at)
    for i in range(6):
        at = day(6) + timedelta(seconds=2 * i)
        j.page(user_id="brisk", properties={"path": f"/p{i}"}, at=at)
    for i in range(3):
        j.track(
            "Email Link Clicked",
            user_id="reader",
            properties={"email_id": "e1", "link_url": f"https://acme.example/{i}"},
            at=day(7) + timedelta(minutes=i),
        )
    # fast pairs on different days (not a bot) and
    # a scanner's three clicks within 4 s followed by the person's own click the next day (a bot)
    for k in range(5):
        j.page(user_id="reloader", properties={"path": "/"}, at=day(k))
        j.page(user_id="reloader", properties={"path": "/"}, at=day(k) + timedelta(seconds=1))
    for i, sec in enumerate([0, 2, 4, 86_400]):
        j.track(
            "Email Link Clicked",
            user_id="scanned",
            properties={"email_id": "e1", "link_url": f"https://acme.example/{i}"},
            at=day(7) + timedelta(seconds=sec),
        )
    # browses anonymously for three days before giving an own-domain email
    j.page(anonymous_id="a-lee", properties={"path": "/"}, at=day(0))
    j.identify(
        anonymous_id="a-lee", user_id="late_emp", traits={"email": "lee@acme.example"}, at=day(3)
    )
    # evidence for several classes: the first in NON_BUYER_CLASSES order wins
    j.identify(
        user_id="multi",
        traits={"email": "max@acme.example", "occupation": "student"},
        context={"userAgent": "python-requests/2.31"},
        at=day(1),
    )
    j.track("Job Application Submitted", user_id="multi", at=day(2))
    j.identify(
        user_id="emp_stud", traits={"email": "eva@acme.example", "title": "Student"}, at=day(1)
    )
    j.track("Job Application Submitted", user_id="emp_stud", at=day(2))
    j.identify(user_id="stud_job", traits={"job_title": "PhD student"}, at=day(1))
    j.track("Job Application Submitted", user_id="stud_job", at=day(2))
    j.identify(user_id="comp_vend", traits={"email": "cid@rival.example"}, at=day(1))
    j.group("acct-sup2", user_id="comp_vend", traits={"domain": "supplier.example"}, at=day(2))
    # a plain buyer
    j.page(anonymous_id="a-pat", properties={"path": "/pricing"}, at=day(0))
    j.identify(anonymous_id="a-pat", user_id="pat", traits={"email": "pat@shop.example"}, at=day(1))
    j.track("Order Completed", user_id="pat", at=day(2))
    return j


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    """The job's published tables for :func:`people`, as of 2025-02-01."""
    ws = make_workspace(tmp_path_factory.mktemp("audience") / "ws", SETTINGS)
    land(ws, people())
    return run_job(ws, as_of=AS_OF)


def classes(world: Rows) -> dict[str, str]:
    return {r["contact_id"]: r["audience_class"] for r in world["audience"]}


def row(world: Rows, table: str, contact_id: str) -> dict[str, Any]:
    (found,) = [r for r in world[table] if r["contact_id"] == contact_id]
    return found


def evidence(world: Rows, contact_id: str) -> list[tuple[str, str, str, datetime]]:
    """(class, rule, detail, seen_at) of every piece of evidence for one contact, sorted."""
    return sorted(
        (r["audience_class"], r["rule"], r["detail"], r["seen_at"])
        for r in world["audience_evidence"]
        if r["contact_id"] == contact_id
    )


def test_employee_by_own_email_domain(world: Rows) -> None:
    """An email on one of own_domains (any case) makes an employee, with that email as evidence."""
    assert row(world, "audience", "emp") == {
        "contact_id": "emp",
        "audience_class": "employee",
        "policy": "exclude",
        "route": ROUTES["employee"],
        "evidence": "email own domain: email ann@acme.example",
    }
    assert evidence(world, "emp") == [
        ("employee", "email own domain", "email ann@acme.example", day(0))
    ]


def test_competitor_by_email_domain_company_name_and_account(world: Rows) -> None:
    """Competitors are found by email domain, by the company trait and by their account."""
    found = classes(world)
    assert [found[c] for c in ("comp_mail", "comp_name", "comp_acc")] == ["competitor"] * 3
    assert evidence(world, "comp_mail") == [
        ("competitor", "email competitor domain", "email bob@rival.example", day(0))
    ]
    # competitor_names are compared trimmed and case-insensitively; the detail keeps the value
    assert evidence(world, "comp_name") == [
        ("competitor", "company name", "company  RIVAL corp ", day(1))
    ]
    # the account's website is reduced to its bare domain (other-rival.example)
    assert evidence(world, "comp_acc") == [
        ("competitor", "account competitor domain", "account Other Rival", day(2))
    ]
    assert row(world, "audience", "comp_acc")["evidence"] == (
        "account competitor domain: account Other Rival"
    )


def test_vendor_by_email_domain_and_account(world: Rows) -> None:
    """A supplier's email domain, or an account on a supplier's domain, makes a vendor."""
    assert row(world, "audience", "vendor")["audience_class"] == "vendor"
    # vic's email domain also makes them a member of the supplier's account, hence two rows
    assert evidence(world, "vendor") == [
        ("vendor", "account vendor domain", "account supplier.example", day(0)),
        ("vendor", "email vendor domain", "email vic@supplier.example", day(0)),
    ]
    # an account without a name is named by its domain
    assert row(world, "audience", "vendor_acc")["audience_class"] == "vendor"
    assert evidence(world, "vendor_acc") == [
        ("vendor", "account vendor domain", "account supplier.example", day(2))
    ]


def test_student_by_academic_domain_and_occupation(world: Rows) -> None:
    """An academic email domain (under .edu) or a 'student' occupation makes a student."""
    assert row(world, "audience", "stud_mail")["audience_class"] == "student"
    assert evidence(world, "stud_mail") == [
        ("student", "email academic domain", "email sam@cs.uni.edu", day(0))
    ]
    assert row(world, "audience", "stud_occ")["audience_class"] == "student"
    assert evidence(world, "stud_occ") == [
        ("student", "occupation or title", "occupation Student", day(3))
    ]


def test_job_seeker_by_application_or_careers_pages(world: Rows) -> None:
    """A job application, or careers pages as most of the page views, makes a job seeker."""
    assert row(world, "audience", "job_app")["audience_class"] == "job_seeker"
    assert evidence(world, "job_app") == [
        ("job_seeker", "job application", "1 job application(s)", day(4))
    ]
    assert row(world, "audience", "job_pages")["audience_class"] == "job_seeker"
    assert evidence(world, "job_pages") == [
        ("job_seeker", "careers pages dominate", "2 of 3 page views", day(5))
    ]
    assert row(world, "audience", "job_pages")["route"] == ROUTES["job_seeker"]


def test_a_few_careers_pages_among_many_is_not_a_job_seeker(world: Rows) -> None:
    """One careers page of ten (too few) or four of ten (under half) leaves a buyer."""
    found = classes(world)
    assert found["one_careers"] == "buyer"
    assert found["few_careers"] == "buyer"
    assert evidence(world, "one_careers") == []
    assert evidence(world, "few_careers") == []


def test_bot_by_user_agent_burst_or_link_scanner(world: Rows) -> None:
    """A crawler agent, 5 views each under 2 s after the previous, or 3 links in 10 s: a bot."""
    found = classes(world)
    assert [found[c] for c in ("bot_ua", "bot_burst", "scanner")] == ["bot"] * 3
    assert evidence(world, "bot_ua") == [
        ("bot", "crawler user agent", "1 events from Googlebot/2.1", day(6))
    ]
    # seen_at is the first machine-fast view: the second of the six
    assert evidence(world, "bot_burst") == [
        (
            "bot",
            "machine-fast page views",
            "1 burst(s), the longest of 6 views each within 2s of the previous one",
            day(6) + timedelta(seconds=1),
        )
    ]
    assert evidence(world, "scanner") == [
        (
            "bot",
            "links clicked at machine speed",
            "3 links of one email clicked within 10s, in 1 email(s)",
            day(7),
        )
    ]
    assert row(world, "audience", "scanner")["route"] == ROUTES["bot"]


def test_human_paced_views_and_clicks_are_not_a_bot(world: Rows) -> None:
    """Views 30 s apart, views exactly 2 s apart and clicks a minute apart are human."""
    found = classes(world)
    assert [found[c] for c in ("human", "brisk", "reader")] == ["buyer"] * 3
    assert evidence(world, "human") == evidence(world, "brisk") == evidence(world, "reader") == []


def test_plain_buyer_stays_buyer_with_no_evidence(world: Rows) -> None:
    """A shopper with an ordinary email and an order is a buyer, scored, with no evidence."""
    assert row(world, "audience", "pat") == {
        "contact_id": "pat",
        "audience_class": "buyer",
        "policy": "score",
        "route": "",
        "evidence": "",
    }
    assert evidence(world, "pat") == []
    life = row(world, "lifecycle", "pat")
    assert life["scored"] is True
    assert life["grade"] is not None
    assert life["next_initiative"] == (
        "Customer support: fast answers on every channel; cross-sell and up-sell."
    )


def test_first_class_in_priority_order_wins(world: Rows) -> None:
    """With evidence for several classes the first of NON_BUYER_CLASSES wins; all is kept."""
    assert NON_BUYER_CLASSES == (
        "bot",
        "employee",
        "competitor",
        "vendor",
        "student",
        "job_seeker",
    )
    found = classes(world)
    assert found["multi"] == "bot"
    assert found["emp_stud"] == "employee"
    assert found["stud_job"] == "student"
    assert found["comp_vend"] == "competitor"
    assert [(c, r) for c, r, _, _ in evidence(world, "multi")] == [
        ("bot", "crawler user agent"),
        ("employee", "email own domain"),
        ("job_seeker", "job application"),
        ("student", "occupation or title"),
    ]
    # the audience row's evidence is the chosen class's only
    assert row(world, "audience", "multi")["evidence"] == (
        "crawler user agent: 1 events from python-requests/2.31"
    )
    assert row(world, "audience", "emp_stud")["evidence"] == (
        "email own domain: email eva@acme.example"
    )
    assert row(world, "audience", "stud_job")["evidence"] == (
        "occupation or title: job_title PhD student"
    )
    assert row(world, "audience", "comp_vend")["evidence"] == (
        "email competitor domain: email cid@rival.example"
    )
    assert [(c, r) for c, r, _, _ in evidence(world, "comp_vend")] == [
        ("competitor", "email competitor domain"),
        ("vendor", "account vendor domain"),
    ]


def test_excluded_classes_are_not_scored_and_get_their_route(world: Rows) -> None:
    """Every non-buyer (all excluded by default) has no score, no grade, and its class's route."""
    life = {r["contact_id"]: r for r in world["lifecycle"]}
    non_buyers = {c: k for c, k in classes(world).items() if k != "buyer"}
    assert set(non_buyers.values()) == set(NON_BUYER_CLASSES)
    for contact_id, cls in non_buyers.items():
        got = life[contact_id]
        assert (got["audience_class"], got["policy"], got["scored"]) == (cls, "exclude", False)
        assert (got["fit"], got["engagement"], got["grade"]) == (None, None, None)
        assert got["label"] == got["stage"]  # no grade in front of the stage
        assert got["next_initiative"] == ROUTES[cls]
    scored = {r["contact_id"] for r in world["scores"] if r["scored"]}
    assert scored == {c for c, k in classes(world).items() if k == "buyer"}
    assert not {r["contact_id"] for r in world["score_ledger"]} & set(non_buyers)


def test_fast_pairs_on_different_days_are_not_a_burst(world: Rows) -> None:
    """Five pairs of views 1 s apart, a day between pairs, are no machine-fast burst."""
    assert evidence(world, "reloader") == []
    assert classes(world)["reloader"] == "buyer"


def test_link_scanner_burst_is_kept_when_the_person_clicks_later(world: Rows) -> None:
    """Three links clicked within 4 s are a scanner even if the person clicks again next day."""
    assert classes(world)["scanned"] == "bot"


def test_email_evidence_is_seen_when_the_email_was_given(world: Rows) -> None:
    """Evidence from an email is dated when the email first arrived, not the first visit."""
    assert row(world, "audience", "late_emp")["audience_class"] == "employee"
    assert evidence(world, "late_emp") == [
        ("employee", "email own domain", "email lee@acme.example", day(3))
    ]


def test_demote_policy_keeps_the_class_scored_with_fit_points_off(tmp_path: Path) -> None:
    """student = "demote" scores the student with a -40 fit row; other classes stay excluded."""
    ws = make_workspace(tmp_path / "ws", '[audience.policy]\nstudent = "demote"\n')
    j = Journeys()
    # b2c fit: age 30-56 (+20), income >= 40k (+20), children >= 1 (+10), country ES (+5) = 55
    traits = {"age": 35, "income": 50000, "children": 2, "country": "ES"}
    j.identify(user_id="stud", traits={"email": "sam@uni.edu", **traits}, at=day(0))
    j.identify(user_id="buyer", traits={"email": "bea@shop.example", **traits}, at=day(0))
    j.track("Job Application Submitted", user_id="seeker", at=day(1))
    land(ws, j)
    world = run_job(ws, as_of=AS_OF)

    assert row(world, "audience", "stud")["policy"] == "demote"
    assert row(world, "audience", "seeker")["policy"] == "exclude"
    fit_rows = sorted(
        (r["rule"], r["points"], r["detail"])
        for r in world["score_ledger"]
        if r["contact_id"] == "stud" and r["dimension"] == "fit"
    )
    assert fit_rows == [
        ("audience policy: demote", -40.0, "non-buyer class demoted"),
        ("core age band", 20.0, "age = 35"),
        ("has children", 10.0, "children = 2"),
        ("in a served country", 5.0, "country = ES"),
        ("income over 40k", 20.0, "income = 50000"),
    ]
    stud = row(world, "lifecycle", "stud")
    buyer = row(world, "lifecycle", "buyer")
    assert (stud["scored"], stud["fit"], stud["fit_letter"]) == (True, 15.0, "D")
    assert (buyer["scored"], buyer["fit"], buyer["fit_letter"]) == (True, 55.0, "B")
    assert stud["grade"] == "D" + buyer["engagement_digit"]
    # demoted, but still a non-buyer: the courteous route, not the stage's initiative
    assert stud["next_initiative"] == ROUTES["student"]
    seeker = row(world, "lifecycle", "seeker")
    assert (seeker["scored"], seeker["grade"]) == (False, None)
