"""The predictive layer: what a customer is worth and what comes next.

* :mod:`~clientela.predict.summary`: the per-customer purchase summary (frequency, recency,
  age, mean repeat order value), an Ibis expression over the landed orders;
* :mod:`~clientela.predict.models`: BG/NBD and Gamma-Gamma, fitted by maximum likelihood;
* :mod:`~clientela.predict.clv`: per-contact expected purchases, P(alive), expected order
  value and CLV, published by the main job as ``predictions`` and ``prediction_models``;
* :mod:`~clientela.predict.features`: one row per (contact, cut-off) of what a customer or
  prospect had done by the cut-off and what happened next, an Ibis expression;
* :mod:`~clientela.predict.propensity`: churn risk and purchase propensity (calibrated
  logistic regression, contributions in words), back-tested beside the grade;
* :mod:`~clientela.predict.backtest`: AUC, top-decile lift, Brier score, calibration;
* :mod:`~clientela.predict.traits`: the same model on CRM traits against a yes/no label trait.
"""

from clientela.predict.models import BetaGeometricNBD, FitError, GammaGamma, Parameter

__all__ = ["BetaGeometricNBD", "FitError", "GammaGamma", "Parameter"]
