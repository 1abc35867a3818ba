"""The ``clientela`` command line (Typer + Rich), one module per command group.

``common`` holds the app, shared options and flag parsing; ``output`` the consoles and how
data is printed and written (verbatim: no markup from data, no formulas in CSV). The command
modules register themselves on ``app`` when imported, in the order the commands are listed
by ``clientela --help``:

- ``ingest``: init, ingest, import contacts|accounts
- ``quarantine``: quarantine list|show|retry
- ``run``: run, score
- ``contacts``: contacts show|list, explain
- ``predict``: predict
- ``loyalty``: loyalty show|summary
- ``metrics``: metrics
- ``report``: report
- ``keys``: keys create|list|revoke
- ``serve``: serve
- ``demo``: demo-data, demo
"""

from __future__ import annotations

# The command modules register their commands on ``app`` when imported: this order is the
# order of ``clientela --help``.
# isort: off
from clientela.cli.common import app, main
from clientela.cli import ingest  # noqa: F401  init, ingest, import
from clientela.cli import quarantine  # noqa: F401
from clientela.cli import run  # noqa: F401  run, score
from clientela.cli import contacts  # noqa: F401  contacts, explain
from clientela.cli import predict  # noqa: F401  the model report
from clientela.cli import loyalty  # noqa: F401  loyalty show|summary
from clientela.cli import check  # noqa: F401  the tracking plan check
from clientela.cli import metrics  # noqa: F401
from clientela.cli import report  # noqa: F401
from clientela.cli import keys  # noqa: F401
from clientela.cli import privacy  # noqa: F401  privacy forget|export|retention
from clientela.cli import serve  # noqa: F401
from clientela.cli import demo  # noqa: F401  demo-data, demo
# isort: on

__all__ = ["app", "main"]
