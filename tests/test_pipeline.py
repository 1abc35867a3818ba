"""The main job end to end: as-of replay, the ledger adding up, the demo world's
non-buyers and buyers found where they should be, and its actions within the policy."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clientela.datasets.demo import DemoSpec, generate, write_demo_settings
from clientela.engine import scratch_duckdb
from clientela.ingest.crm import import_file
from clientela.ingest.files import ingest_files
from clientela.workspace import Workspace, init_workspace, open_workspace
from helpers import run_job

REPLAY_AT = datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC)


def _demo_workspace(root: Path, contacts: int) -> Workspace:
    ws = init_workspace(root)
    write_demo_settings(ws.root / "clientela.toml")
    ws = open_workspace(ws.root)
    data = root / "input"
    generate(data, DemoSpec(contacts=contacts, bad_records=False))
    ingest_files(ws, [data / "events"])
    import_file(ws, "contacts", data / "crm" / "contacts.csv")
    import_file(ws, "accounts", data / "crm" / "accounts.csv")
    return ws


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict[str, Any]]:
    ws = _demo_workspace(tmp_path_factory.mktemp("demo") / "ws", 400)
    return ws, run_job(ws, as_of=DemoSpec().as_of)


def _truncated_copy(ws: Workspace, root: Path, cut: datetime) -> Workspace:
    """A workspace holding only what had happened by ``cut``: the truncated landed data."""
    copy = init_workspace(root)
    (copy.root / "clientela.toml").write_text((ws.root / "clientela.toml").read_text())
    con = scratch_duckdb()
    for name, where in (
        ("events", "timestamp <= $cut"),
        ("contacts", "created_at IS NULL OR created_at <= $cut"),
        ("accounts", "true"),
    ):
        files = [str(p) for p in ws.segments(ws.root / "landed" / name)]
        target = copy.root / "landed" / name / f"{name}-truncated.parquet"
        con.execute(
            f"COPY (SELECT * FROM read_parquet($files) WHERE {where}) TO '{target}' "
            "(FORMAT parquet)",
            {"files": files, "cut": cut} if "$cut" in where else {"files": files},
        )
    return open_workspace(copy.root)


def _comparable(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in rows)


def test_as_of_replay_equals_a_run_on_truncated_data(
    demo: tuple[Workspace, dict[str, Any]], tmp_path: Path
) -> None:
    """Scoring as of a past date gives exactly what a run on the data of that date gives."""
    ws, _ = demo
    replay = run_job(ws, as_of=REPLAY_AT)
    truncated = run_job(_truncated_copy(ws, tmp_path / "cut", REPLAY_AT), as_of=REPLAY_AT)
    for name in replay:
        assert _comparable(replay[name]) == _comparable(truncated[name]), name
    assert replay["score_ledger"], "the replay date should have scored events"


def test_ledger_adds_up_to_every_score(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """For every contact and model, fit and raw engagement equal the sums of ledger rows."""
    _, tables = demo
    sums: dict[tuple[str, str, str], float] = {}
    for r in tables["score_ledger"]:
        key = (r["contact_id"], r["model"], r["dimension"])
        sums[key] = sums.get(key, 0.0) + r["points"]
    scored = [s for s in tables["scores"] if s["scored"]]
    assert scored
    for s in scored:
        key = (s["contact_id"], s["model"])
        assert s["fit"] == pytest.approx(sums.get((*key, "fit"), 0.0), abs=1e-6)
        assert s["engagement_points"] == pytest.approx(
            sums.get((*key, "engagement"), 0.0), abs=1e-6
        )
        assert 0 <= s["fit"] <= 100 and 0 <= s["engagement"] < 100


def _truth(ws: Workspace) -> dict[str, dict[str, str]]:
    with open(ws.root / "input" / "truth.csv", newline="") as f:
        return {r["contact_key"]: r for r in csv.DictReader(f)}


def test_demo_non_buyers_are_classified(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """Every contact classed as a non-buyer really is one (precision 1), and every identified
    competitor, student, job seeker, employee and vendor, and every bot, is found."""
    ws, tables = demo
    truth = _truth(ws)
    got = {r["contact_id"].removeprefix("anon:"): r["audience_class"] for r in tables["audience"]}
    identified = {r["contact_id"] for r in tables["contacts"] if r["identified"]}
    for key, row in truth.items():
        expected = row["audience_class"]
        if got[key] != "buyer":
            assert got[key] == expected, key
        if expected == "bot" or (expected != "buyer" and key in identified):
            assert got[key] == expected, key


def test_demo_buyers_rank_above_the_rest(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """Among graded contacts, those who bought have better grades (AUC well above 0.5)."""
    ws, tables = demo
    truth = _truth(ws)

    def rank(grade: str) -> int:
        return "ABCD".index(grade[0]) * 4 + int(grade[1]) - 1

    graded = [
        (rank(r["grade"]), truth[r["contact_id"].removeprefix("anon:")]["bought"] == "true")
        for r in tables["lifecycle"]
        if r["grade"]
    ]
    bought = [g for g, b in graded if b]
    other = [g for g, b in graded if not b]
    assert bought and other
    wins = sum((b < o) + 0.5 * (b == o) for b in bought for o in other)
    assert wins / (len(bought) * len(other)) > 0.8


def test_demo_no_marketing_goes_to_a_non_buyer_or_an_unsubscribed_contact(
    demo: tuple[Workspace, dict[str, Any]],
) -> None:
    """On the whole demo world, no planned marketing or sales action is for a non-buyer or
    for someone whose latest Unsubscribed / Resubscribed event is an unsubscribe (read from
    the activity table, not from the policy's own consent table, which must agree)."""
    _, tables = demo
    classes = {r["contact_id"]: r["audience_class"] for r in tables["audience"]}
    latest: dict[str, tuple[Any, str]] = {}
    for r in tables["activity"]:
        if r["event"] in ("Unsubscribed", "Resubscribed"):
            seen = latest.get(r["contact_id"])
            if seen is None or r["timestamp"] >= seen[0]:
                latest[r["contact_id"]] = (r["timestamp"], r["event"])
    unsubscribed = {c for c, (_, event) in latest.items() if event == "Unsubscribed"}
    assert unsubscribed
    selling = [a for a in tables["actions"] if a["purpose"] in ("marketing", "sales")]
    planned = [a for a in selling if a["status"] == "planned"]
    assert planned
    for action in planned:
        assert classes[action["contact_id"]] == "buyer", action
        if action["channel"] == "email":
            assert action["contact_id"] not in unsubscribed, action
    # The policy's consent table says the same about every one of them.
    refused = {
        r["contact_id"] for r in tables["consent"] if r["channel"] == "email" and not r["granted"]
    }
    assert refused == unsubscribed
    stopped = [a for a in tables["actions"] if a["status"] == "suppressed"]
    assert stopped and all(a["suppressed_reason"] for a in stopped)
