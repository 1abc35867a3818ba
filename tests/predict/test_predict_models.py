"""BG/NBD and Gamma-Gamma on hand-computed cases, against the papers' own formulas, and their
errors on data that cannot be fitted."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from clientela.config import PredictSettings
from clientela.predict import BetaGeometricNBD, FitError, GammaGamma
from clientela.predict import clv as clv_module

PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _summary(x: list[float], t_x: list[float], big_t: list[float]) -> dict[str, np.ndarray]:
    return {"frequency": np.array(x), "recency": np.array(t_x), "age": np.array(big_t)}


def test_p_alive_without_repeat_purchases_is_one() -> None:
    """BG/NBD: a customer can only drop out right after a purchase, so one who never bought
    again is alive for sure, whatever their age."""
    model = BetaGeometricNBD.from_parameters(PARAMS)
    alive = model.p_alive(_summary([0, 0, 0], [0, 0, 0], [0.5, 39, 500]))
    assert alive.tolist() == [1.0, 1.0, 1.0]


def test_p_alive_by_hand() -> None:
    # r = α = a = 1, b = 2; x = 1, t_x = 1, T = 3:
    # a/(b+x−1) = 1/2; ((α+T)/(α+t_x))^(r+x) = (4/2)^2 = 4; P(alive) = 1/(1 + 1/2 · 4) = 1/3.
    model = BetaGeometricNBD.from_parameters({"r": 1, "alpha": 1, "a": 1, "b": 2})
    assert model.p_alive(_summary([1], [1], [3]))[0] == pytest.approx(1 / 3, rel=1e-12)
    # Bought again just now (t_x = T): the ratio is 1, P(alive) = 1/(1 + 1/2) = 2/3.
    assert model.p_alive(_summary([1], [3], [3]))[0] == pytest.approx(2 / 3, rel=1e-12)


def test_log_likelihood_by_hand() -> None:
    # r = α = a = b = 1 (FHL 2005, eq. 6):
    # x = 0, T = 1: B(1,1)/B(1,1) · Γ(1)·1^1/(Γ(1)·(1+1)^1) = 1/2.
    # x = 1, t_x = 1, T = 2: Γ(2)/Γ(1) · [B(1,2)/B(1,1) · 3^−2 + B(2,1)/B(1,1) · 2^−2]
    #   = 1/2 · 1/9 + 1/2 · 1/4 = 1/18 + 1/8 = 13/72.
    ll = BetaGeometricNBD._log_likelihood(
        np.zeros(4), np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([1.0, 2.0])
    )
    assert ll.tolist() == pytest.approx([math.log(1 / 2), math.log(13 / 72)], rel=1e-12)


def _paper_conditional(t: float, x: float, t_x: float, big_t: float) -> float:
    """FHL 2005, eq. 10, as printed (without the Pfaff rewrite the model uses)."""
    r, alpha, a, b = PARAMS.values()
    head = (a + b + x - 1) / (a - 1)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
    body = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp
    odds = (a / (b + x - 1)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x) if x > 0 else 0.0
    return float(head * body / (1 + odds))


def test_expected_purchases_equal_the_papers_formulas() -> None:
    model = BetaGeometricNBD.from_parameters(PARAMS)
    cases = [(0, 0, 38.86), (2, 30.43, 38.86), (1, 1.71, 38.86), (7, 35.0, 37.0), (3, 5.0, 32.0)]
    x, t_x, big_t = (list(c) for c in zip(*cases, strict=True))
    for t in (1.0, 39.0, 52.0):
        got = model.predict(t, _summary(x, t_x, big_t))
        want = [_paper_conditional(t, *case) for case in cases]
        assert got.tolist() == pytest.approx(want, rel=1e-9), t
    # Eq. 9, a new customer: (a+b−1)/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))].
    r, alpha, a, b = PARAMS.values()
    t = 39.0
    want_new = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    assert model.expected_purchases(t) == pytest.approx(want_new, rel=1e-9)
    assert model.predict(0, _summary(x, t_x, big_t)).tolist() == [0.0] * len(cases)


def test_a_near_one_gives_the_limit_not_nan() -> None:
    """At a = 1 the formula is 0/0; the model gives the (smooth) limit."""
    near = {**PARAMS, "a": 1.0}
    below = BetaGeometricNBD.from_parameters({**PARAMS, "a": 1.0 - 1e-3})
    above = BetaGeometricNBD.from_parameters({**PARAMS, "a": 1.0 + 1e-3})
    at = BetaGeometricNBD.from_parameters(near)
    summary = _summary([0, 3], [0, 20], [30, 30])
    got = at.predict(20, summary)
    assert np.all(np.isfinite(got))
    assert got == pytest.approx(
        (below.predict(20, summary) + above.predict(20, summary)) / 2, rel=1e-3
    )


def test_frequent_buyers_give_finite_predictions() -> None:
    """The paper's ((α+T)/(α+t_x))^(r+x) overflows for a very frequent buyer; the model works
    in log space and with Pfaff's form, so there is no NaN or infinity."""
    model = BetaGeometricNBD.from_parameters(PARAMS)
    summary = _summary([2000, 2000, 1], [100, 1, 0.1], [100, 400, 400])
    expected = model.predict(52, summary)
    alive = model.p_alive(summary)
    assert np.all(np.isfinite(expected)) and np.all(np.isfinite(alive))
    # Bought just now (t_x = T): 1/(1 + a/(b+x−1)) = 1/(1 + 0.793/2001.426).
    assert alive[0] == pytest.approx(1 / (1 + 0.793 / 2001.426), rel=1e-12)
    assert alive[1] == 0.0  # 2,000 purchases, then 399 silent weeks
    assert expected[0] > 100 and expected[1] == pytest.approx(0.0, abs=1e-12)


def test_gamma_gamma_by_hand() -> None:
    # p = 6, q = 4, γ = 15: population mean p·γ/(q−1) = 90/3 = 30.
    # x = 2, z̄ = 20: (p·γ + p·x·z̄)/(p·x + q − 1) = (90 + 240)/(12 + 3) = 22.
    model = GammaGamma.from_parameters({"p": 6, "q": 4, "gamma": 15})
    assert model.mean_order_value() == pytest.approx(30)
    got = model.predict({"frequency": [2, 0, 3], "monetary_value": [20.0, None, -5.0]})
    # No repeat purchase, or no positive mean: the population mean.
    assert got.tolist() == pytest.approx([22.0, 30.0, 30.0])


def test_clv_is_value_times_discounted_purchases() -> None:
    """Without discounting, CLV = margin · expected order value · expected purchases over the
    horizon; with it, less, by at most the horizon's discount factor."""
    bgnbd = BetaGeometricNBD.from_parameters(PARAMS)
    gg = GammaGamma.from_parameters({"p": 6.25, "q": 3.74, "gamma": 15.44})
    summary = {
        "frequency": np.array([0.0, 2.0, 5.0]),
        "recency": np.array([0.0, 30.43, 20.0]),
        "age": np.array([38.86, 38.86, 38.0]),
        "monetary_value": np.array([np.nan, 22.35, 40.0]),
    }
    fitted = clv_module.Fitted(bgnbd, gg, {})
    flat = PredictSettings(horizon_months=12, annual_discount_rate=0.0, margin=0.5)
    values = clv_module.customer_values(summary, flat, fitted)
    # A year in weeks: 12 months of 365.25/12 days = 52.18 weeks.
    year = bgnbd.predict(365.25 / 7, summary)
    assert values["expected_purchases"] == pytest.approx(year)
    assert values["clv"] == pytest.approx(0.5 * gg.predict(summary) * year)
    discounted = clv_module.customer_values(
        summary, PredictSettings(annual_discount_rate=0.10, margin=0.5), fitted
    )["clv"]
    assert discounted is not None and values["clv"] is not None
    assert np.all(discounted < values["clv"]) and np.all(discounted > values["clv"] / 1.1)


def _synthetic(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Customers drawn from the BG/NBD story itself (weekly rates, 39 weeks)."""
    rng = np.random.default_rng(seed)
    x, t_x, big_t = [], [], []
    for _ in range(n):
        rate, drop = rng.gamma(0.5, 1 / 2.0), rng.beta(1.0, 3.0)
        age = rng.uniform(26, 39)
        t, last, count = 0.0, 0.0, 0
        while True:
            t += rng.exponential(1 / rate)
            if t > age:
                break
            count, last = count + 1, t
            if rng.random() < drop:
                break
        x.append(count)
        t_x.append(last)
        big_t.append(age)
    return _summary(x, t_x, big_t)


def test_fit_recovers_simulated_parameters() -> None:
    model = BetaGeometricNBD().fit(_synthetic(4000))
    assert model.params_["r"] == pytest.approx(0.5, rel=0.25)
    assert model.params_["alpha"] == pytest.approx(2.0, rel=0.35)
    assert model.params_["a"] == pytest.approx(1.0, rel=0.5)
    assert model.params_["b"] == pytest.approx(3.0, rel=0.6)
    for parameter in model.parameters:
        assert math.isfinite(parameter.se) and parameter.se > 0


def test_too_few_customers_is_a_clear_error() -> None:
    with pytest.raises(FitError, match=r"BG/NBD: 3 customers is too few to fit \(at least 20\)"):
        BetaGeometricNBD().fit(_summary([1, 0, 2], [3, 0, 5], [9, 9, 9]))
    once = _summary([0] * 30 + [1] * 4, [0] * 30 + [2] * 4, [10] * 34)
    with pytest.raises(FitError, match="4 customers bought more than once, too few"):
        BetaGeometricNBD().fit(once)
    with pytest.raises(FitError, match="Gamma-Gamma: 1 repeat buyers"):
        GammaGamma().fit({"frequency": [1, 0], "monetary_value": [5.0, None]})
    with pytest.raises(FitError, match="not fitted yet"):
        BetaGeometricNBD().p_alive(once)


def test_unidentified_fits_raise_instead_of_nan() -> None:
    """Every repeat buyer spending exactly the same, or every customer with the same history:
    the likelihood has no finite maximum. The fit says so; it returns no NaN."""
    same_spend = {"frequency": [1, 2, 3] * 10, "monetary_value": [20.0] * 30}
    with pytest.raises(FitError, match="no variation in spend"):
        GammaGamma().fit(same_spend)
    clones = _summary([4] * 50, [20.0] * 50, [20.0] * 50)
    with pytest.raises(FitError, match="BG/NBD: ") as caught:
        BetaGeometricNBD().fit(clones)
    assert "nan" not in str(caught.value).lower()


def test_invalid_summaries_are_refused() -> None:
    with pytest.raises(FitError, match="1 summary rows are not valid"):
        BetaGeometricNBD(min_customers=2, min_repeat_customers=2).fit(
            _summary([1, 2, 0], [5, 12, 0], [10, 10, 10])
        )


def test_large_beta_parameters_match_a_direct_integral() -> None:
    """With a and b in the thousands (a dropout probability nobody varies on), the model's
    quadrature equals a direct numerical integral of P(alive) · E[(1 − e^{−λpt})/p]."""
    from scipy import integrate, stats

    params = {"r": 0.9, "alpha": 30.0, "a": 6119.46, "b": 10409.18}
    model = BetaGeometricNBD.from_parameters(params)
    r, alpha, a, b = params.values()
    x, t_x, big_t, t = 3.0, 20.0, 25.0, 52.18

    def integrand(p: float) -> float:
        survive = 1 - ((alpha + big_t) / (alpha + big_t + p * t)) ** (r + x)
        return float(survive / p * stats.beta.pdf(p, a, b + x))

    mean, _ = integrate.quad(integrand, 0, 1, points=[a / (a + b + x)], limit=200)
    summary = _summary([x], [t_x], [big_t])
    want = model.p_alive(summary)[0] * mean
    assert model.predict(t, summary)[0] == pytest.approx(want, rel=1e-8)


def test_analytic_gradients_equal_finite_differences() -> None:
    """The fits use the likelihoods' analytic gradients; they must be the derivatives."""
    from scipy import optimize

    summary = _synthetic(300)
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["age"]
    weights = np.ones_like(x)
    point = np.log(np.array([0.4, 3.0, 0.9, 2.5]))
    _, gradient = BetaGeometricNBD._objective(point, x, t_x, big_t, weights)
    numeric = optimize.approx_fprime(
        point, lambda v: BetaGeometricNBD._objective(v, x, t_x, big_t, weights)[0], 1e-7
    )
    assert gradient == pytest.approx(numeric, rel=1e-4, abs=1e-3)

    rng = np.random.default_rng(3)
    counts = rng.integers(1, 8, 200).astype(float)
    means = rng.gamma(4.0, 8.0, 200)
    point = np.log(np.array([5.0, 3.0, 12.0]))
    _, gradient = GammaGamma._objective(point, counts, means, np.ones(200))
    numeric = optimize.approx_fprime(
        point, lambda v: GammaGamma._objective(v, counts, means, np.ones(200))[0], 1e-7
    )
    assert gradient == pytest.approx(numeric, rel=1e-4, abs=1e-3)


def test_the_fitted_objective_is_the_likelihood() -> None:
    summary = _synthetic(300, seed=5)
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["age"]
    point = np.log(np.array([0.4, 3.0, 0.9, 2.5]))
    weights = np.arange(1, x.size + 1, dtype=float)
    value, _ = BetaGeometricNBD._objective(point, x, t_x, big_t, weights)
    ll = BetaGeometricNBD._log_likelihood(point, x, t_x, big_t)
    assert value == pytest.approx(-float(weights @ ll), rel=1e-12)
    counts = np.array([1.0, 3.0, 3.0, 7.0])
    means = np.array([12.0, 30.5, 8.25, 19.0])
    value, _ = GammaGamma._objective(np.log(np.array([5.0, 3.0, 12.0])), counts, means, weights[:4])
    ll = GammaGamma._log_likelihood(np.log(np.array([5.0, 3.0, 12.0])), counts, means)
    assert value == pytest.approx(-float(weights[:4] @ ll), rel=1e-12)


def test_customers_with_the_same_summary_are_fitted_once_with_their_weight() -> None:
    from clientela.predict.models import _grouped

    x = np.array([2.0, 0.0, 2.0, 1.0, 2.0])
    t = np.array([5.0, 0.0, 5.0, 3.0, 4.0])
    (ux, ut), counts, inverse = _grouped(x, t)
    assert list(zip(ux, ut, counts, strict=True)) == [(0, 0, 1), (1, 3, 1), (2, 4, 1), (2, 5, 2)]
    assert ux[inverse].tolist() == x.tolist() and ut[inverse].tolist() == t.tolist()


def test_model_rows_say_which_parameters_are_weakly_identified() -> None:
    gg = GammaGamma.from_parameters({"p": 2.25, "q": 527.4, "gamma": 16812.0})
    gg.standard_errors_ = {"p": 0.38, "q": 4140.6, "gamma": 134520.6}
    gg.customers_, gg.log_likelihood_ = 178, -828.5
    rows = clv_module.model_rows(clv_module.Fitted(None, gg, {"bgnbd": "BG/NBD: too few"}), 482)
    by_model = {(r["model"], r["parameter"]): r for r in rows.to_pylist()}
    assert by_model[("bgnbd", None)]["status"] == "failed"
    assert by_model[("bgnbd", None)]["message"] == "BG/NBD: too few"
    note = by_model[("gamma_gamma", "q")]["message"]
    assert note.startswith("q, gamma weakly identified (standard error above the estimate)")
    assert by_model[("gamma_gamma", "p")]["se"] == 0.38
    assert by_model[("gamma_gamma", "p")]["customers"] == 178
