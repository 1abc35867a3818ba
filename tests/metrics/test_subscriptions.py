"""Subscription KPIs: subscribers, MRR movements, GRR and NRR, hand-computed on
:func:`journeys.subscriber_journeys` (landed, run, then measured)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from clientela import report
from clientela.api import create_app
from clientela.cli import app
from clientela.engine import connect
from clientela.keys import create_key
from clientela.metrics import Query
from clientela.workspace import Workspace
from conftest import make_workspace
from helpers import land, metric_rows, run_job
from journeys import subscriber_journeys

AS_OF = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)
MONTHS = Query(start=date(2025, 1, 1), end=date(2025, 6, 30), period="month")


@pytest.fixture(scope="module")
def subscribers(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The subscriber world, landed and run as of 30 June 2025 23:00 UTC."""
    ws = make_workspace(Path(tmp_path_factory.mktemp("subs")) / "ws")
    land(ws, subscriber_journeys())
    run_job(ws, AS_OF)
    return ws


def by_period(ws: Workspace, name: str, *columns: str) -> dict[str, tuple]:
    rows = metric_rows(ws, name, MONTHS)
    return {
        r["period"]: tuple(round(v, 4) if isinstance(v, float) else v for v in map(r.get, columns))
        for r in rows
    }


def test_active_subscribers_new_reactivated_and_churned(subscribers: Workspace) -> None:
    """Subscribers at the start and end of each month, and who arrived, came back or left."""
    columns = ("start_subscribers", "new_subscribers", "reactivated_subscribers")
    columns += ("churned_subscribers", "end_subscribers", "subscriber_churn")
    rows = by_period(subscribers, "subscribers", *columns)
    # January: ann, bob and dee subscribe; nobody at the start: churn has no base.
    assert rows["2025-01"] == (0, 3, 0, 0, 3, "n/a (no subscribers at the start)")
    # February: cy arrives, dee cancels: 1 / 3 × 100 = 33.3333 %.
    assert rows["2025-02"] == (3, 1, 0, 1, 3, 33.3333)
    # March: eve subscribes and cancels inside the month: in no count.
    assert rows["2025-03"] == (3, 0, 0, 0, 3, 0.0)
    # April: cy lapsed on 8 April (no payment within 31 + 7 days of 1 March): 1 / 3.
    assert rows["2025-04"] == (3, 0, 0, 1, 2, 33.3333)
    # May: dee comes back (she subscribed before): reactivated, not new.
    assert rows["2025-05"] == (2, 0, 1, 0, 3, 0.0)
    # June (end = the as-of time): dee's second subscription lapsed on 10 June: 1 / 3.
    assert rows["2025-06"] == (3, 0, 0, 1, 2, 33.3333)


def test_mrr_and_its_movements(subscribers: Workspace) -> None:
    """MRR and its movements per month; a yearly plan counts as amount / 12."""
    # Every row: end − start = new + reactivated + expansion − contraction − churned.
    columns = ("start_mrr", "new_mrr", "reactivated_mrr", "expansion_mrr", "contraction_mrr")
    columns += ("churned_mrr", "net_new_mrr", "end_mrr", "unpriced")
    rows = by_period(subscribers, "mrr", *columns)
    # January: new ann 30 + bob 1200 / 12 = 100 + dee 20 = 150.
    assert rows["2025-01"] == (0.0, 150.0, 0.0, 0.0, 0.0, 0.0, 150.0, 150.0, 0)
    # February: start 150; new cy 50; churned dee 20; end 30 + 100 + 50 = 180 (+30).
    assert rows["2025-02"] == (150.0, 50.0, 0.0, 0.0, 0.0, 20.0, 30.0, 180.0, 0)
    # March: cy moves from pro 50 to basic 30: contraction 20; end 30 + 100 + 30 = 160.
    assert rows["2025-03"] == (180.0, 0.0, 0.0, 0.0, 20.0, 0.0, -20.0, 160.0, 0)
    # April: ann from basic 30 to pro 50: expansion 20; cy lapses: churned 30;
    # end 50 + 100 = 150 (160 + 20 − 30).
    assert rows["2025-04"] == (160.0, 0.0, 0.0, 20.0, 0.0, 30.0, -10.0, 150.0, 0)
    # May: dee back on 25: reactivated 25; end 175.
    assert rows["2025-05"] == (150.0, 0.0, 25.0, 0.0, 0.0, 0.0, 25.0, 175.0, 0)
    # June: dee lapses: churned 25; end 150.
    assert rows["2025-06"] == (175.0, 0.0, 0.0, 0.0, 0.0, 25.0, -25.0, 150.0, 0)


def test_gross_and_net_revenue_retention(subscribers: Workspace) -> None:
    """GRR = (start − contraction − churned) / start × 100; NRR adds expansion."""
    rows = by_period(subscribers, "revenue_retention", "start_mrr", "grr", "nrr")
    na = "n/a (no MRR at the start)"
    assert rows["2025-01"] == (0.0, na, na)
    # February: (150 − 0 − 20) / 150 = 86.6667 % both (no expansion).
    assert rows["2025-02"] == (150.0, 86.6667, 86.6667)
    # March: (180 − 20 − 0) / 180 = 88.8889 %.
    assert rows["2025-03"] == (180.0, 88.8889, 88.8889)
    # April: GRR (160 − 0 − 30) / 160 = 81.25 %; NRR (160 + 20 − 0 − 30) / 160 = 93.75 %.
    assert rows["2025-04"] == (160.0, 81.25, 93.75)
    # May: nobody at the start lost or changed anything: 100 %; dee's return is not in it.
    assert rows["2025-05"] == (150.0, 100.0, 100.0)
    # June: (175 − 25) / 175 = 85.7143 %.
    assert rows["2025-06"] == (175.0, 85.7143, 85.7143)


def test_who_names_the_movements_of_a_cell(subscribers: Workspace) -> None:
    """The drill-down of April's revenue retention names who expanded and who churned."""
    from clientela import metrics
    from clientela.engine import connect

    engine = connect(subscribers, reader=True)
    try:
        rows = metrics.who(
            engine, subscribers.settings, "revenue_retention", {"period": "2025-04"}, MONTHS
        ).to_pylist()
    finally:
        engine.close()
    moves = {r["contact_id"]: (r["movement"], r["start_mrr"], r["end_mrr"]) for r in rows}
    assert moves == {
        "ann": ("expansion", 30.0, 50.0),
        "bob": ("retained", 100.0, 100.0),
        "cy": ("churned", 30.0, 0.0),
    }
    assert {r["email"] for r in rows} == {
        "ann@mail.example",
        "bob@mail.example",
        "cy@mail.example",
    }


def test_subscribers_without_an_amount_are_counted_and_flagged(tmp_path: Path) -> None:
    """A subscriber whose events never state an amount counts, with MRR 0, in ``unpriced``."""
    from journeys import Journeys

    ws = make_workspace(tmp_path / "ws")
    j = Journeys(datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    j.identify(user_id="zed", at=0)
    j.track("Subscription Renewed", user_id="zed", at=1)
    land(ws, j)
    run_job(ws, datetime(2025, 3, 31, 12, 0, tzinfo=UTC))
    march = Query(start=date(2025, 3, 1), end=date(2025, 3, 31), period="month")
    (row,) = metric_rows(ws, "mrr", march)
    assert (row["new_mrr"], row["end_mrr"], row["unpriced"]) == (0.0, 0.0, 1)
    (row,) = metric_rows(ws, "subscribers", march)
    assert (row["new_subscribers"], row["end_subscribers"]) == (1, 1)


def test_contacts_show_and_the_api_give_the_subscription(subscribers: Workspace) -> None:
    """contacts show prints ann's subscription (plan pro, MRR 50 since her 10 Apr upgrade;
    subscribed since 10 Jan) and eve's cancellation; the API's lifecycle carries the same."""
    runner = CliRunner()
    shown = runner.invoke(app, ["contacts", "show", "ann", "-w", str(subscribers.root)])
    assert shown.exit_code == 0, shown.output
    assert "subscription: active, plan pro, MRR 50.00, since 2025-01-10 09:00:00" in shown.output
    shown = runner.invoke(app, ["contacts", "show", "eve", "-w", str(subscribers.root)])
    assert "subscription: cancelled, plan -" in shown.output, shown.output
    _, key = create_key(subscribers, "read")
    with TestClient(create_app(subscribers)) as client:
        body = client.get("/api/contacts/ann", headers={"Authorization": f"Bearer {key}"}).json()
    assert body["lifecycle"]["subscription_status"] == "active"
    assert body["lifecycle"]["plan"] == "pro" and body["lifecycle"]["mrr"] == 50.0


def test_the_report_has_mrr_and_nrr_cards(subscribers: Workspace) -> None:
    """The report's key indicators show MRR and NRR next to CRR: in May (the latest complete
    month at the 30 June 23:00 as-of) the end MRR is 150 + 25 (dee's d2) = 175.00 and NRR
    is 100.0 % (nobody moved among April's subscribers); MRR changed by (175 − 150) / 150 =
    +16.7 %."""
    engine = connect(subscribers, reader=True)
    try:
        page = report.render(engine, subscribers.settings, MONTHS)
    finally:
        engine.close()
    mrr = re.search(r'<article class="kpi"[^>]*><h3>MRR \(end of period\)</h3>.*?</article>', page)
    nrr = re.search(r'<article class="kpi"[^>]*><h3>Net revenue retention</h3>.*?</article>', page)
    assert mrr and nrr
    assert '<p class="value">175.00</p>' in mrr.group(0) and "+16.7 %" in mrr.group(0)
    assert '<p class="value">100.0%</p>' in nrr.group(0)
