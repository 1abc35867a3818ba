"""The predictive layer: what a customer is worth and what comes next.

* :mod:`~clientela.predict.summary`: the per-customer purchase summary (frequency, recency,
  age, mean repeat order value), an Ibis expression over the landed orders;
* :mod:`~clientela.predict.models`: BG/NBD and Gamma-Gamma, fitted by maximum likelihood;
* :mod:`~clientela.predict.clv`: per-contact expected purchases, P(alive), expected order
  value and CLV, published by the main job as ``predictions`` and ``prediction_models``.
"""

from clientela.predict.models import BetaGeometricNBD, FitError, GammaGamma, Parameter

__all__ = ["BetaGeometricNBD", "FitError", "GammaGamma", "Parameter"]
