"""The ``clientela`` command line (Typer + Rich), one module per command group.

``common`` holds the app, shared options and flag parsing; ``output`` the consoles and how
data is printed and written (verbatim: no markup from data, no formulas in CSV). The command
modules register themselves on ``app`` when imported, in the order the commands are listed
by ``clientela --help``:

- ``ingest``: init, ingest, import contacts|accounts
- ``quarantine``: quarantine list|show|retry
- ``run``: run, score
- ``deliver``: deliver, deliveries list
- ``contacts``: contacts show|list, explain
- ``predict``: predict
- ``actions``: actions list|show; ``policy``: policy dnc add|remove|list
- ``segments``: segments list|show|create|export, playbook show
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
from clientela.cli import deliver  # noqa: F401  deliver, deliveries
from clientela.cli import contacts  # noqa: F401  contacts, explain
from clientela.cli import predict  # noqa: F401  the model report
from clientela.cli import actions  # noqa: F401  actions list|show
from clientela.cli import policy  # noqa: F401  policy dnc add|remove|list
from clientela.cli import segments  # noqa: F401  segments list|show|create|export, playbook
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
