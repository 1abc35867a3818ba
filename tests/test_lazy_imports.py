"""The command line starts without the engine: a regression guard for lazy imports.

``clientela --help`` must answer at once (issue 12: under 0.5 s), so importing the CLI, and
showing any command's help, must not import the engine stack or the server. Each check runs
in a fresh interpreter, where ``sys.modules`` starts empty. (No timings here: those are in
``bench/RESULTS.md``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import clientela

HEAVY = ("ibis", "pyarrow", "duckdb", "pandas", "polars", "pyspark", "fastapi", "uvicorn")

# Prints which HEAVY packages the code before it imported, as JSON.
_REPORT = (
    "import json, sys\n"
    f"heavy = {HEAVY!r}\n"
    "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
)


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter importing this clientela; its stdout."""
    src = str(Path(clientela.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_cli_does_not_import_the_engine() -> None:
    out = _python("import clientela.cli\n" + _REPORT)
    assert json.loads(out) == []


def test_every_command_shows_its_help_without_the_engine() -> None:
    """Every command and sub-command answers ``--help``, and none of that imports HEAVY."""
    code = (
        "import contextlib, io, json\n"
        "import typer.main\n"
        "from clientela.cli import app\n"
        "root = typer.main.get_command(app)\n"
        "paths = [[]]\n"
        "for name, command in root.commands.items():\n"
        "    paths.append([name])\n"
        "    paths += [[name, sub] for sub in getattr(command, 'commands', {})]\n"
        "shown = {}\n"
        "for path in paths:\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            app([*path, '--help'])\n"
        "        except SystemExit as exc:\n"
        "            code = exc.code\n"
        "    shown[' '.join(path)] = [code, 'Usage:' in out.getvalue()]\n"
        "print(json.dumps(shown))\n" + _REPORT
    )
    shown_line, heavy_line = _python(code).splitlines()
    shown = json.loads(shown_line)
    assert {"", "run", "score", "ingest", "import contacts", "serve", "demo"} <= shown.keys()
    assert {path: result for path, result in shown.items() if result != [0, True]} == {}
    assert json.loads(heavy_line) == []


def test_the_public_names_still_import() -> None:
    from clientela import ConfigError, connect, init_workspace, run
    from clientela.engine import connect as engine_connect
    from clientela.errors import ConfigError as Error
    from clientela.pipeline import run as pipeline_run
    from clientela.workspace import init_workspace as workspace_init

    assert (connect, run, init_workspace, ConfigError) == (
        engine_connect,
        pipeline_run,
        workspace_init,
        Error,
    )
    assert all(hasattr(clientela, name) for name in clientela.__all__)
    assert set(clientela.__all__) <= set(dir(clientela))
    try:
        clientela.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
