"""Lifecycle KPIs (seeds 000–004) as Ibis expressions on either engine.

One module per family; each registers its metrics in :data:`REGISTRY` (``clientela metrics
list``). :func:`compute` runs one for a :class:`Query`; :func:`who` lists the contacts behind
one of its cells. ``docs/metrics.md`` gives every formula and edge case.
"""

from clientela.metrics.base import (
    NA,
    REGISTRY,
    Metric,
    MetricResult,
    Query,
    compute,
    display,
    get,
    plain,
    who,
)

__all__ = [
    "NA",
    "REGISTRY",
    "Metric",
    "MetricResult",
    "Query",
    "compute",
    "display",
    "get",
    "plain",
    "who",
]

# The families register their metrics when imported.
from clientela.metrics import (  # noqa: F401
    care,
    cohorts,
    community,
    conversion,
    feedback,
    funnels,
    growth,
    loyalty,
    retention,
    subscriptions,
)
