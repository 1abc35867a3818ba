"""The shapes of the published prediction tables, shared by the models that fill them.

* ``predictions``: one row per contact with any prediction — the lifetime-value columns of
  :data:`clientela.predict.clv.PREDICTIONS_SCHEMA` (buyers) and the propensity columns of
  :data:`PROPENSITY_SCHEMA` (churn risk for customers, purchase propensity for prospects),
  joined by :func:`combine`;
* ``recommendations``: cross-sell and up-sell suggestions, :data:`RECOMMENDATIONS_SCHEMA`;
* ``prediction_backtests``: every model's back-test figures beside its baseline,
  :data:`BACKTESTS_SCHEMA`.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

PROPENSITY_SCHEMA = pa.schema(
    [
        ("contact_id", pa.string()),
        ("churn_risk", pa.float64()),
        ("churn_band", pa.string()),
        ("churn_reasons", pa.string()),
        ("purchase_propensity", pa.float64()),
        ("purchase_band", pa.string()),
        ("purchase_reasons", pa.string()),
    ]
)
"""Per contact: ``churn_risk`` (P(churn within the horizon), customers only) and
``purchase_propensity`` (P(purchase within the horizon), prospects only), each with its band
(``high``, ``medium``, ``low``) and its top contributing features in words (``; ``-joined)."""

RECOMMENDATIONS_SCHEMA = pa.schema(
    [
        ("contact_id", pa.string()),
        ("rank", pa.int64()),
        ("kind", pa.string()),
        ("product_id", pa.string()),
        ("product_name", pa.string()),
        ("category", pa.string()),
        ("score", pa.float64()),
        ("support", pa.float64()),
        ("confidence", pa.float64()),
        ("lift", pa.float64()),
        ("because_of", pa.string()),
        ("reason", pa.string()),
    ]
)
"""One row per suggestion: ``kind`` is ``cross_sell`` or ``up_sell``; ``rank`` 1 is the best;
``because_of`` is the product the suggestion follows from; ``reason`` says why in words."""

BACKTESTS_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("metric", pa.string()),
        ("bin", pa.int64()),
        ("value", pa.float64()),
        ("baseline", pa.float64()),
        ("baseline_name", pa.string()),
        ("rows", pa.int64()),
        ("note", pa.string()),
    ]
)
"""One row per back-test figure: ``model`` (``churn``, ``conversion``, ``recommendations``),
``metric`` (e.g. ``auc``, ``lift_top_decile``, ``brier``, ``hit_rate_at_k``, or
``calibration`` with ``bin``), the model's ``value`` and the ``baseline``'s on the same
held-out rows, how many ``rows`` it was measured on, and a ``note`` (e.g. why a model could
not be trained). For ``calibration``, ``value`` is the observed rate in the bin and
``baseline`` the mean predicted probability. For the recommendations' ``hit_rate_at_k``,
``recall_at_k``, ``precision_at_k`` and ``coverage_at_k``, ``bin`` is k."""


def empty(schema: pa.Schema) -> ir.Table:
    """A typed table with no rows."""
    return ibis.memtable(schema.empty_table())


def combine(lifetime: ir.Table, propensities: ir.Table) -> ir.Table:
    """``predictions``: the lifetime-value rows and the propensity rows, one per contact."""
    joined = lifetime.outer_join(
        propensities, lifetime.contact_id == propensities.contact_id, rname="{name}_p"
    )
    columns = {
        "contact_id": ibis.coalesce(joined.contact_id, joined.contact_id_p),
        **{name: joined[name] for name in lifetime.columns if name != "contact_id"},
        **{name: joined[name] for name in propensities.columns if name != "contact_id"},
    }
    return joined.select(**columns)
