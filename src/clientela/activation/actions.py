"""Reading the published actions and consent: what ``clientela actions``, the read API and
``make demo`` share.

* :func:`table`: a published activation table, or an empty one of its shape when the
  published version predates it (reads never fail on an older workspace);
* :func:`select`: the filters of ``clientela actions list`` and ``GET /api/actions``;
* :func:`summary`: planned actions by action, suppressed ones by kind of reason.

Nothing here decides anything: the policy did (:mod:`clientela.activation.policy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from clientela.activation.tables import ACTIONS_SCHEMA, CONSENT_SCHEMA
from clientela.errors import ConfigError

SCHEMAS: dict[str, pa.Schema] = {"actions": ACTIONS_SCHEMA, "consent": CONSENT_SCHEMA}
STATUSES = ("planned", "suppressed")
REASON_KINDS = ("do-not-contact", "no consent", "non-buyer class", "quiet hours", "capped")
"""The kinds of suppression, in the policy's order of precedence (the words before the
colon of ``suppressed_reason``)."""


def table(engine: Any, name: str) -> ir.Table:
    """The published ``actions`` or ``consent``; empty (of its shape) when the published
    version was written before activation existed."""
    found: ir.Table = engine.published_or_empty(name, SCHEMAS[name])
    return found


def select(
    actions: ir.Table,
    status: str | None = None,
    action: str | None = None,
    contact_id: str | None = None,
) -> ir.Table:
    """Actions with ``status`` (planned or suppressed), of ``action``, of one contact."""
    if status is not None and status not in STATUSES:
        raise ConfigError("status", status, " or ".join(STATUSES))
    if status is not None:
        actions = actions.filter(actions.status == status)
    if action is not None:
        actions = actions.filter(actions.action == action)
    if contact_id is not None:
        actions = actions.filter(actions.contact_id == contact_id)
    return actions


def ordered(actions: ir.Table) -> ir.Table:
    """Most urgent first (priority 1), then by action and contact: a stable page order."""
    return actions.order_by([actions.priority, actions.action, actions.contact_id])


@dataclass(frozen=True)
class Summary:
    """What the policy let through and what it stopped, for one published run."""

    planned: dict[str, int] = field(default_factory=dict)
    """Planned actions by action name, most first."""
    suppressed: dict[str, int] = field(default_factory=dict)
    """Suppressed actions by kind of reason, in the order of :data:`REASON_KINDS`."""

    @property
    def total(self) -> int:
        return sum(self.planned.values()) + sum(self.suppressed.values())


def summary(engine: Any) -> Summary:
    """Planned actions by action and suppressed ones by kind of reason (one group-by)."""
    actions = table(engine, "actions")
    kind = actions.suppressed_reason.re_extract(r"^([^:]*)", 1)
    key = ibis.ifelse(actions.status == "planned", actions.action, kind)
    counted = actions.group_by(status=actions.status, key=key).aggregate(n=actions.count())
    rows = engine.to_arrow(counted).to_pylist()
    planned = sorted(
        ((r["key"], int(r["n"])) for r in rows if r["status"] == "planned"),
        key=lambda kv: (-kv[1], kv[0]),
    )
    order = {k: i for i, k in enumerate(REASON_KINDS)}
    stopped = sorted(
        ((r["key"], int(r["n"])) for r in rows if r["status"] == "suppressed"),
        key=lambda kv: (order.get(kv[0], len(order)), kv[0]),
    )
    return Summary(planned=dict(planned), suppressed=dict(stopped))
