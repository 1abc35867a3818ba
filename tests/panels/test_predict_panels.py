"""The report's Predictions panels (clientela.panels.predict) drawn from hand-made published
tables, and the section in the rendered report."""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
import pytest

import published_predictions as hand
from clientela.panels import predict as panels
from clientela.predict.published import SCHEMAS
from helpers import RecordingCanvas as Canvas


def tables(
    predictions: list[dict[str, Any]] | None = None,
    models: list[dict[str, Any]] | None = None,
    backtests: list[dict[str, Any]] | None = None,
) -> panels.Tables:
    def arrow(name: str, rows: list[dict[str, Any]]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=SCHEMAS[name])

    return panels.Tables(
        predictions=arrow("predictions", hand.PREDICTIONS if predictions is None else predictions),
        models=arrow("prediction_models", hand.MODELS if models is None else models),
        backtests=arrow("prediction_backtests", hand.BACKTESTS if backtests is None else backtests),
        contacts=pa.table({"contact_id": ["c", "e"], "email": ["c@x.example", "<e>@x.example"]}),
    )


def test_clv_histogram_counts_every_customer_with_a_clv() -> None:
    """One bar per bin; the counts add up to the customers with a CLV (3 of 5 rows)."""
    canvas = Canvas()
    html = panels.clv_distribution(canvas, tables())
    (chart,) = canvas.plots
    assert sum(chart["data"][0]["y"]) == 3
    assert "3 customers, total 170, median 40.00" in html


def test_p_alive_heatmap_averages_p_alive_per_recency_and_frequency_cell() -> None:
    """c and e (frequency 0, recency 0) share a cell: mean 0.35; a (3 repeats) has 0.9."""
    canvas = Canvas()
    panels.p_alive_heatmap(canvas, tables())
    trace = canvas.plots[0]["data"][0]
    assert trace["y"][0] == "0" and trace["y"][3] == "3"
    assert trace["z"][0][0] == pytest.approx(0.35) and trace["customdata"][0][0] == 2
    assert trace["z"][3][-1] == pytest.approx(0.9) and trace["customdata"][3][-1] == 1
    assert sum(n for row in trace["customdata"] for n in row) == 3


def test_churn_list_is_highest_risk_first_with_band_reasons_and_escaped_text() -> None:
    """Rows by churn risk, with email, band, CLV and reasons; data text is escaped."""
    html = panels.churn_list(Canvas(), tables())
    order = [m for m in re.findall(r"<td class=\"\">([ace])</td>", html)]
    assert order == ["c", "e", "a"]
    assert "no visit in 45 days; one order only" in html and "&lt;e&gt;@x.example" in html
    assert ">high</span>" in html


def test_calibration_plots_observed_against_predicted_with_the_diagonal() -> None:
    """The diagonal, then one line per model with bins: x predicted, y observed."""
    canvas = Canvas()
    panels.calibration(canvas, tables())
    diagonal, churn = canvas.plots[0]["data"]
    assert diagonal["x"] == [0, 1] and diagonal["y"] == [0, 1]
    assert churn["name"] == "churn"
    assert churn["x"] == [0.05, 0.2, 0.4, 0.6, 0.85] and churn["y"] == [0.04, 0.25, 0.38, 0.55, 0.9]


def test_backtest_table_sets_each_figure_beside_its_baseline() -> None:
    """Model and baseline side by side; Brier wins when lower; a missing model's note."""
    html = panels.backtests(Canvas(), tables())
    assert re.search(
        r"AUC</td>.*?0\.810</td>.*?0\.620</td>.*?days since last order</td>"
        r".*?yes</td>",
        html,
    )
    assert re.search(r"Brier score</td>.*?0\.150</td>.*?0\.210</td>.*?yes</td>", html)
    assert "no purchase-propensity model yet: too few prospects converted" in html


def test_empty_tables_give_a_reason_instead_of_a_chart() -> None:
    """Nothing published by the models: no chart, and each panel says why."""
    failed = [row for row in hand.MODELS if row["status"] == "failed"]
    empty = tables(predictions=[hand.PREDICTIONS[3]], models=failed, backtests=[])
    canvas = Canvas()
    html = panels.section(canvas, empty)
    assert canvas.plots == []
    assert "no CLV: Gamma-Gamma: 3 repeat buyers is too few to fit" in html
    assert "no churn model yet: this published version has no back-test for it" in html
    assert "no recommendation model yet" in html


def test_the_report_has_the_predictions_section(tmp_path: Any) -> None:
    """The rendered report lists Predictions in its menu and draws its charts as JSON."""
    from clientela import report
    from clientela.engine import connect
    from conftest import make_workspace
    from helpers import land, run_job
    from worlds import CUSTOMER_AS_OF, customer_journeys

    ws = make_workspace(tmp_path / "ws")
    land(ws, customer_journeys())
    run_job(ws, CUSTOMER_AS_OF)
    hand.publish(ws)
    engine = connect(ws, reader=True)
    try:
        page = report.render(engine, ws.settings)
    finally:
        engine.close()
    assert '<a href="#predictions">Predictions</a>' in page
    for title in (
        "CLV distribution",
        "P(alive) by recency and frequency",
        "Churn-risk list",
        "Calibration",
        "Back-tests against baselines",
        "Fitted parameters",
    ):
        assert f"<h3>{title}</h3>" in page, title
    section = page[page.index('<section id="predictions">') :]
    plots = re.findall(r'id="(plot-\d+)"', section[: section.index("</section>")])
    assert len(plots) == 3  # histogram, heatmap, calibration
    payload = re.search(rf'data-plot="{plots[-1]}">(.*?)</script>', page)
    assert payload and json.loads(payload.group(1))["data"][1]["name"] == "churn"


def test_a_nan_from_a_model_is_left_out_of_the_charts() -> None:
    """A NaN calibration bin or P(alive) is not drawn, so the figure stays valid JSON."""
    from clientela.report import _json_for_script

    bins = [
        hand.backtest_row("churn", "calibration", 0.3, 0.2, bin=0, rows=5),
        hand.backtest_row("churn", "calibration", float("nan"), 0.5, bin=1, rows=5),
    ]
    odd = [*hand.PREDICTIONS, hand.prediction_row("z", p_alive=float("nan"), clv=float("inf"))]
    canvas = Canvas()
    panels.calibration(canvas, tables(backtests=bins))
    panels.p_alive_heatmap(canvas, tables(predictions=odd))
    panels.clv_distribution(canvas, tables(predictions=odd))
    assert canvas.plots[0]["data"][1]["x"] == [0.2]
    assert sum(n for row in canvas.plots[1]["data"][0]["customdata"] for n in row) == 3
    assert sum(canvas.plots[2]["data"][0]["y"]) == 3
    for plot in canvas.plots:
        _json_for_script(plot)  # raises on NaN
