"""Customer value models: BG/NBD for how often a customer buys and whether they still do
(Fader, Hardie & Lee 2005, "Counting your customers the easy way"), Gamma-Gamma for how much
they spend (Fader, Hardie & Lee 2005, "RFM and CLV").

Both are fitted by maximum likelihood on their closed-form log-likelihoods (scipy's L-BFGS-B on
the log of the parameters, with analytic gradients), and every prediction works on whole
arrays, so a million customers are one vectorised pass. The inputs per customer are the
paper's: `x` repeat purchases (purchase days after the first), `t_x` the age of the customer at
their last purchase and `T` their age now, all in the same time unit (days in the product,
weeks in the paper), and for spend `m_x`, the average of their repeat purchases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

Array = NDArray[np.float64]

# Log-parameters stay in this box: beyond it the model is degenerate (a parameter running off
# to zero or infinity), and exp() of it would overflow.
_LOG_BOUND = 15.0


class FitError(ValueError):
    """The data cannot support a fit (too few rows, no repeat buyers, no convergence)."""


@dataclass(frozen=True)
class BgNbd:
    """BG/NBD parameters: purchase rates ~ Gamma(r, alpha); dropout after a purchase ~
    Beta(a, b). `alpha` is in the time unit of the data it was fitted on."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        """The parameters as JSON-ready numbers."""
        return asdict(self)


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma parameters: a transaction's value ~ Gamma(p, nu), nu ~ Gamma(q, v)."""

    p: float
    q: float
    v: float

    def as_dict(self) -> dict[str, float]:
        """The parameters as JSON-ready numbers."""
        return asdict(self)

    @property
    def population_mean(self) -> float:
        """The mean spend per transaction over all customers: p v / (q - 1)."""
        return self.p * self.v / (self.q - 1.0)


def _floats(*values: ArrayLike) -> list[Array]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def compress(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> tuple[Array, Array, Array, Array, NDArray[np.intp]]:
    """Identical (x, t_x, T) rows folded into one with a weight: (x, t_x, T, weights,
    inverse), where `unique[inverse]` gives the rows back. Whole days make many rows equal."""
    fx, ft, fT = _floats(x, t_x, T)
    order = np.lexsort((fT, ft, fx))
    sx, st, sT = fx[order], ft[order], fT[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (np.diff(sx) != 0) | (np.diff(st) != 0) | (np.diff(sT) != 0)
    group = np.cumsum(starts) - 1
    inverse = np.empty(len(order), dtype=np.intp)
    inverse[order] = group
    counts = np.bincount(group).astype(np.float64)
    return sx[starts], st[starts], sT[starts], counts, inverse


def _bgnbd_terms(
    log_params: Array, x: Array, t_x: Array, T: Array, w: Array
) -> tuple[float, Array]:
    """Minus the weighted mean log-likelihood and its gradient in the log-parameters."""
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    common = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
    )
    # Still alive at T, or dropped out right after the last purchase (only with x > 0).
    alive = -(r + x) * np.log(alpha + T)
    gone = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1.0, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    mix = np.logaddexp(alive, gone)
    ll = common + mix
    share_gone = np.exp(gone - mix)
    share_alive = 1.0 - share_gone
    d_r = (
        digamma(r + x)
        - digamma(r)
        + np.log(alpha)
        - share_alive * np.log(alpha + T)
        - share_gone * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - share_alive * (r + x) / (alpha + T) - share_gone * (r + x) / (alpha + t_x)
    d_a = digamma(a + b) - digamma(a + b + x) + share_gone / a
    d_b = (
        digamma(a + b)
        + digamma(b + x)
        - digamma(b)
        - digamma(a + b + x)
        - share_gone / np.where(repeat, b + x - 1.0, 1.0)
    )
    total = w.sum()
    grad = np.array([(w * d).sum() for d in (d_r, d_alpha, d_a, d_b)]) * np.array([r, alpha, a, b])
    return -float((w * ll).sum() / total), -grad / total


def bgnbd_log_likelihood(model: BgNbd, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> float:
    """The total log-likelihood of the data under `model` (the paper's eq. 6, summed)."""
    fx, ft, fT = _floats(x, t_x, T)
    log_params = np.log([model.r, model.alpha, model.a, model.b])
    mean, _ = _bgnbd_terms(log_params, fx, ft, fT, np.ones_like(fx))
    return -mean * len(fx)


def _maximise(objective: Callable[[Array], tuple[float, Array]], start: Array, what: str) -> Array:
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    # L-BFGS-B's BLAS calls are on 4x4 matrices: extra BLAS threads only spin, and on a busy
    # machine made each fit four times slower.
    with threadpool_limits(limits=1):
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9},
        )
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise FitError(f"{what}: the fit did not converge ({result.message})")
    if np.any(np.abs(result.x) >= _LOG_BOUND - 1e-6):
        raise FitError(f"{what}: a parameter ran off to its bound (degenerate data)")
    fitted: Array = result.x
    return fitted


def fit_bgnbd(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
) -> BgNbd:
    """Maximum-likelihood BG/NBD parameters for customers (x, t_x, T), each row counted
    `weights` times (see `compress`)."""
    fx, ft, fT = _floats(x, t_x, T)
    w = np.ones_like(fx) if weights is None else np.asarray(weights, dtype=np.float64)
    if fx.size == 0 or not np.any(fx > 0):
        raise FitError("BG/NBD: no repeat buyers to fit on")
    if np.any(fx < 0) or np.any(ft < 0) or np.any(ft > fT):
        raise FitError("BG/NBD: needs 0 <= t_x <= T and x >= 0")
    # Fitting in units of the mean age keeps the four parameters of one order of magnitude;
    # alpha, the only one with a time unit, is scaled back after.
    scale = float(np.average(fT, weights=w)) or 1.0
    xs, ts, Ts = fx, ft / scale, fT / scale

    def objective(log_params: Array) -> tuple[float, Array]:
        return _bgnbd_terms(log_params, xs, ts, Ts, w)

    r, alpha, a, b = (float(v) for v in np.exp(_maximise(objective, np.zeros(4), "BG/NBD")))
    model = BgNbd(r=r, alpha=alpha * scale, a=a, b=b)
    return BgNbd(
        r=r, alpha=model.alpha, a=a, b=b, log_likelihood=_weighted_ll(model, fx, ft, fT, w)
    )


def _weighted_ll(model: BgNbd, x: Array, t_x: Array, T: Array, w: Array) -> float:
    log_params = np.log([model.r, model.alpha, model.a, model.b])
    mean, _ = _bgnbd_terms(log_params, x, t_x, T, w)
    return -mean * float(w.sum())


def p_alive(model: BgNbd, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """P(the customer has not dropped out by T | x, t_x, T): the paper's eq. 11. Customers
    with no repeat purchase are alive by the model's assumption (dropout follows a purchase)."""
    fx, ft, fT = _floats(x, t_x, T)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    with np.errstate(over="ignore"):
        odds = np.where(
            fx > 0,
            a / np.maximum(b + fx - 1.0, 1e-12) * ((alpha + fT) / (alpha + ft)) ** (r + fx),
            0.0,
        )
    result: Array = 1.0 / (1.0 + odds)
    return result


def expected_purchases(model: BgNbd, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """E[purchases in (T, T + t] | x, t_x, T]: the paper's eq. 10.

    The paper writes ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z); Euler's
    transformation turns it into ((alpha+T)/(alpha+T+t))^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),
    the same number, but one that does not overflow for customers with hundreds of purchases.
    """
    fx, ft, fT = _floats(x, t_x, T)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    z = t / (alpha + fT + t)
    with np.errstate(invalid="ignore", over="ignore"):
        tail = ((alpha + fT) / (alpha + fT + t)) ** (a - 1.0) * hyp2f1(
            a + b - 1.0 - r, a - 1.0, a + b + fx - 1.0, z
        )
    alive = p_alive(model, fx, ft, fT)
    result: Array = (a + b + fx - 1.0) / (a - 1.0) * (1.0 - tail) * alive
    # With a and b in the hundreds of thousands (dropout all but absent) 2F1 is out of reach
    # of double precision; the model is then the NBD, whose expectation needs no 2F1.
    stuck = ~np.isfinite(result)
    if np.any(stuck):
        nbd = alive * (r + fx) / (alpha + fT) * t
        result = np.where(stuck, nbd, result)
    return result


def p_no_purchase(model: BgNbd, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """P(no purchase in (T, T + t] | x, t_x, T): gone already, or alive and the Poisson
    process (rate ~ Gamma(r + x, alpha + T) given the history) stays silent for t."""
    fx, ft, fT = _floats(x, t_x, T)
    alive = p_alive(model, fx, ft, fT)
    silent = ((model.alpha + fT) / (model.alpha + fT + t)) ** (model.r + fx)
    result: Array = 1.0 - alive + alive * silent
    return result


def churn_risk(expected: ArrayLike) -> Array:
    """The churn risk the product shows: exp(-E[purchases in the horizon]), the chance of no
    purchase in the horizon for a customer buying at the model's expected rate.

    Why not the model's exact P(no purchase) (`p_no_purchase`)? On CDNOW's holdout it ranks
    the customers who did not come back worse than recency alone (AUC 0.747 against 0.759 on
    the 23,570), because BG/NBD overstates how many quiet repeat buyers have left; ranking
    by expected purchases beats recency on both data sets and at every horizon we tried
    (docs/customers.md)."""
    result: Array = np.exp(-np.maximum(np.asarray(expected, dtype=np.float64), 0.0))
    return result


def _gamma_gamma_terms(log_params: Array, x: Array, m: Array, w: Array) -> tuple[float, Array]:
    p, q, v = np.exp(log_params)
    px = p * x
    spent = v + x * m
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(spent)
    )
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - np.log(spent))
    d_q = digamma(px + q) - digamma(q) + np.log(v) - np.log(spent)
    d_v = q / v - (px + q) / spent
    total = w.sum()
    grad = np.array([(w * d).sum() for d in (d_p, d_q, d_v)]) * np.array([p, q, v])
    return -float((w * ll).sum() / total), -grad / total


def fit_gamma_gamma(
    x: ArrayLike, m_x: ArrayLike, *, weights: ArrayLike | None = None
) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma parameters from repeat buyers' purchase counts `x` and
    average repeat-purchase values `m_x` (rows with x = 0 or m_x <= 0 are left out)."""
    fx, fm = _floats(x, m_x)
    w = np.ones_like(fx) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = (fx > 0) & (fm > 0)
    if not np.any(keep):
        raise FitError("Gamma-Gamma: no repeat purchases with a positive value")
    fx, fm, w = fx[keep], fm[keep], w[keep]
    scale = float(np.average(fm, weights=w))
    ms = fm / scale

    def objective(log_params: Array) -> tuple[float, Array]:
        return _gamma_gamma_terms(log_params, fx, ms, w)

    p, q, v = (float(value) for value in np.exp(_maximise(objective, np.zeros(3), "Gamma-Gamma")))
    if q <= 1.0:
        raise FitError(f"Gamma-Gamma: q = {q:.3f} <= 1, the mean spend is not finite")
    return GammaGamma(p=p, q=q, v=v * scale)


def expected_spend(model: GammaGamma, x: ArrayLike, m_x: ArrayLike) -> Array:
    """E[value of a transaction | x, m_x]: a weighted mean of the population's mean and the
    customer's own (Fader, Hardie & Lee 2005b, eq. 5); the population mean for x = 0."""
    fx, fm = _floats(x, m_x)
    p, q, v = model.p, model.q, model.v
    own = np.where(fx > 0, fm, 0.0)
    result: Array = p * (v + fx * own) / (p * fx + q - 1.0)
    return result


def expected_value(
    model: BgNbd,
    spend: GammaGamma,
    t: float,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m_x: ArrayLike,
) -> Array:
    """Expected revenue in (T, T + t]: expected purchases times expected spend (undiscounted)."""
    result: Array = expected_purchases(model, t, x, t_x, T) * expected_spend(spend, x, m_x)
    return result
