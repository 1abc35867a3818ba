"""docs/segments.md and docs/playbook.md: their examples run and give the hand-computed
members and actions; every fact and every preset rule is documented."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ibis
import pytest
from facts_tables import events, facts
from typer.testing import CliRunner

from clientela.activation import playbook, segments
from clientela.activation.conditions import FACT_KINDS
from clientela.cli import app
from clientela.config import Settings
from clientela.engine import Engine, connect
from clientela.predict.tables import RECOMMENDATIONS_SCHEMA
from conftest import make_workspace

DOCS = Path(__file__).resolve().parents[2] / "docs"
AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def _blocks(name: str, kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", (DOCS / name).read_text("utf-8"), re.S)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = connect(make_workspace(tmp_path_factory.mktemp("docs") / "ws"), "duckdb")
    yield eng
    eng.close()


PEOPLE = facts(
    [
        {"contact_id": "p1", "stage": "prospect"},
        {"contact_id": "p2", "stage": "customer", "orders": 2.0, "churn_risk": 0.8},
        {"contact_id": "p3", "stage": "customer", "orders": 2.0, "churn_risk": 0.1},
    ],
    plan={"p2": "pro", "p3": "free"},
)
EVENTS = events(
    [
        ("p1", "page", "/pricing", AS_OF - timedelta(days=2), None),
        ("p2", "track", "Order Completed", AS_OF - timedelta(days=10), None),
        ("p2", "track", "Order Completed", AS_OF - timedelta(days=80), None),
        ("p3", "track", "Order Completed", AS_OF - timedelta(days=20), None),
        ("p3", "track", "Order Completed", AS_OF - timedelta(days=30), None),
    ]
)


def _members(engine: Engine, settings: Settings) -> dict[str, list[str]]:
    got = segments.evaluate(engine, settings, {}, PEOPLE, EVENTS, None, AS_OF)
    out: dict[str, list[str]] = {}
    for row in engine.to_arrow(got.members).to_pylist():
        out.setdefault(row["segment"], []).append(row["contact_id"])
    return {k: sorted(v) for k, v in out.items()}


def test_segments_doc_example(engine: Engine) -> None:
    """The TOML of docs/segments.md: p1 visited /pricing 2 days ago and never bought; p2 and
    p3 ordered twice in 90 days; only p2 is on pro with churn risk 0.8 >= 0.7."""
    [block] = _blocks("segments.md", "toml")
    settings = Settings.model_validate(tomllib.loads(block))
    assert _members(engine, settings) == {
        "pricing_not_bought": ["p1"],
        "repeat_buyers": ["p2", "p3"],
        "vip_at_risk": ["p2"],
    }


def test_playbook_doc_example(engine: Engine) -> None:
    """The TOML of docs/playbook.md: p2 (repeat buyer, churn 0.8) gets the call, p1 the
    pricing help, p3 (churn 0.1) the cross-sell with its one suggestion."""
    [block] = _blocks("playbook.md", "toml")
    settings = Settings.model_validate(tomllib.loads(block))
    chosen = segments.evaluate(engine, settings, {}, PEOPLE, EVENTS, None, AS_OF)
    recs = ibis.memtable(
        [
            {"contact_id": "p3", "rank": 1, "kind": "cross_sell", "product_id": "yarn",
             "product_name": "Yarn", "category": "Yarn", "score": 1.0, "support": 2.0,
             "confidence": 0.5, "lift": 2.0, "because_of": "kit", "reason": "goes with Kit"}
        ],
        schema=ibis.schema(RECOMMENDATIONS_SCHEMA),
    )  # fmt: skip
    got = playbook.propose(engine, settings, PEOPLE, EVENTS, chosen.members, recs, AS_OF)
    rows = {r["contact_id"]: r for r in engine.to_arrow(got).to_pylist()}
    assert {c: r["action"] for c, r in rows.items()} == {
        "p1": "pricing_help",
        "p2": "vip_call",
        "p3": "cross_sell",
    }
    assert rows["p2"]["reason"] == "VIP with 2 orders and a churn risk of 0.8: a personal call."
    assert '"product_id": "yarn"' in rows["p3"]["products"]


def test_documented_error_and_command(tmp_path: Path) -> None:
    """The error shown in docs/segments.md is the one given; the create command prints what
    the doc shows."""
    [shown] = _blocks("segments.md", "text")
    with pytest.raises(segments.SegmentError) as caught:
        segments.parse("late", {"all": [{"did": "Signed Up", "within_days": 0}]})
    assert str(caught.value) == shown.strip()
    console = _blocks("segments.md", "console")[0].strip().splitlines()
    command, expected = console[0].removeprefix("$ clientela "), console[1]
    ws = make_workspace(tmp_path / "ws")
    args = [*_split(command), "--workspace", str(ws.root)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == expected
    assert set(segments.saved(ws)) == {"fans"}


def _split(command: str) -> list[str]:
    import shlex

    return shlex.split(command)


def test_every_fact_and_preset_rule_is_documented() -> None:
    """Each fact has a row in docs/segments.md; each preset rule in docs/playbook.md."""
    text = (DOCS / "segments.md").read_text("utf-8")
    for fact in FACT_KINDS:
        assert f"`{fact}`" in text, fact
    rules = (DOCS / "playbook.md").read_text("utf-8")
    for rule in Settings().playbook.rules:
        assert f"`{rule.action}`" in rules, rule.action
