"""What a score means to a person: the segment a customer is in and the factors behind their
churn risk, written so a support agent can read them at a glance."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

# The rule, first match wins (docs/customers.md, "Segments"):
NEW_DAYS = 90  # first purchase less than 90 days ago
LOST_BELOW = 0.3  # P(alive) under 0.3
AT_RISK_BELOW = 0.7  # P(alive) under 0.7
CHAMPION_PERCENTILE = 0.8  # top 20% by lifetime value, and likely still active

SEGMENTS = ("new", "one-time", "lost", "at risk", "champion", "loyal")

# A factor weighing less than this is not worth a line on the ticket.
_MIN_WEIGHT = 0.05


def segments(
    frequency: NDArray[np.float64],
    age_days: NDArray[np.float64],
    p_alive: NDArray[np.float64],
    value_percentile: NDArray[np.float64],
) -> NDArray[np.str_]:
    """The segment of each customer, by the rule above."""
    conditions = [
        age_days < NEW_DAYS,
        frequency == 0,
        p_alive < LOST_BELOW,
        p_alive < AT_RISK_BELOW,
        value_percentile >= CHAMPION_PERCENTILE,
    ]
    chosen: NDArray[np.str_] = np.select(conditions, list(SEGMENTS[:-1]), default=SEGMENTS[-1])
    return chosen


def _days(value: float) -> str:
    days = round(value)
    return "1 day" if days == 1 else f"{days} days"


def churn_factors(
    *,
    frequency: float,
    age_days: float,
    recency_days: float,
    p_alive: float,
    churn_risk: float,
    expected_90d: float,
) -> list[dict[str, Any]]:
    """The named factors behind one customer's churn risk, strongest first. Two things keep
    a customer from buying in the next 90 days: they may have left (1 - P(alive)), or, still
    here, buy too rarely to order within 90 days (exp(-expected purchases if still active));
    each factor's weight is its share of the two."""
    if churn_risk <= 0:
        return []
    quiet = age_days - recency_days
    left = 1.0 - p_alive
    if_active = expected_90d / p_alive if p_alive > 0 else 0.0
    rare = math.exp(-if_active)
    total = left + rare
    if total <= 0:
        return []
    gone, slow = left / total, rare / total
    factors: list[dict[str, Any]] = []
    if frequency > 0:
        gap = recency_days / frequency
        times = quiet / gap if gap > 0 else 0.0
        detail = f"quiet for {_days(quiet)}"
        if times >= 1.5:
            detail += f", {times:.0f}× their usual gap of {_days(gap)}"
        factors.append({"factor": "gone quiet", "weight": round(gone, 2), "detail": detail})
        factors.append(
            {
                "factor": "buys rarely",
                "weight": round(slow, 2),
                "detail": f"fewer orders than a 90-day window needs: "
                f"{if_active:.1f} expected if still active (one every {_days(gap)} so far)",
            }
        )
    else:
        factors.append(
            {
                "factor": "no repeat purchase",
                "weight": round(slow, 2),
                "detail": f"one purchase day, {_days(quiet)} ago; "
                f"{if_active:.1f} orders expected in 90 days",
            }
        )
    kept = [f for f in factors if f["weight"] >= _MIN_WEIGHT]
    kept.sort(key=lambda f: f["weight"], reverse=True)
    return kept


def churn_factors_json(**values: float) -> str:
    """`churn_factors` as the JSON text the profiles table stores."""
    return json.dumps(churn_factors(**values), ensure_ascii=False, separators=(",", ":"))
