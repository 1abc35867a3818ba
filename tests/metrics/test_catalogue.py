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
UNITS = {"count", "%", "pp", "ratio", "rating", "money", "minutes", "hours", "days", "text"}


def test_every_metric_is_documented_with_known_units() -> None:
    """docs/metrics.md has an entry for each registered metric; every column has a unit."""
    text = DOCS.read_text(encoding="utf-8")
    for name, metric in metrics.REGISTRY.items():
        assert f"**`{name}`**" in text, f"{name} is missing from docs/metrics.md"
        assert metric.formula and metric.title
        assert set(metric.units.values()) <= UNITS, name


def test_every_option_and_choice_is_documented() -> None:
    """Each metric's entry in docs/metrics.md names its options, defaults and choices."""
    text = DOCS.read_text(encoding="utf-8")
    for name, metric in metrics.REGISTRY.items():
        entry = text.split(f"- **`{name}`**", 1)[1].split("\n- ", 1)[0]
        for option, default in metric.options.items():
            listed = f"`{option}` (default `{default}`"
            choices = metric.choices.get(option)
            if choices:
                listed += "; one of " + ", ".join(f"`{c}`" for c in choices)
            assert listed in entry, f"{name}: {listed}"


def test_change_is_relative_or_in_points() -> None:
    """Counts change in percent of the previous value, percentages in points; 0 gives n/a."""
    assert change(15, 10) == 50.0  # (15 − 10) / 10 × 100
    assert change(-5, -10) == 50.0  # (−5 − −10) / |−10| × 100
    assert change(40.0, 55.0, points=True) == -15.0  # 40 % − 55 %
    assert str(change(3, 0)) == "n/a (previous period was 0)"
    assert display(change(3, 0), "%") == "n/a (previous period was 0)"
    assert display(-15.0, "pp") == "-15.0pp" and display(1234, "count") == "1,234"
    assert display(4.0, "count") == "4" and display(0.6, "count") == "0.60"  # an average


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


def test_a_misspelled_metric_option_or_choice_gets_a_suggestion(customer_world: Workspace) -> None:
    """did you mean … for a metric name, an option, an option's value, a dimension, a period."""
    runner = CliRunner()
    ws = str(customer_world.root)
    result = runner.invoke(app, ["metrics", "chrun_rate", "-w", ws])
    assert "no metric called 'chrun_rate'; did you mean 'churn_rate'?" in str(result.exception)
    result = runner.invoke(app, ["metrics", "funnel", "-w", ws, "-o", "mdoe=strict"])
    assert "has no option 'mdoe'; did you mean 'mode'?" in str(result.exception)
    result = runner.invoke(app, ["metrics", "funnel", "-w", ws, "-o", "mode=strcit"])
    assert "option 'mode' must be one of" in str(result.exception)
    assert "did you mean 'strict'?" in str(result.exception)
    result = runner.invoke(app, ["metrics", "churn_rate", "-w", ws, "--by", "stgae"])
    assert "cannot break down by 'stgae'; did you mean 'stage'?" in str(result.exception)
    result = runner.invoke(app, ["metrics", "churn_rate", "-w", ws, "--period", "mnoth"])
    assert "did you mean 'month'?" in str(result.exception)


def test_metrics_where_refuses_a_value_that_cannot_exist(customer_world: Workspace) -> None:
    """--where stage=prospekt is an error with a suggestion, not a table of zeros."""
    runner = CliRunner()
    ws = str(customer_world.root)
    base = ["metrics", "churn_rate", "-w", ws, "--from", "2025-02-01", "--to", "2025-03-31"]
    result = runner.invoke(app, [*base, "--where", "stage=prospekt"])
    assert "unknown stage 'prospekt'; did you mean 'prospect'?" in str(result.exception)
    result = runner.invoke(app, [*base, "--where", "grade=Z9"])
    assert "unknown grade 'Z9'" in str(result.exception)
    result = runner.invoke(app, [*base, "--where", "stage=customer,(none)", "--where", "fit=A,D"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("month", "2025-03-10", "2025-03-01"),
        ("month", "2025-03-10", "2025-01-15"),
        ("week", "2025-05-07", "2025-05-05"),
    ],
)
def test_metrics_refuse_a_range_that_ends_before_it_starts(
    customer_world: Workspace, period: str, start: str, end: str
) -> None:
    """--to before --from is refused for every period, naming the --from that was given."""
    runner = CliRunner()
    ws = str(customer_world.root)
    args = ["metrics", "churn_rate", "-w", ws, "--period", period, "--from", start, "--to", end]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert f"--to ({end}) is before --from ({start})" in str(result.exception)


def test_metrics_on_an_empty_workspace_say_what_to_do(tmp_path: Path) -> None:
    """Nothing landed: metrics say to ingest first, before and after a run."""
    runner = CliRunner()
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", ws]).exit_code == 0
    result = runner.invoke(app, ["metrics", "churn_rate", "-w", ws])
    assert "clientela ingest FILE" in str(result.exception)
    assert runner.invoke(app, ["run", "-w", ws]).exit_code == 0
    result = runner.invoke(app, ["metrics", "churn_rate", "-w", ws])
    assert result.exit_code == 0, result.output
    assert "nothing has been landed" in result.output and "clientela ingest FILE" in result.output


def test_metrics_write_parquet_with_the_reasons(customer_world: Workspace, tmp_path: Path) -> None:
    """--format parquet needs --out and writes the rows with a notes column for each n/a."""
    import pyarrow.parquet as pq

    runner = CliRunner()
    ws = str(customer_world.root)
    args = ["metrics", "renewal_rate", "-w", ws, "--from", "2025-02-01", "--to", "2025-04-30"]
    result = runner.invoke(app, [*args, "--format", "parquet"])
    assert result.exit_code != 0 and "--out" in str(result.exception)
    out = tmp_path / "renewals.parquet"
    result = runner.invoke(app, [*args, "--format", "parquet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["period"]: r for r in pq.read_table(out).to_pylist()}
    # March: a renewed, nobody cancelled: 1 / 1 = 100 %; April had no decisions.
    assert rows["2025-03"]["renewal_rate"] == 100.0
    assert rows["2025-04"]["renewal_rate"] is None
    assert rows["2025-04"]["notes"] == (
        "renewal_rate: n/a, no renewals or cancellations; change: n/a, this period has no value"
    )


def test_metrics_who_shows_times_not_epoch_seconds(tmp_path: Path) -> None:
    """--who prints the instants of a fact (secs, lead_at) as ISO times in the report zone."""
    from conftest import make_workspace
    from helpers import land, run_job
    from worlds import CUSTOMER_AS_OF, customer_journeys

    space = make_workspace(tmp_path / "ws", '[report]\ntimezone = "Europe/Madrid"\n')
    land(space, customer_journeys())
    run_job(space, CUSTOMER_AS_OF)
    runner = CliRunner()
    ws = str(space.root)
    base = ["metrics", "renewal_rate", "-w", ws, "--from", "2025-02-01", "--to", "2025-02-28"]
    result = runner.invoke(app, [*base, "--who", "period=2025-02,renewal=1", "--format", "json"])
    assert result.exit_code == 0, result.output
    # a renewed at 09:00 UTC on 3 February: 10:00 in Madrid (UTC+1 in winter).
    assert [r["secs"] for r in json.loads(result.output)] == ["2025-02-03T10:00:00+01:00"]
    # The time as shown picks the same cell (with or without its offset).
    for shown in ("2025-02-03T10:00:00+01:00", "2025-02-03T10:00:00"):
        picked = runner.invoke(app, [*base, "--who", f"secs={shown}", "--format", "json"])
        assert [r["contact_id"] for r in json.loads(picked.output)] == ["a"], picked.output
    lead = ["metrics", "conversion_rate", "-w", ws, "--from", "2025-02-01", "--to", "2025-02-28"]
    result = runner.invoke(app, [*lead, "--who", "period=2025-02", "--format", "csv"])
    assert result.exit_code == 0, result.output
    # c became a lead at 09:00 UTC on 5 February.
    assert "2025-02-05T10:00:00+01:00" in result.output
