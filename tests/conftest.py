"""Shared fixtures: workspaces, the journeys builder, and engines (DuckDB and Spark)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# pytest-xdist's workers start with COLUMNS=80 in their environment, and Rich fixes its
# console's width when the console is created: tests that pass COLUMNS to a command would
# then get 80 columns on a worker and their own width in a plain run.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

from clientela.workspace import Workspace, init_workspace, open_workspace

sys.path.insert(0, str(Path(__file__).parent))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Fixtures with worlds shared by several test modules.
pytest_plugins = ["worlds"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs ``-n 2 --dist loadgroup``): every Spark test
    goes to one worker, so a run starts one Spark session; every other test runs on the
    worker that has the rest of its file, so module-scoped worlds are built once."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        spark = item.get_closest_marker("spark") or "spark_session" in getattr(
            item, "fixturenames", ()
        )
        group = "spark" if spark else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


def make_workspace(root: Path, toml: str = "") -> Workspace:
    """A fresh workspace in ``root``; ``toml`` is appended to the default settings."""
    ws = init_workspace(root)
    if toml:
        path = ws.root / "clientela.toml"
        path.write_text(toml, encoding="utf-8")
        ws = open_workspace(ws.root)
    return ws


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An empty workspace with default settings."""
    return make_workspace(tmp_path / "ws")


def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'clientela[spark]')"
    if shutil.which("java") is None:
        return "Java is not installed (Spark needs Java 17)"
    return None


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local Spark session for the whole run (starting one takes seconds)."""
    reason = _spark_missing()
    if reason:
        if IN_CI:
            pytest.fail(f"Spark tests must run in CI: {reason}")
        pytest.skip(reason)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("clientela-tests")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    yield session
    session.stop()
