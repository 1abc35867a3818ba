"""clientela: a customer-lifecycle engine.

The public API: open or create a workspace, land events and CRM files, run the main job.

    from clientela import init_workspace, ingest_files, import_file, connect, run

The names are imported on first use (module ``__getattr__``, PEP 562), not with the package:
``import clientela.cli`` must not pay for the engine (Ibis, PyArrow, DuckDB) before a command
needs it, so that ``clientela --help`` answers at once. ``tests/test_lazy_imports.py`` guards it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see ``__getattr__``
    from clientela.engine import Engine, connect
    from clientela.errors import ClientelaError, ConfigError, InputError, WorkspaceError
    from clientela.ingest.crm import import_file
    from clientela.ingest.files import ingest_files
    from clientela.pipeline import run
    from clientela.workspace import Workspace, init_workspace, open_workspace

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY: dict[str, str] = {
    "ClientelaError": "clientela.errors",
    "ConfigError": "clientela.errors",
    "Engine": "clientela.engine",
    "InputError": "clientela.errors",
    "Workspace": "clientela.workspace",
    "WorkspaceError": "clientela.errors",
    "connect": "clientela.engine",
    "import_file": "clientela.ingest.crm",
    "ingest_files": "clientela.ingest.files",
    "init_workspace": "clientela.workspace",
    "open_workspace": "clientela.workspace",
    "run": "clientela.pipeline",
}

__all__ = [
    "ClientelaError",
    "ConfigError",
    "Engine",
    "InputError",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "connect",
    "import_file",
    "ingest_files",
    "init_workspace",
    "open_workspace",
    "run",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and keep the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clientela' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
