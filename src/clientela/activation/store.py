"""The delivery store: what was sent where, kept in the workspace (``state/``).

(Contract stub: nothing has been sent until destinations are built.)
"""

from __future__ import annotations

import pyarrow as pa

from clientela.activation.tables import SENT_SCHEMA
from clientela.workspace import Workspace


def sent_messages(workspace: Workspace) -> pa.Table:
    """:data:`~clientela.activation.tables.SENT_SCHEMA`: every message delivered so far."""
    return SENT_SCHEMA.empty_table()
