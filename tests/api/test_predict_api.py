"""The predictions in the read API (clientela.api.predict): the list with its filters and
sorts, the model report, a contact's predictions and recommendations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import World, build
from fastapi.testclient import TestClient

import published_predictions as hand
from clientela.api import create_app


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The read API's world with the hand-made prediction tables published over its run."""
    built = build(Path(tmp_path_factory.mktemp("predict-api")) / "ws")
    hand.publish(built.ws)
    return built


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.ws)) as c:
        c.headers.update(world.read)
        yield c


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The same world as the job published it: no fitted model, no churn model."""
    built = build(Path(tmp_path_factory.mktemp("predict-api-real")) / "ws")
    with TestClient(create_app(built.ws)) as c:
        c.headers.update(built.read)
        yield c


def ok(client: TestClient, url: str, **params: Any) -> Any:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(client: TestClient, **params: Any) -> list[str]:
    return [r["contact_id"] for r in ok(client, "/api/predictions", **params)["items"]]


def test_predictions_list_highest_clv_first_with_contact_and_reasons(client: TestClient) -> None:
    """Default order is CLV, highest first, no-CLV rows last; rows carry email, label and
    the reasons as lists."""
    page = ok(client, "/api/predictions")
    assert [r["contact_id"] for r in page["items"]] == ["a", "c", "e", "b", "h"]
    assert page["total"] == 5 and page["as_of"] and page["version"]
    c = page["items"][1]
    assert c["email"] == "c@mail.example" and c["label"]
    assert c["churn_reasons"] == ["no visit in 45 days", "one order only"]
    assert c["clv"] == 40.0 and c["p_alive"] == 0.5 and c["churn_band"] == "high"


def test_predictions_list_sorts_filters_and_pages(client: TestClient) -> None:
    """Sorts by the named column; bounds keep what is within them; limit/offset page."""
    assert ids(client, sort="churn_risk")[:3] == ["c", "e", "a"]
    assert ids(client, sort="purchase_propensity")[0] == "h"
    assert ids(client, min_p_alive=0.4) == ["a", "c"]
    assert ids(client, max_churn_risk=0.5) == ["a", "e"]
    assert ids(client, min_clv=20, max_clv=100) == ["c"]
    assert ids(client, churn_band="high,medium") == ["c", "e"]
    assert ids(client, min_purchase_propensity=0.5) == ["h"]
    page = ok(client, "/api/predictions", limit=2, offset=2)
    assert [r["contact_id"] for r in page["items"]] == ["e", "b"]
    assert page["next_offset"] == 4 and "offset=4" in page["next"]


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"min_p_alive": 1.5}, 422, "min_p_alive"),
        ({"min_churn_risk": 0.8, "max_churn_risk": 0.2}, 400, "above max_churn_risk"),
        ({"churn_band": "severe"}, 400, "unknown churn_band 'severe'"),
        ({"sort": "grade"}, 422, "sort"),
    ],
)
def test_predictions_list_refuses_bad_queries(
    client: TestClient, params: dict[str, Any], status: int, text: str
) -> None:
    """Out-of-range, contradictory or unknown values are 4xx with a message, never 500."""
    response = client.get("/api/predictions", params=params)
    assert response.status_code == status and text in response.json()["message"]


def test_model_report_has_parameters_backtests_and_missing_models(client: TestClient) -> None:
    """Parameters with SEs, a failed fit's reason, back-tests beside baselines, the
    calibration bins in order, and why the conversion model has nothing."""
    report = ok(client, "/api/predictions/models")
    bgnbd, gg = report["models"]
    assert bgnbd["log_likelihood"] == -3074.62 and bgnbd["parameters"][1] == {
        "parameter": "alpha",
        "value": 8.14,
        "se": 1.31,
    }
    assert gg["status"] == "failed" and "too few" in gg["message"]
    churn = next(b for b in report["backtests"] if b["model"] == "churn")
    auc = next(f for f in churn["metrics"] if f["metric"] == "auc")
    assert (auc["value"], auc["baseline"], auc["label"]) == (0.81, 0.62, "AUC")
    assert [f["bin"] for f in churn["calibration"]] == [0, 1, 2, 3, 4]
    assert report["missing"] == {
        "conversion": "no purchase-propensity model yet: too few prospects converted to "
        "train (3, at least 20)"
    }


def test_contact_predictions_and_recommendations(client: TestClient) -> None:
    """A contact found by email: their prediction row and recommendations, best first."""
    body = ok(client, "/api/contacts/a@mail.example/predictions")
    assert body["contact_id"] == "a" and body["prediction"]["clv"] == 120.5
    assert [r["product_id"] for r in body["recommendations"]] == ["p7", "p9"]
    assert body["notes"] == [
        "no purchase-propensity model yet: too few prospects converted to train (3, at least 20)"
    ]
    recs = ok(client, "/api/contacts/a/recommendations")
    assert [r["rank"] for r in recs["items"]] == [1, 2] and recs["note"] is None
    assert recs["items"][0]["reason"].startswith("bought with Merino yarn")
    none = ok(client, "/api/contacts/f/predictions")
    assert none["prediction"] is None and none["recommendations"] == []


def test_sub_routes_do_not_shadow_the_contact_route(client: TestClient) -> None:
    """/api/contacts/{id} still answers the contact; an unknown contact's predictions 404."""
    assert ok(client, "/api/contacts/a")["contact_id"] == "a"
    response = client.get("/api/contacts/nobody/predictions")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_without_models_the_reads_say_why(real: TestClient) -> None:
    """As the job publishes today: no CLV (the fit failed, with its reason), no churn model,
    no recommendations; every read answers 200 with the reasons."""
    page = ok(real, "/api/predictions", sort="churn_risk")
    assert page["total"] == 7 and all(r["churn_risk"] is None for r in page["items"])
    assert ok(real, "/api/predictions", min_churn_risk=0.1)["total"] == 0
    body = ok(real, "/api/contacts/a/predictions")
    assert body["prediction"]["orders"] == 1 and body["prediction"]["clv"] is None
    assert body["notes"][0].startswith("no CLV: BG/NBD: 7 customers is too few to fit")
    assert any(n.startswith("no churn model yet") for n in body["notes"])
    recs = ok(real, "/api/contacts/a/recommendations")
    assert recs["items"] == [] and recs["note"].startswith("no recommendation model yet")
    report = ok(real, "/api/predictions/models")
    assert {m["status"] for m in report["models"]} == {"failed"}
    # Every model says why it has no figures (too little history), none has any.
    assert {b["model"] for b in report["backtests"]} == {"churn", "conversion", "recommendations"}
    assert all(not b["metrics"] and b["notes"] for b in report["backtests"])
    assert set(report["missing"]) == {"churn", "conversion", "recommendations"}


def test_a_version_without_prediction_tables_reads_as_empty(tmp_path: Path) -> None:
    """A version published before the prediction tables: empty answers, not errors."""
    built = build(tmp_path / "ws")
    version = (built.ws.results_dir / "CURRENT").read_text().strip()
    for name in ("predictions", "prediction_models", "recommendations", "prediction_backtests"):
        (built.ws.results_dir / version / f"{name}.parquet").unlink()
    with TestClient(create_app(built.ws)) as c:
        c.headers.update(built.read)
        assert ok(c, "/api/predictions")["total"] == 0
        assert ok(c, "/api/predictions/models")["models"] == []
        assert ok(c, "/api/contacts/a/predictions")["prediction"] is None
        assert ok(c, "/api/contacts/a/recommendations")["items"] == []


def test_prediction_routes_need_a_read_key(world: World) -> None:
    """No key: 401; a write key: 403 (as every read route)."""
    with TestClient(create_app(world.ws)) as c:
        assert c.get("/api/predictions").status_code == 401
        headers = {"Authorization": f"Bearer {world.write_key}"}
        assert c.get("/api/predictions/models", headers=headers).status_code == 403
