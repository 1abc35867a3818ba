"""clientela predict, and the predictions in contacts show|list and explain
(clientela.cli.predict, clientela.cli.contacts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import published_predictions as hand
from clientela.cli import app
from conftest import make_workspace
from helpers import land, run_job
from worlds import CUSTOMER_AS_OF, customer_journeys

runner = CliRunner()


def _world(root: Path) -> str:
    ws = make_workspace(root)
    land(ws, customer_journeys())
    run_job(ws, CUSTOMER_AS_OF)
    return str(ws.root)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The customer world with the hand-made prediction tables published over its run."""
    root = _world(Path(tmp_path_factory.mktemp("predicted")) / "ws")
    from clientela.workspace import open_workspace

    hand.publish(open_workspace(Path(root)))
    return root


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The customer world as the job published it: too few buyers to fit, no churn model."""
    return _world(Path(tmp_path_factory.mktemp("real")) / "ws")


def flat(text: str) -> str:
    """Output with every run of whitespace as one space (Rich wraps at 80 columns here)."""
    return " ".join(text.split())


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_predict_prints_parameters_backtests_beside_baselines_and_top_clv(predicted: str) -> None:
    """The report: fitted parameters with SEs and log-likelihood, a failed fit's reason, each
    back-test beside its baseline, calibration bins, a missing model's note, top CLV."""
    out = flat(ok("predict", "--no-run", "-w", predicted))
    assert "log-likelihood -3,074.62" in out and "8.1400" in out and "1.3100" in out
    assert "gamma_gamma: failed — Gamma-Gamma: 3 repeat buyers is too few" in out
    assert "AUC │ 0.810 │ 0.620 │ days since last order │ 300" in out
    assert "hit rate@k │ 0.310 │ 0.120 │ most popular" in out
    assert "│ 4 │ 0.850 │ 0.900 │ 60 │" in out  # calibration bin 4: predicted, observed
    assert "no purchase-propensity model yet: too few prospects converted to train" in out
    top = out[out.index("top 3 customers by CLV") :]
    assert top.index("│ a ") < top.index("│ c ") < top.index("│ e ")
    assert "120.50 │ 0.900 │ 3.50 │ 40.00" in top


def test_predict_json_is_the_same_report_as_data(predicted: str) -> None:
    """--format json: models with parameters, back-tests split into metrics and calibration,
    the missing models' notes and the top customers by CLV, highest first."""
    doc = json.loads(ok("predict", "--no-run", "--format", "json", "--top", "2", "-w", predicted))
    bgnbd = next(m for m in doc["models"] if m["model"] == "bgnbd")
    assert [p["parameter"] for p in bgnbd["parameters"]] == ["r", "alpha", "a", "b"]
    churn = next(b for b in doc["backtests"] if b["model"] == "churn")
    assert [f["bin"] for f in churn["calibration"]] == [0, 1, 2, 3, 4]
    assert {f["metric"] for f in churn["metrics"]} == {"auc", "lift_top_decile", "brier"}
    assert set(doc["missing"]) == {"conversion"}
    assert [r["contact_id"] for r in doc["top_clv"]] == ["a", "c"]
    assert doc["top_clv"][0]["email"] == "a@mail.example"


def test_predict_runs_the_job_and_says_why_models_are_missing(tmp_path: Path) -> None:
    """Without --no-run it publishes a new version as of --as-of, then reports the real fit:
    too few customers for BG/NBD, and no churn model yet."""
    ws = _world(tmp_path / "ws")
    out = flat(ok("predict", "--as-of", "2025-04-30", "-w", ws))
    assert "published v" in out and "(as of 2025-04-30 23:59:59)" in out
    assert "bgnbd: failed — BG/NBD: 7 customers is too few to fit (at least 20)" in out
    assert "no churn model yet" in out
    assert "no customer has a CLV in this published version" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-run", "--as-of", "2025-04-30"], "no --as-of with --no-run"),
        (["--format", "yaml"], "table or json"),
        (["--top", "-1"], "0 or more"),
        (["--no-run", "--out", "x.json"], "--format json"),
    ],
)
def test_predict_refuses_bad_options(real: str, args: list[str], message: str) -> None:
    """Options that cannot work are an error naming what is expected."""
    result = runner.invoke(app, ["predict", *args, "-w", real])
    assert result.exit_code != 0 and message in str(result.exception)


def test_contacts_show_has_the_contacts_predictions(predicted: str) -> None:
    """CLV, P(alive), expectations, churn risk with band and reasons, recommendations."""
    out = flat(ok("contacts", "show", "a", "-w", predicted))
    assert "predictions: CLV 120.50 P(alive) 0.900 expected purchases 3.50" in out
    assert "expected order value 40.00" in out
    assert "churn risk: 0.100 (low) - visited 3 times in the last 30 days - renewed twice" in out
    assert "Merino needles" in out and "cross_sell" in out and "the next tier" in out


def test_explain_ends_with_churn_risk_reasons_and_propensity(predicted: str) -> None:
    """explain shows a customer's churn reasons and a prospect's purchase propensity."""
    out = flat(ok("explain", "c", "-w", predicted))
    assert "churn risk: 0.700 (high) - no visit in 45 days - one order only" in out
    out = flat(ok("explain", "h", "-w", predicted))
    assert "purchase propensity: 0.650 (high) - was referred - visited the shop" in out


def test_contacts_show_without_a_fitted_model_says_so(real: str) -> None:
    """A buyer with orders but no CLV (the fit failed) is told why, not shown blanks."""
    out = flat(ok("contacts", "show", "a", "-w", real))
    assert "predictions: 1 orders, 0 repeat; no CLV" in out


def _listed(*args: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(
        ok("contacts", "list", "--format", "json", "--limit", "0", *args)
    )
    return rows


def test_contacts_list_sorts_by_clv_and_carries_the_prediction_columns(predicted: str) -> None:
    """--sort clv: highest first, contacts without a CLV last; every prediction column."""
    rows = _listed("--sort", "clv", "-w", predicted)
    assert [r["contact_id"] for r in rows[:3]] == ["a", "c", "e"]
    assert all(r["clv"] is None for r in rows[3:]) and len(rows) == 8
    assert rows[1]["churn_reasons"] == "no visit in 45 days; one order only"
    assert {"p_alive", "expected_purchases", "purchase_propensity", "churn_band"} <= set(rows[0])
    assert [r["contact_id"] for r in _listed("--sort", "churn_risk", "-w", predicted)[:3]] == [
        "c",
        "e",
        "a",
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--min-p-alive", "0.4"], {"a", "c"}),
        (["--max-p-alive", "0.5"], {"c", "e"}),
        (["--min-clv", "20"], {"a", "c"}),
        (["--min-churn-risk", "0.4"], {"c", "e"}),
        (["--max-churn-risk", "0.5"], {"a", "e"}),
        (["--min-purchase-propensity", "0.5"], {"h"}),
        (["--min-p-alive", "0.4", "--max-churn-risk", "0.5"], {"a"}),
    ],
)
def test_contacts_list_filters_on_predictions(
    predicted: str, args: list[str], expected: set[str]
) -> None:
    """Each bound keeps the contacts within it; contacts without the value are left out."""
    assert {r["contact_id"] for r in _listed(*args, "-w", predicted)} == expected


def test_contacts_list_table_shows_the_prediction_asked_for(predicted: str) -> None:
    """The terminal table shows the column sorted by, as a three-decimal probability."""
    out = ok("contacts", "list", "--sort", "p_alive", "-w", predicted)
    assert "p_alive" in out and "0.900" in out and "audience_class" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-p-alive", "1.5"], "'--min-p-alive' = 1.5 is not valid; expected a probability"),
        (["--max-churn-risk", "-0.1"], "expected a probability between 0 and 1"),
        (["--min-p-alive", "0.8", "--max-p-alive", "0.2"], "at most --max-p-alive"),
        (["--min-clv", "nan"], "a finite number"),
        (["--sort", "clvv"], "unknown sort 'clvv'; did you mean 'clv'?"),
    ],
)
def test_contacts_list_refuses_bad_prediction_options(
    predicted: str, args: list[str], message: str
) -> None:
    """Bad bounds and sorts are errors that say what is expected."""
    result = runner.invoke(app, ["contacts", "list", *args, "-w", predicted])
    assert result.exit_code != 0 and message in str(result.exception)


def test_contacts_list_on_an_absent_model_hints_why_nothing_matched(real: str) -> None:
    """A churn filter before any churn model: no rows, and a hint naming the missing model."""
    result = runner.invoke(app, ["contacts", "list", "--max-churn-risk", "0.5", "-w", real])
    assert result.exit_code == 0, result.output
    assert "no churn model yet" in flat(result.stderr)


def test_a_version_published_before_the_prediction_tables_still_lists(tmp_path: Path) -> None:
    """A version without the prediction tables reads as if they were empty."""
    ws = _world(tmp_path / "ws")
    version = (Path(ws) / "results" / "CURRENT").read_text().strip()
    for name in ("predictions", "prediction_models", "recommendations", "prediction_backtests"):
        (Path(ws) / "results" / version / f"{name}.parquet").unlink()
    rows = _listed("--sort", "clv", "-w", ws)
    assert len(rows) == 8 and all(r["clv"] is None for r in rows)
    assert "predictions: none" in flat(ok("contacts", "show", "a", "-w", ws))
    assert "no lifetime-value model" in flat(ok("predict", "--no-run", "-w", ws))


def test_predict_shows_any_models_backtest_and_writes_valid_json(tmp_path: Path) -> None:
    """A back-test of a model beyond the three propensity ones is printed too, and a NaN
    figure is null in the JSON (which stays valid JSON)."""
    from clientela.workspace import open_workspace

    ws = _world(tmp_path / "ws")
    holdout = hand.backtest_row("bgnbd", "mae", 0.42, 0.61, baseline_name="past rate", rows=482)
    broken = hand.backtest_row("churn", "auc", float("nan"), 0.5, baseline_name="random", rows=10)
    hand.publish(open_workspace(Path(ws)), backtests=[holdout, broken])
    out = flat(ok("predict", "--no-run", "-w", ws))
    assert "bgnbd back-test, beside its baseline" in out and "mae │ 0.420 │ 0.610" in out
    doc = json.loads(ok("predict", "--no-run", "--format", "json", "-w", ws))
    churn = next(b for b in doc["backtests"] if b["model"] == "churn")
    assert churn["metrics"][0]["value"] is None and churn["metrics"][0]["baseline"] == 0.5
