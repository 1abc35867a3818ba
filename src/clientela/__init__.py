"""clientela: a customer-lifecycle engine.

The public API: open or create a workspace, land events and CRM files, run the main job.

    from clientela import init_workspace, ingest_files, import_file, connect, run
"""

from clientela.engine import Engine, connect
from clientela.errors import ClientelaError, ConfigError, InputError, WorkspaceError
from clientela.ingest.crm import import_file
from clientela.ingest.files import ingest_files
from clientela.pipeline import run
from clientela.workspace import Workspace, init_workspace, open_workspace

__version__ = "0.1.0"

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
