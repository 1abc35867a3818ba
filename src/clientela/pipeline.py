"""The main job: resolve identities, build profiles, publish the results atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import ibis.expr.types as ir

from clientela import identity, profiles
from clientela.engine import Engine
from clientela.workspace import Workspace

# Published tables, in the order they are written.
TABLES = (
    "identities",
    "identity_conflicts",
    "contacts",
    "contact_traits",
    "accounts",
    "account_traits",
    "memberships",
)


@dataclass
class RunReport:
    """What a run published, with row counts and timings."""

    version: str = ""
    engine: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def compute(engine: Engine, workspace: Workspace) -> dict[str, ir.Table]:
    """Every result table of the main job, as Ibis expressions (nothing runs yet)."""
    graph = identity.resolve(engine, workspace.settings)
    built = profiles.build(engine, workspace.settings, graph)
    return {
        "identities": graph.identities,
        "identity_conflicts": graph.conflicts,
        "contacts": built.contacts,
        "contact_traits": built.contact_traits,
        "accounts": built.accounts,
        "account_traits": built.account_traits,
        "memberships": built.memberships,
    }


def run(
    engine: Engine, workspace: Workspace, on_table: Callable[[str], None] | None = None
) -> RunReport:
    """Compute and publish; returns the published version and row counts."""
    started = time.perf_counter()
    tables = compute(engine, workspace)
    version = engine.publish(tables, on_table=on_table)
    report = RunReport(version=version, engine=engine.kind)
    for name in TABLES:
        report.rows[name] = int(engine.to_arrow(engine.published(name).count()).as_py())
    report.seconds = time.perf_counter() - started
    return report
