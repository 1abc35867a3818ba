"""Reading back what landed, for assertions."""

from __future__ import annotations

from typing import Any

from clientela.engine import scratch_duckdb
from clientela.workspace import Workspace


def landed_events(ws: Workspace) -> list[dict[str, Any]]:
    """Every landed event as a dict, in (source, line, item) order."""
    files = [str(p) for p in ws.segments(ws.events_dir)]
    if not files:
        return []
    con = scratch_duckdb()
    try:
        return list(
            con.execute(
                "SELECT * FROM read_parquet(?) ORDER BY source, line, item NULLS FIRST", [files]
            )
            .to_arrow_table()
            .to_pylist()
        )
    finally:
        con.close()


def quarantined(ws: Workspace) -> list[dict[str, Any]]:
    """Every open quarantined record as a dict, in file order."""
    from clientela.ingest.quarantine import open_records

    return list(open_records(ws).to_pylist())


def run_job(
    ws: Workspace, as_of: Any = None, kind: str = "duckdb"
) -> dict[str, list[dict[str, Any]]]:
    """Run the main job (as of ``as_of``) and return every published table as rows."""
    from clientela import pipeline
    from clientela.engine import connect

    engine = connect(ws, kind)
    try:
        pipeline.run(engine, ws, as_of=as_of)
        return {
            name: engine.to_arrow(engine.published(name)).to_pylist() for name in pipeline.TABLES
        }
    finally:
        engine.close()


def land(ws: Workspace, journeys: Any, name: str = "events.jsonl") -> None:
    """Write a journeys builder's lines to a file and land it."""
    from clientela.ingest.files import ingest_files

    path = ws.root / "input" / name
    journeys.write(path)
    ingest_files(ws, [path])


def metric_rows(
    ws: Workspace, name: str, query: Any = None, kind: str = "duckdb"
) -> list[dict[str, Any]]:
    """Rows of one metric over the published results; n/a values become their text
    (``"n/a (no customers at the start)"``) so tests can compare them."""
    from clientela import metrics
    from clientela.engine import connect

    engine = connect(ws, kind, reader=True)
    try:
        result = metrics.compute(engine, ws.settings, name, query)
        return [
            {k: str(v) if isinstance(v, metrics.NA) else v for k, v in row.items()}
            for row in result.rows
        ]
    finally:
        engine.close()


class RecordingCanvas:
    """A :class:`clientela.panels.Canvas` for panel tests: keeps every chart a panel asks
    for, as the report does, and draws figures as plain HTML."""

    def __init__(self) -> None:
        self.plots: list[dict[str, Any]] = []

    def plot(
        self, data: list[dict[str, Any]], layout: dict[str, Any], height: int, label: str
    ) -> str:
        self.plots.append({"data": data, "layout": layout, "label": label})
        return f'<div class="plot" aria-label="{label}"></div>'

    def figure(self, title: str, what: str, formula: str, body: str, wide: bool = False) -> str:
        return f"<figure><h3>{title}</h3><p>{what}</p><p>{formula}</p>{body}</figure>"
