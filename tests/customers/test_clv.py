"""BG/NBD and Gamma-Gamma against the papers: the maximum-likelihood estimates on CDNOW's
sample, the worked example of Fader, Hardie & Lee (2005), and the closed forms evaluated
independently in arbitrary precision."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from bench.clv import PAPER, SPEND_PAPER, Cohort, load

from fte.customers import clv

PAPER_MODEL = clv.BgNbd(**PAPER)


@pytest.fixture(scope="module")
def sample() -> Cohort:
    return load("CDNOW_sample.txt")


def _close(fitted: dict[str, float], paper: dict[str, float], tolerance: float) -> None:
    for name, value in paper.items():
        assert abs(fitted[name] - value) / value < tolerance, (name, fitted[name], value)


def test_the_fit_recovers_the_papers_estimates_on_the_cdnow_sample(sample: Cohort) -> None:
    model = clv.fit_bgnbd(sample.x, sample.t_x, sample.T)
    _close(model.as_dict(), PAPER, 0.02)
    assert model.log_likelihood == pytest.approx(-9582.4, abs=0.5)  # the paper's LL


def test_compressed_rows_fit_exactly_as_every_row(sample: Cohort) -> None:
    x, t_x, T, weights, inverse = clv.compress(sample.x, sample.t_x, sample.T)
    assert len(x) < len(sample.x)
    assert np.array_equal(x[inverse], sample.x) and np.array_equal(T[inverse], sample.T)
    folded = clv.fit_bgnbd(x, t_x, T, weights=weights)
    every = clv.fit_bgnbd(sample.x, sample.t_x, sample.T)
    _close(folded.as_dict(), {k: v for k, v in every.as_dict().items() if v}, 1e-4)


def test_the_spend_model_recovers_the_papers_estimates(sample: Cohort) -> None:
    repeat = sample.x > 0
    spend = clv.fit_gamma_gamma(sample.x[repeat], sample.m_x[repeat])
    _close(spend.as_dict(), SPEND_PAPER, 0.02)
    # The conditional mean shrinks a customer's own average toward the population's, less so
    # the more purchases it rests on.
    own = np.array([100.0, 100.0, 100.0])
    expected = clv.expected_spend(spend, np.array([0.0, 1.0, 50.0]), own)
    assert expected[0] == pytest.approx(spend.population_mean)
    assert spend.population_mean < expected[1] < expected[2] < 100.0


def test_expected_purchases_match_the_papers_worked_example() -> None:
    # FHL (2005), section 5: x = 2, t_x = 30.43, T = 38.86 weeks, the next 39 weeks.
    assert clv.expected_purchases(PAPER_MODEL, 39, [2], [30.43], [38.86])[0] == pytest.approx(
        1.226, abs=0.001
    )


def _paper_closed_forms(x: int, t_x: float, T: float, t: float) -> tuple[float, float]:
    """P(alive) (eq. 11) and E[X(t)] (eq. 10) exactly as the paper writes them, in 50 digits."""
    mpmath.mp.dps = 50
    r, alpha, a, b = (mpmath.mpf(v) for v in PAPER.values())
    odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0
    alive = 1 / (1 + odds)
    z = t / (alpha + T + t)
    tail = ((alpha + T) / (alpha + T + t)) ** (r + x) * mpmath.hyp2f1(
        r + x, b + x, a + b + x - 1, z
    )
    expected = (a + b + x - 1) / (a - 1) * (1 - tail) * alive
    return float(alive), float(expected)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "t"),
    [(0, 0.0, 30.0, 39.0), (2, 30.43, 38.86, 39.0), (7, 12.0, 38.0, 13.0), (300, 700.0, 720.0, 13)],
)
def test_predictions_equal_the_papers_closed_forms(x: int, t_x: float, T: float, t: float) -> None:
    alive, expected = _paper_closed_forms(x, t_x, T, t)
    assert clv.p_alive(PAPER_MODEL, [x], [t_x], [T])[0] == pytest.approx(alive, rel=1e-9)
    assert clv.expected_purchases(PAPER_MODEL, t, [x], [t_x], [T])[0] == pytest.approx(
        expected, rel=1e-7
    )


def test_a_customer_quiet_for_long_is_less_likely_alive_and_buys_less() -> None:
    quiet_weeks = np.array([0.0, 5.0, 20.0, 60.0])
    x, T = np.full(4, 4.0), np.full(4, 80.0)
    alive = clv.p_alive(PAPER_MODEL, x, T - quiet_weeks, T)
    expected = clv.expected_purchases(PAPER_MODEL, 13, x, T - quiet_weeks, T)
    risk = clv.churn_risk(expected)
    assert np.all(np.diff(alive) < 0) and np.all(np.diff(expected) < 0)
    assert np.all(np.diff(risk) > 0) and np.all((risk > 0) & (risk < 1))
    # No repeat purchase: alive by the model's assumption (dropout follows a purchase).
    assert clv.p_alive(PAPER_MODEL, [0], [0.0], [50.0])[0] == 1.0
    none = clv.p_no_purchase(PAPER_MODEL, 13, x, T - quiet_weeks, T)
    assert np.all(np.diff(none) > 0)


def test_data_with_no_repeat_buyer_cannot_be_fitted() -> None:
    with pytest.raises(clv.FitError, match="no repeat buyers"):
        clv.fit_bgnbd([0, 0, 0], [0, 0, 0], [10, 20, 30])
    with pytest.raises(clv.FitError):
        clv.fit_bgnbd([1], [5], [3])  # bought after "now"
