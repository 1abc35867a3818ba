"""BG/NBD and Gamma-Gamma, fitted by maximum likelihood with numpy and scipy.

* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive,
  a customer buys at Poisson rate λ ~ Gamma(r, α); after each purchase they drop out with
  probability p ~ Beta(a, b). Fitted on (frequency x, recency t_x, age T); predicts future
  purchases and P(alive).
* **Gamma-Gamma** (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"): a
  customer's transaction values are Gamma(p, ν) around their own mean, with ν ~ Gamma(q, γ).
  Fitted on the repeat buyers' (x, z̄); predicts the expected value of a future order.

Both are fitted on log-parameters (so every parameter stays positive) with L-BFGS-B and the
likelihoods' analytic gradients, falling back to Nelder-Mead; standard errors come from the
inverse of the Hessian at the optimum (central differences of the analytic gradient). Data
too thin to fit, a fit that does not converge, a parameter that runs off to 0 or infinity,
or an optimum that is not a maximum raise
:class:`FitError` with the reason, never a NaN.

The API is scikit-learn-like: ``fit(summary)`` returns the model; ``summary`` is anything
whose columns can be read by name (a dict of arrays, a pyarrow table, a pandas frame) with
``frequency``, ``recency``, ``age`` (or ``T``) and, for Gamma-Gamma, ``monetary_value``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy import linalg, optimize, special

from clientela.errors import ClientelaError

Array = npt.NDArray[np.float64]

# Log-parameters are kept inside ±LOG_BOUND: an optimum on the edge means the parameter ran
# off to 0 or infinity (the data do not identify it).
LOG_BOUND = 15.0
# Gauss-Jacobi nodes for the mean over the dropout probability p (exact for polynomials of
# degree 127; the integrand is smooth on [0, 1]).
QUADRATURE_NODES = 64


class FitError(ClientelaError):
    """A model could not be fitted: too little data, no convergence, or no proper maximum."""


@dataclass(frozen=True)
class Parameter:
    """A fitted parameter and its standard error (from the inverse Hessian)."""

    name: str
    value: float
    se: float


def column(summary: Any, *names: str) -> Array:
    """The first of ``names`` that ``summary`` has, as a float64 array."""
    for name in names:
        try:
            values = summary[name]
        except (KeyError, IndexError, ValueError, TypeError):
            continue
        if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
            try:
                values = values.to_numpy(zero_copy_only=False)
            except TypeError:
                values = values.to_numpy()
        return np.asarray(values, dtype=np.float64)
    raise KeyError(f"the summary has no column {' or '.join(repr(n) for n in names)}")


Objective = Callable[[Array], tuple[float, Array]]
"""Negative log-likelihood and its gradient, both as functions of the log-parameters."""


def _hessian(objective: Objective, params: Array) -> Array:
    """Hessian of the negative log-likelihood in the natural parameters, by central
    differences of its analytic gradient (steps relative to each parameter)."""
    n = params.size
    hess = np.empty((n, n))
    for i in range(n):
        step = 1e-5 * params[i]
        up, down = params.copy(), params.copy()
        up[i] += step
        down[i] -= step
        # d/dθ = (d/d log θ) / θ
        g_up = objective(np.log(up))[1] / up
        g_down = objective(np.log(down))[1] / down
        hess[i] = (g_up - g_down) / (2 * step)
    return (hess + hess.T) / 2


def _fit(
    model: str, names: tuple[str, ...], objective: Objective, start: Array
) -> tuple[Array, Array, float]:
    """Minimise ``objective`` over the log-parameters; returns the parameters, their standard
    errors and the maximised log-likelihood, or raises :class:`FitError`."""

    def safe(log_params: Array) -> tuple[float, Array]:
        with np.errstate(all="ignore"):
            value, gradient = objective(log_params)
        if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
            return 1e300, np.zeros_like(log_params)
        return value, gradient

    def value_only(log_params: Array) -> float:
        return safe(log_params)[0]

    if safe(start)[0] >= 1e300:
        raise FitError(f"{model}: the log-likelihood is not finite at the starting point")
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(names)
    best = optimize.minimize(safe, start, jac=True, method="L-BFGS-B", bounds=bounds)
    if not best.success or best.fun >= 1e300:
        # L-BFGS-B stops on rough likelihood surfaces; the simplex method does not need
        # gradients and usually gets there.
        simplex = optimize.minimize(
            value_only,
            best.x if best.fun < 1e300 else start,
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": 20_000, "maxfev": 20_000, "xatol": 1e-8, "fatol": 1e-10},
        )
        if simplex.success and simplex.fun <= best.fun:
            best = simplex
        elif not best.success:
            raise FitError(f"{model}: the fit did not converge ({best.message})")
    if best.fun >= 1e300:
        raise FitError(f"{model}: the log-likelihood is not finite anywhere the fit looked")
    log_params = np.asarray(best.x, dtype=np.float64)
    edge = [n for n, v in zip(names, log_params, strict=True) if abs(v) > LOG_BOUND - 1e-3]
    if edge:
        raise FitError(
            f"{model}: parameter {', '.join(edge)} ran off to 0 or infinity (the data do not "
            "pin it down: too few customers, or too little variation between them)"
        )
    params = np.exp(log_params)
    with np.errstate(all="ignore"):
        hess = _hessian(objective, params)
    try:
        if not np.all(np.isfinite(hess)):
            raise np.linalg.LinAlgError
        np.linalg.cholesky(hess)
        covariance = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        raise FitError(
            f"{model}: the fit stopped where the likelihood is not at a maximum (its curvature "
            "is not negative definite), so the parameters are not identified by these data"
        ) from None
    se = np.sqrt(np.diag(covariance))
    return params, se, float(-best.fun)


def _distinct(values: Array) -> tuple[Array, npt.NDArray[np.intp]]:
    """The distinct values and each value's index among them."""
    found, at = np.unique(values, return_inverse=True)
    return found, np.asarray(at, dtype=np.intp).reshape(-1)


def _grouped(*columns: Array) -> tuple[list[Array], Array, npt.NDArray[np.intp]]:
    """Distinct rows of the columns, their counts, and each input row's distinct row (many
    customers share a summary, with days as the unit above all: fit and predict once).
    A lexicographic sort of the columns (``np.unique(axis=0)`` sorts rows as opaque records,
    ten times slower on a million customers)."""
    n = columns[0].size
    if n == 0:
        return [c[:0] for c in columns], np.zeros(0), np.zeros(0, dtype=np.intp)
    order = np.lexsort(columns[::-1])
    ordered = [c[order] for c in columns]
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for c in ordered:
        change[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(change)
    counts = np.diff(np.append(starts, n)).astype(np.float64)
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(change) - 1
    return [c[starts] for c in ordered], counts, inverse


class _Fitted:
    """What both models share once fitted: parameters with standard errors, the
    log-likelihood, and rebuilding a model from published parameters."""

    names: tuple[str, ...] = ()
    title = ""

    def __init__(self) -> None:
        self.params_: dict[str, float] = {}
        self.standard_errors_: dict[str, float] = {}
        self.log_likelihood_: float = float("nan")
        self.customers_: int = 0

    def _store(self, params: Array, se: Array, ll: float, customers: int) -> None:
        self.params_ = dict(zip(self.names, map(float, params), strict=True))
        self.standard_errors_ = dict(zip(self.names, map(float, se), strict=True))
        self.log_likelihood_ = ll
        self.customers_ = customers

    @property
    def parameters(self) -> list[Parameter]:
        """The fitted parameters with their standard errors."""
        self._check_fitted()
        return [Parameter(n, self.params_[n], self.standard_errors_[n]) for n in self.names]

    @classmethod
    def from_parameters(cls, params: dict[str, float]) -> Self:
        """A model with known parameters (``names``), e.g. read back from the published
        ``prediction_models``, to predict without fitting again."""
        missing = [n for n in cls.names if n not in params]
        if missing:
            raise FitError(f"{cls.__name__}: parameters {', '.join(missing)} are missing")
        model = cls()
        model.params_ = {n: float(params[n]) for n in cls.names}
        model.standard_errors_ = dict.fromkeys(cls.names, float("nan"))
        return model

    def _check_fitted(self) -> None:
        if not self.params_:
            raise FitError(f"{self.title}: the model is not fitted yet (call fit first)")


class BetaGeometricNBD(_Fitted):
    """BG/NBD (Fader, Hardie & Lee 2005): purchase counts and P(alive).

    After :meth:`fit`: ``params_`` (r, alpha, a, b), ``standard_errors_``,
    ``log_likelihood_`` and ``customers_``.
    """

    names = ("r", "alpha", "a", "b")
    title = "BG/NBD"

    def __init__(self, min_customers: int = 20, min_repeat_customers: int = 10) -> None:
        super().__init__()
        self.min_customers = min_customers
        self.min_repeat_customers = min_repeat_customers

    # -- fitting ------------------------------------------------------------------------------

    @staticmethod
    def _log_likelihood(log_params: Array, x: Array, t_x: Array, big_t: Array) -> Array:
        """Each customer's log-likelihood (FHL 2005, eq. 6), in log space."""
        r, alpha, a, b = np.exp(log_params)
        beta_ab = special.betaln(a, b)
        common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        still = special.betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + big_t)
        repeat = x > 0
        # Dropped out just after the last purchase: only for customers with repeats.
        gone = np.where(
            repeat,
            special.betaln(a + 1, np.where(repeat, b + x - 1, 1.0))
            - beta_ab
            - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
        result: Array = common + np.logaddexp(still, gone)
        return result

    @staticmethod
    def _objective(
        log_params: Array,
        x: Array,
        t_x: Array,
        big_t: Array,
        weights: Array,
        distinct: tuple[Array, npt.NDArray[np.intp]] | None = None,
    ) -> tuple[float, Array]:
        """The weighted negative log-likelihood and its gradient in the log-parameters.

        With LL = A₁ + log(e^{A₂} + e^{A₃}) (the three terms of eq. 6) and ψ the digamma
        function: ∂A₁/∂r = ψ(r+x) − ψ(r) + log α, ∂A₁/∂α = r/α; ∂A₂/∂r = −log(α+T),
        ∂A₂/∂α = −(r+x)/(α+T), ∂A₂/∂a = ψ(a+b) − ψ(a+b+x), ∂A₂/∂b = ψ(b+x) − ψ(a+b+x) − ψ(b)
        + ψ(a+b); A₃ the same with t_x for T, ψ(a+1) − ψ(a) + ψ(a+b) − ψ(a+b+x) for a and
        ψ(b+x−1) − ψ(a+b+x) − ψ(b) + ψ(a+b) for b. Each A's share is its softmax weight.
        The special functions depend on x alone: they are computed once per distinct x.
        """
        r, alpha, a, b = np.exp(log_params)
        counts, at = np.unique(x, return_inverse=True) if distinct is None else distinct
        repeat_c = counts > 0
        bx_c = np.where(repeat_c, b + counts - 1, 1.0)
        dg = special.digamma
        beta_ab = special.betaln(a, b)
        # Per distinct x: the parts of A₁, A₂, A₃ and of their derivatives without t_x or T.
        common_c = special.gammaln(r + counts) - special.gammaln(r) + r * np.log(alpha)
        still_c = special.betaln(a, b + counts) - beta_ab
        gone_c = special.betaln(a + 1, bx_c) - beta_ab
        d_ab, d_abx = dg(a + b), dg(a + b + counts)
        d_r_c = dg(r + counts) - dg(r) + np.log(alpha)
        d_a_still_c = d_ab - d_abx
        d_a_gone_c = dg(a + 1) - dg(a) + d_ab - d_abx
        d_b_still_c = dg(b + counts) - d_abx - dg(b) + d_ab
        d_b_gone_c = dg(bx_c) - d_abx - dg(b) + d_ab
        repeat = repeat_c[at]
        log_t = np.log(alpha + big_t)
        log_tx = np.log(alpha + t_x)
        still = still_c[at] - (r + x) * log_t
        gone = np.where(repeat, gone_c[at] - (r + x) * log_tx, -np.inf)
        mixed = np.logaddexp(still, gone)
        ll = common_c[at] + mixed
        w_still = np.exp(still - mixed)
        w_gone = np.where(repeat, np.exp(gone - mixed), 0.0)
        d_r = d_r_c[at] - w_still * log_t - w_gone * log_tx
        d_alpha = r / alpha - (r + x) * (w_still / (alpha + big_t) + w_gone / (alpha + t_x))
        d_a = w_still * d_a_still_c[at] + w_gone * d_a_gone_c[at]
        d_b = w_still * d_b_still_c[at] + w_gone * d_b_gone_c[at]
        gradient = np.array([weights @ d for d in (d_r, d_alpha, d_a, d_b)])
        return -float(weights @ ll), -gradient * np.array([r, alpha, a, b])

    def fit(self, summary: Any) -> BetaGeometricNBD:
        """Fit on a summary with ``frequency``, ``recency`` and ``age`` (or ``T``)."""
        x = column(summary, "frequency", "x")
        t_x = column(summary, "recency", "t_x")
        big_t = column(summary, "age", "T")
        _check_summary(x, t_x, big_t)
        n = x.size
        repeaters = int(np.count_nonzero(x > 0))
        if n < self.min_customers:
            raise FitError(
                f"BG/NBD: {n} customers is too few to fit (at least {self.min_customers})"
            )
        if repeaters < self.min_repeat_customers:
            raise FitError(
                f"BG/NBD: {repeaters} customers bought more than once, too few to fit (at "
                f"least {self.min_repeat_customers})"
            )
        (ux, ut, uT), weights, _ = _grouped(x, t_x, big_t)
        distinct = _distinct(ux)

        def objective(log_params: Array) -> tuple[float, Array]:
            return self._objective(log_params, ux, ut, uT, weights, distinct)

        # Start from the method-of-moments scale: the mean purchase rate sets α.
        rate = max(float(np.sum(x) / max(np.sum(big_t), 1e-9)), 1e-6)
        start = np.log(np.array([1.0, 1.0 / rate, 1.0, 1.0]))
        start = np.clip(start, -LOG_BOUND + 1, LOG_BOUND - 1)
        params, se, ll = _fit("BG/NBD", self.names, objective, start)
        self._store(params, se, ll, n)
        return self

    # -- predicting ---------------------------------------------------------------------------

    def expected_purchases(self, t: float) -> float:
        """Expected purchases in a period of length ``t`` of a new customer (FHL 2005, eq. 9:
        (a+b−1)/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))]), computed as the
        integral it comes from (see :meth:`predict`)."""
        self._check_fitted()
        zero = np.zeros(1)
        return float(self._expected_while_alive(t, zero, zero)[0])

    def p_alive(self, summary: Any) -> Array:
        """P(alive | x, t_x, T) of each customer: 1 / (1 + δ_{x>0} · a/(b+x−1) ·
        ((α+T)/(α+t_x))^{r+x}); 1 for a customer who never bought again."""
        self._check_fitted()
        x = column(summary, "frequency", "x")
        t_x = column(summary, "recency", "t_x")
        big_t = column(summary, "age", "T")
        return self._p_alive(x, t_x, big_t)

    def _p_alive(self, x: Array, t_x: Array, big_t: Array) -> Array:
        r, alpha, a, b = (self.params_[n] for n in self.names)
        repeat = x > 0
        bx = np.where(repeat, b + x - 1, 1.0)
        log_odds = np.log(a) - np.log(bx) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        result: Array = np.where(repeat, special.expit(-log_odds), 1.0)
        return result

    def predict(self, t: float, summary: Any) -> Array:
        """Expected purchases of each customer in the next ``t`` (FHL 2005, eq. 10):

        E[Y(t) | x, t_x, T] = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^{r+x}
        ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))] / [1 + δ_{x>0} a/(b+x−1) ((α+T)/(α+t_x))^{r+x}]

        It is evaluated as the integral it comes from: P(alive) times, for a customer still
        alive (λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x)), the mean over p of
        (1 − ((α+T)/(α+T+p·t))^{r+x}) / p, by Gauss-Jacobi quadrature. That has no 0/0 at
        a = 1, no huge powers for frequent buyers, and no ₂F₁ where scipy's series fails
        (large a and b give inf or NaN there).
        """
        self._check_fitted()
        x = column(summary, "frequency", "x")
        t_x = column(summary, "recency", "t_x")
        big_t = column(summary, "age", "T")
        (ux, ut, uT), _, inverse = _grouped(x, t_x, big_t)
        result: Array = self._conditional(t, ux, ut, uT)[inverse]
        return result

    def _conditional(self, t: float, x: Array, t_x: Array, big_t: Array) -> Array:
        expected = self._p_alive(x, t_x, big_t) * self._expected_while_alive(t, x, big_t)
        if not np.all(np.isfinite(expected)):
            raise FitError(
                "BG/NBD: expected purchases are not finite for some customers (the fitted "
                f"parameters {self.params_} are extreme for this horizon)"
            )
        return expected

    def _expected_while_alive(self, t: float, x: Array, big_t: Array) -> Array:
        """E[(1 − e^{−λpt}) / p] over λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x): the expected
        purchases in the next ``t`` of a customer alive now (x = T = 0: a new customer)."""
        r, alpha, a, b = (self.params_[n] for n in self.names)
        out = np.zeros_like(x, dtype=np.float64)
        if t <= 0:
            return out
        for count in np.unique(x):
            rows = x == count
            # Gauss-Jacobi nodes for the weight p^{a−1} (1−p)^{b+x−1} on [0, 1].
            nodes, w = _jacobi_rule(QUADRATURE_NODES, b + count - 1, a - 1)
            p = (1 + nodes) / 2
            scale = t / (alpha + big_t[rows])
            # 1 − ((α+T)/(α+T+pt))^{r+x} = −expm1(−(r+x)·log1p(p·t/(α+T))), no cancellation.
            survive = -np.expm1(-(r + count) * np.log1p(scale[:, None] * p[None, :]))
            out[rows] = (survive / p[None, :]) @ w
        return out


@functools.lru_cache(maxsize=4096)  # one rule per purchase count, reused for every horizon
def _jacobi_rule(n: int, alpha: float, beta: float) -> tuple[Array, Array]:
    """Gauss-Jacobi nodes on [−1, 1] for the weight (1−u)^alpha (1+u)^beta, with weights that
    add up to 1 (Golub-Welsch: the eigen-decomposition of the Jacobi matrix of the monic
    recurrence). scipy's ``roots_jacobi`` scales its weights by 2^(alpha+beta+1), which
    overflows for the large Beta parameters of frequent buyers; these never do."""
    k = np.arange(1, n, dtype=np.float64)
    s = 2 * k + alpha + beta
    diagonal = np.empty(n)
    diagonal[0] = (beta - alpha) / (alpha + beta + 2)
    diagonal[1:] = (beta**2 - alpha**2) / (s * (s + 2))
    off = 4 * k * (k + alpha) * (k + beta) * (k + alpha + beta) / (s**2 * (s + 1) * (s - 1))
    # k = 1 with (1 + alpha + beta) cancelled (it may be 0).
    off[0] = 4 * (1 + alpha) * (1 + beta) / ((2 + alpha + beta) ** 2 * (3 + alpha + beta))
    nodes, vectors = linalg.eigh_tridiagonal(diagonal, np.sqrt(off))
    weights: Array = vectors[0] ** 2
    return nodes, weights / weights.sum()


def _check_summary(x: Array, t_x: Array, big_t: Array) -> None:
    if not (x.size == t_x.size == big_t.size):
        raise FitError("the summary's columns have different lengths")
    bad = (
        ~np.isfinite(x)
        | ~np.isfinite(t_x)
        | ~np.isfinite(big_t)
        | (x < 0)
        | (t_x < 0)
        | (t_x > big_t)
        | ((x == 0) & (t_x != 0))
    )
    if np.any(bad):
        raise FitError(
            f"{int(np.count_nonzero(bad))} summary rows are not valid (need 0 ≤ recency ≤ age, "
            "recency 0 without repeat purchases, no missing values)"
        )


class GammaGamma(_Fitted):
    """Gamma-Gamma spend model (Fader & Hardie 2013) on repeat buyers' mean order value.

    After :meth:`fit`: ``params_`` (p, q, gamma), ``standard_errors_``, ``log_likelihood_``
    and ``customers_`` (the repeat buyers with a positive mean value it was fitted on).
    """

    names = ("p", "q", "gamma")
    title = "Gamma-Gamma"

    def __init__(self, min_repeat_customers: int = 10) -> None:
        super().__init__()
        self.min_repeat_customers = min_repeat_customers

    @staticmethod
    def _log_likelihood(log_params: Array, x: Array, zbar: Array) -> Array:
        """Each repeat buyer's log-density of their mean value z̄ over x transactions:
        Γ(px+q)/(Γ(px)Γ(q)) · γ^q · x^{px} · z̄^{px−1} / (γ + x z̄)^{px+q}."""
        p, q, gamma = np.exp(log_params)
        px = p * x
        result: Array = (
            special.gammaln(px + q)
            - special.gammaln(px)
            - special.gammaln(q)
            + q * np.log(gamma)
            + px * np.log(x)
            + (px - 1) * np.log(zbar)
            - (px + q) * np.log(gamma + x * zbar)
        )
        return result

    @staticmethod
    def _objective(
        log_params: Array,
        x: Array,
        zbar: Array,
        weights: Array,
        distinct: tuple[Array, npt.NDArray[np.intp]] | None = None,
    ) -> tuple[float, Array]:
        """The weighted negative log-likelihood and its gradient in the log-parameters:
        ∂/∂p = x·[ψ(px+q) − ψ(px) + log x + log z̄ − log(γ+xz̄)],
        ∂/∂q = ψ(px+q) − ψ(q) + log γ − log(γ+xz̄), ∂/∂γ = q/γ − (px+q)/(γ+xz̄).
        The special functions depend on x alone: computed once per distinct x."""
        p, q, gamma = np.exp(log_params)
        counts, at = _distinct(x) if distinct is None else distinct
        pc = p * counts
        dg = special.digamma
        gammas_c = special.gammaln(pc + q) - special.gammaln(pc) - special.gammaln(q)
        d_p_c = dg(pc + q) - dg(pc) + np.log(counts)
        d_q_c = dg(pc + q) - dg(q)
        px = p * x
        spent = np.log(gamma + x * zbar)
        log_z = np.log(zbar)
        ll = gammas_c[at] + q * np.log(gamma) + px * np.log(x) + (px - 1) * log_z - (px + q) * spent
        d_p = x * (d_p_c[at] + log_z - spent)
        d_q = d_q_c[at] + np.log(gamma) - spent
        d_gamma = q / gamma - (px + q) / (gamma + x * zbar)
        gradient = np.array([weights @ d for d in (d_p, d_q, d_gamma)])
        return -float(weights @ ll), -gradient * np.array([p, q, gamma])

    def fit(self, summary: Any) -> GammaGamma:
        """Fit on the customers with ``frequency`` > 0 and a positive ``monetary_value``."""
        x = column(summary, "frequency", "x")
        zbar = column(summary, "monetary_value", "zbar")
        keep = (x > 0) & np.isfinite(zbar) & (zbar > 0)
        x, zbar = x[keep], zbar[keep]
        n = x.size
        if n < self.min_repeat_customers:
            raise FitError(
                f"Gamma-Gamma: {n} repeat buyers with a known, positive order value is too "
                f"few to fit (at least {self.min_repeat_customers})"
            )
        if np.ptp(zbar) <= 1e-12 * max(float(np.max(zbar)), 1.0):
            raise FitError(
                "Gamma-Gamma: every repeat buyer spends the same on average, so there is no "
                "variation in spend to fit"
            )
        (ux, uz), weights, _ = _grouped(x, zbar)
        distinct = _distinct(ux)

        def objective(log_params: Array) -> tuple[float, Array]:
            return self._objective(log_params, ux, uz, weights, distinct)

        # Start with q a little above 1 and the population mean p·γ/(q−1) at the data's.
        mean = float(np.mean(zbar))
        start = np.log(np.array([1.0, 2.0, mean]))
        params, se, ll = _fit("Gamma-Gamma", self.names, objective, start)
        self._store(params, se, ll, n)
        if self.params_["q"] <= 1:
            raise FitError(
                f"Gamma-Gamma: fitted q = {self.params_['q']:.3g} ≤ 1, so the mean order value "
                "is infinite under the model (spend too heavy-tailed to predict)"
            )
        return self

    def mean_order_value(self) -> float:
        """The population's mean order value, p·γ/(q−1)."""
        self._check_fitted()
        p, q, gamma = (self.params_[n] for n in self.names)
        return p * gamma / (q - 1)

    def predict(self, summary: Any) -> Array:
        """Expected value of each customer's future orders (Fader & Hardie 2013, eq. 5):

        E[Z | p, q, γ, x, z̄] = (p·γ + p·x·z̄) / (p·x + q − 1)

        a weighted mean of the population mean p·γ/(q−1) and the customer's own z̄; the
        population mean for a customer without a (valued) repeat transaction.
        """
        self._check_fitted()
        p, q, gamma = (self.params_[n] for n in self.names)
        x = column(summary, "frequency", "x")
        zbar = column(summary, "monetary_value", "zbar")
        known = (x > 0) & np.isfinite(zbar) & (zbar > 0)
        xs = np.where(known, x, 0.0)
        zs = np.where(known, zbar, 0.0)
        result: Array = (p * gamma + p * xs * zs) / (p * xs + q - 1)
        return result
