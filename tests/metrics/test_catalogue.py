"""The metric catalogue: documented, with known units, reachable from the command line."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clientela import metrics
from clientela.cli import app
from clientela.engine import connect
from clientela.errors import ClientelaError
from clientela.metrics.base import change, display
from clientela.workspace import Workspace

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
UNITS = {"count", "%", "pp", "ratio", "rating", "minutes", "hours", "days", "text"}


def test_every_metric_is_documented_with_known_units() -> None:
    """docs/metrics.md has an entry for each registered metric; every column has a unit."""
    text = DOCS.read_text(encoding="utf-8")
    for name, metric in metrics.REGISTRY.items():
        assert f"**`{name}`**" in text, f"{name} is missing from docs/metrics.md"
        assert metric.formula and metric.title
        assert set(metric.units.values()) <= UNITS, name


def test_change_is_relative_or_in_points() -> None:
    """Counts change in percent of the previous value, percentages in points; 0 gives n/a."""
    assert change(15, 10) == 50.0  # (15 − 10) / 10 × 100
    assert change(-5, -10) == 50.0  # (−5 − −10) / |−10| × 100
    assert change(40.0, 55.0, points=True) == -15.0  # 40 % − 55 %
    assert str(change(3, 0)) == "n/a (previous period was 0)"
    assert display(change(3, 0), "%") == "n/a (previous period was 0)"
    assert display(-15.0, "pp") == "-15.0pp" and display(1234, "count") == "1,234"


def test_metrics_command_prints_values_with_units_and_na_reasons(
    customer_world: Workspace,
) -> None:
    """The table shows percentages and explains each n/a below it; JSON keeps the reason."""
    runner = CliRunner()
    args = [
        "metrics",
        "renewal_rate",
        "-w",
        str(customer_world.root),
        "--from",
        "2025-02-01",
        "--to",
        "2025-04-30",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "33.3%" in result.output  # February: 1 renewal / 3 decisions
    assert "n/a: no renewals or cancellations (2025-04 renewal_rate" in result.output
    result = runner.invoke(app, [*args, "--format", "json"])
    payload = json.loads(result.output)
    april = payload["rows"][-1]
    assert april["renewal_rate"] is None
    assert april["n/a"]["renewal_rate"] == "no renewals or cancellations"
    assert payload["units"]["change"] == "pp"


def test_metrics_command_rejects_unknown_names_and_options(customer_world: Workspace) -> None:
    """A wrong metric name lists the known ones; a wrong option names the metric's options."""
    runner = CliRunner()
    ws = str(customer_world.root)
    result = runner.invoke(app, ["metrics", "crr", "-w", ws])
    assert result.exit_code != 0 and "customer_retention" in str(result.exception)
    result = runner.invoke(app, ["metrics", "funnel", "-w", ws, "-o", "steps"])
    assert "NAME=VALUE" in str(result.exception)
    query = metrics.Query(start=date(2025, 2, 1), options={"colour": "red"})
    engine = connect(customer_world, reader=True)
    try:
        with pytest.raises(ClientelaError, match="has no option 'colour'"):
            metrics.compute(engine, customer_world.settings, "churn_rate", query)
    finally:
        engine.close()


def test_metrics_who_pages_with_limit_and_offset(customer_world: Workspace) -> None:
    """--who --limit/--offset pages the contacts behind a cell in contact order: the pages
    together are the whole list, and --limit alone without --who is refused."""
    runner = CliRunner()
    ws = str(customer_world.root)
    base = ["metrics", "customer_retention", "-w", ws, "--from", "2025-02-01", "--to", "2025-02-28"]
    base += ["--who", "period=2025-02", "--format", "json"]
    whole = runner.invoke(app, base)
    assert whole.exit_code == 0, whole.output
    everyone = [row["contact_id"] for row in json.loads(whole.output)]
    assert len(everyone) >= 2
    pages = []
    for offset in range(0, len(everyone), 1):
        page = runner.invoke(app, [*base, "--limit", "1", "--offset", str(offset)])
        assert page.exit_code == 0, page.output
        pages += [row["contact_id"] for row in json.loads(page.output)]
    assert pages == sorted(everyone)
    refused = runner.invoke(app, ["metrics", "customer_retention", "-w", ws, "--limit", "5"])
    assert refused.exit_code != 0 and "--who" in str(refused.exception)
