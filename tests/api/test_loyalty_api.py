"""GET /api/loyalty and /api/contacts/{id}/loyalty over the shop of
``tests/loyalty_world.py`` as of d70; an older published version reads as empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clientela.activation.loyalty import published as loyalty_published
from clientela.api import create_app
from clientela.engine import connect
from clientela.engine.core import CURRENT
from clientela.keys import create_key
from clientela.workspace import Workspace
from conftest import make_workspace
from loyalty_world import published

pytestmark = pytest.mark.slow  # the shared world runs the main job twice (~40 s)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    ws: Workspace = published(tmp_path_factory)[0]
    _, key = create_key(ws, "read", "loyalty-tests")
    with TestClient(create_app(ws)) as c:
        c.headers.update({"Authorization": f"Bearer {key}"})
        yield c


def ok(client: TestClient, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def test_contact_loyalty(client: TestClient) -> None:
    """ann: balance 10, Bronze since d61, her 7 ledger rows oldest first with rule and event."""
    view = ok(client, "/api/contacts/ann/loyalty")
    assert view["member"]["balance"] == 10.0 and view["member"]["tier"] == "Bronze"
    assert view["member"]["tier_since"].startswith("2025-05-03T09:00:00")
    assert [(r["kind"], r["rule"], r["message_id"]) for r in view["ledger"]][:3] == [
        ("earned", "purchase", "ann-o1"),
        ("earned", "review", "ann-r1"),
        ("redeemed", "redemption", "ann-x1"),
    ]
    dan = ok(client, "/api/contacts/dan@mail.example/loyalty")
    assert dan["referred_by"]["referrer_id"] == "cy"
    gus = ok(client, "/api/contacts/gus/loyalty")
    assert gus["member"] is None and gus["referrals"][0]["invited_id"] == "fay"


def test_programme_summary(client: TestClient) -> None:
    """Liability 60 (ann 10 + bob 50), tiers lowest first, referral conversion 2 / 3."""
    found = ok(client, "/api/loyalty")
    assert (found["members"], found["liability"], found["issued"]) == (7, 60.0, 505.0)
    assert [(t["tier"], t["members"]) for t in found["tiers"]] == [("Bronze", 6), ("Silver", 1)]
    assert found["referrals"]["conversion_rate"] == pytest.approx(200 / 3)


def test_unknown_contact_is_404_not_500(client: TestClient) -> None:
    """An id nobody has answers 404 with the API's JSON error."""
    assert client.get("/api/contacts/nobody/loyalty").status_code == 404


def test_a_version_published_before_the_loyalty_tables_reads_empty(tmp_path: Path) -> None:
    """No loyalty parquet in the published version: an empty table of the shape, no error."""
    ws = make_workspace(tmp_path / "ws")
    (ws.results_dir / "v1").mkdir(parents=True)
    (ws.results_dir / CURRENT).write_text("v1\n", encoding="utf-8")
    engine = connect(ws)
    try:
        table = loyalty_published.table(engine, "loyalty_ledger")
        assert engine.to_arrow(table).num_rows == 0 and "expires_at" in table.columns
    finally:
        engine.close()
