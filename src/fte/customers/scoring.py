"""Rescoring: fit the value models on every customer's purchases and rewrite every profile.

Run after each import or sync and by `fte customers refit`. One aggregate query reads the
model's inputs, numpy fits and predicts for all customers at once, and the profiles are written
in bulk, in one transaction, so readers see either the old scores or the new ones.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import numpy as np
from numpy.typing import NDArray

from fte.customers import clv, segments
from fte.customers import scoring_repository as repo
from fte.customers.profile_cache import invalidate_profiles
from fte.db import transaction

log = logging.getLogger(__name__)

Array = NDArray[np.float64]

# Below this many repeat buyers the models' four (and three) parameters are not identified
# well enough to trust: the simple estimates below are used instead, and `clv_models.note`
# says so.
MIN_REPEAT_BUYERS = 20
HORIZON_DAYS = 90.0
# The usual gap assumed for one-time buyers when no one has bought twice yet.
DEFAULT_GAP_DAYS = 90.0


@dataclass(frozen=True)
class RescoreResult:
    """What one rescoring did: customers scored, seconds taken, the `clv_models` row."""

    customers: int
    seconds: float
    model_id: int
    note: str | None = None
    # Seconds spent reading the statistics, fitting and predicting, writing the profiles.
    phases: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Statistics:
    """The model's inputs, one array element per customer (days, distinct purchase days)."""

    frequency: Array
    recency: Array
    age: Array
    orders: Array
    total: Array
    first_day_amount: Array

    @classmethod
    def from_arrays(cls, row: asyncpg.Record) -> Statistics:
        """`scoring_repository.statistics_arrays` as numpy arrays."""

        def column(name: str) -> Array:
            return np.asarray(row[name] or [], dtype=np.float64)

        return cls(
            frequency=column("frequency"),
            recency=column("recency_days"),
            age=column("age_days"),
            orders=column("orders"),
            total=column("total"),
            first_day_amount=column("first_day_amount"),
        )

    @property
    def repeat_value(self) -> Array:
        """The average value of a repeat purchase day (0 for one-time buyers)."""
        repeats = np.maximum(self.frequency, 1.0)
        value: Array = np.where(
            self.frequency > 0, (self.total - self.first_day_amount) / repeats, 0.0
        )
        return value


@dataclass(frozen=True)
class Predictions:
    """Per-customer predictions, and the parameters and note of the model behind them."""

    p_alive: Array
    expected_purchases: Array
    expected_value: Array
    churn_risk: Array
    params: dict[str, Any]
    note: str | None


def _simple(stats: Statistics, why: str) -> Predictions:
    """Estimates with no fitted model: each customer buys once per their own usual gap (the
    median of repeat buyers' gaps for one-time buyers), stays active for one gap after their
    last purchase, then fades by a factor e per further gap."""
    x, t_x, age = stats.frequency, stats.recency, stats.age
    own_gap = np.where(x > 0, t_x / np.maximum(x, 1.0), np.nan)
    pooled = float(np.nanmedian(own_gap)) if np.any(x > 0) else DEFAULT_GAP_DAYS
    gap = np.maximum(np.where(x > 0, own_gap, pooled), 1.0)
    quiet = age - t_x
    alive = np.minimum(1.0, np.exp(1.0 - quiet / gap))
    expected = alive * HORIZON_DAYS / gap
    spend = stats.total / np.maximum(stats.orders, 1.0)
    return Predictions(
        p_alive=alive,
        expected_purchases=expected,
        expected_value=expected * spend,
        churn_risk=clv.churn_risk(expected),
        params={"method": "simple", "time_unit": "days", "usual_gap_days": pooled},
        note=why,
    )


def predict(stats: Statistics) -> Predictions:
    """Fit BG/NBD and Gamma-Gamma on everyone and predict for everyone; the simple estimates
    when the data cannot support a fit."""
    repeat_buyers = int(np.count_nonzero(stats.frequency > 0))
    if repeat_buyers < MIN_REPEAT_BUYERS:
        return _simple(
            stats,
            f"simple estimates: {repeat_buyers} repeat buyers, "
            f"fewer than the {MIN_REPEAT_BUYERS} a fit needs",
        )
    x, t_x, age = stats.frequency, stats.recency, stats.age
    ux, ut, uT, weights, _ = clv.compress(x, t_x, age)
    try:
        model = clv.fit_bgnbd(ux, ut, uT, weights=weights)
    except clv.FitError as exc:
        return _simple(stats, f"simple estimates: {exc}")
    alive = clv.p_alive(model, x, t_x, age)
    expected = clv.expected_purchases(model, HORIZON_DAYS, x, t_x, age)
    params: dict[str, Any] = {"method": "bg/nbd", "time_unit": "days", **model.as_dict()}
    note = None
    m_x = stats.repeat_value
    valued = (x > 0) & (m_x > 0)
    spend_of_all = stats.total / np.maximum(stats.orders, 1.0)
    try:
        if np.count_nonzero(valued) < MIN_REPEAT_BUYERS:
            raise clv.FitError(f"{np.count_nonzero(valued)} repeat buyers with a value")
        spend_model = clv.fit_gamma_gamma(x[valued], m_x[valued])
        spend = clv.expected_spend(spend_model, np.where(valued, x, 0.0), m_x)
        params.update(spend_model.as_dict())
        params["method"] = "bg/nbd+gamma-gamma"
    except clv.FitError as exc:
        spend = spend_of_all
        note = f"spend is each customer's average order value ({exc})"
    return Predictions(
        p_alive=alive,
        expected_purchases=expected,
        expected_value=expected * spend,
        churn_risk=clv.churn_risk(expected),
        params=params,
        note=note,
    )


def value_percentiles(total: Array) -> Array:
    """The share of customers whose lifetime value is lower than each one's (0..1)."""
    if total.size == 0:
        return total
    ranked = np.sort(total)
    share: Array = np.searchsorted(ranked, total, side="left") / total.size
    return share


# The profile's `real` columns hold no number between 0 and this one: PostgreSQL refuses a
# smaller one ("value out of range: underflow", the whole rescoring with it) rather than
# storing 0. A customer silent for years after many orders has a P(alive) of 1e-60.
REAL_SMALLEST = float(np.finfo(np.float32).tiny)


def _real(values: Array) -> list[float]:
    """`values` as a `real` column stores them: the vanishingly small ones as 0."""
    result: list[float] = np.where(np.abs(values) < REAL_SMALLEST, 0.0, values).tolist()
    return result


def _clean(values: Array, upper: float | None = None) -> list[float]:
    cleaned = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).clip(0.0, upper)
    return _real(cleaned)


def scores(stats: Statistics, predicted: Predictions) -> dict[str, list[Any]]:
    """What `scoring_repository.write_profiles` stores, one list per `SCORE_ARRAYS` name."""
    alive = np.nan_to_num(predicted.p_alive, nan=0.0).clip(0.0, 1.0)
    expected = np.nan_to_num(predicted.expected_purchases, nan=0.0, posinf=0.0).clip(0.0)
    percentile = value_percentiles(stats.total)
    gone, rare, if_active = segments.factor_weights(alive, expected)
    named = segments.segments(stats.frequency, stats.age, alive, percentile)
    return {
        "p_alive": _real(alive),
        "expected_purchases": _real(expected),
        "expected_value": _clean(predicted.expected_value),
        "churn_risk": _clean(predicted.churn_risk, 1.0),
        "value_percentile": _real(percentile),
        "gone_weight": gone.tolist(),
        "rare_weight": rare.tolist(),
        "if_active": if_active.tolist(),
        "segment": named.tolist(),
    }


async def rescore(pool: asyncpg.Pool, *, now: dt.datetime | None = None) -> RescoreResult:
    """Refit the models on every customer's orders up to `now` and rewrite every profile."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    phases: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        phases[name] = round(time.perf_counter() - since, 2)
        return time.perf_counter()

    async with transaction(pool) as conn:
        await repo.lock_rescoring(conn)
        mark = time.perf_counter()
        customers = await repo.collect_statistics(conn, now)
        stats = Statistics.from_arrays(await repo.statistics_arrays(conn))
        mark = lap("read", mark)
        predicted = predict(stats) if customers else _simple(stats, "no orders to score")
        mark = lap("fit_and_predict", mark)
        model_id = await repo.insert_model(conn, predicted.params, customers, predicted.note)
        await repo.write_profiles(
            conn,
            scores(stats, predicted),
            model_id=model_id,
            scored_at=now,
            min_factor_weight=segments.MIN_FACTOR_WEIGHT,
        )
        lap("write", mark)
        seconds = time.perf_counter() - started
        await repo.finish_model(conn, model_id, seconds)
    # Committed: readers must not be served the old scores from the cache for a TTL more.
    await invalidate_profiles()
    log.info(
        "customers rescored",
        extra={"customers": customers, "seconds": round(seconds, 2), "model_id": model_id},
    )
    return RescoreResult(
        customers=customers,
        seconds=seconds,
        model_id=model_id,
        note=predicted.note,
        phases=phases,
    )
