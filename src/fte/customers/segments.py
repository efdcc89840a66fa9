"""What a score means to a person: the segment a customer is in and the factors behind their
churn risk, written so a support agent can read them at a glance."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# The rule, first match wins (docs/customers.md, "Segments"):
NEW_DAYS = 90  # first purchase less than 90 days ago
LOST_BELOW = 0.3  # P(alive) under 0.3
AT_RISK_BELOW = 0.7  # P(alive) under 0.7
CHAMPION_PERCENTILE = 0.8  # top 20% by lifetime value, and likely still active

SEGMENTS = ("new", "one_time", "lost", "at_risk", "champion", "loyal")

# A factor weighing less than this is not worth a line on the ticket (the words of each
# factor are in scoring_repository.write_profiles, built by the database for speed).
MIN_FACTOR_WEIGHT = 0.05


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


def factor_weights(
    p_alive: NDArray[np.float64], expected_90d: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The weights of the two factors behind each customer's churn risk, and their expected
    purchases in 90 days if still active. Two things keep a customer from buying in the next
    90 days: they may have left (1 - P(alive): "gone quiet"), or, still here, buy too rarely to
    order within 90 days (exp(-expected purchases if active): "buys rarely", "no repeat
    purchase" for one-time buyers); each weight is its part's share of the two, rounded to
    hundredths. A factor under 0.05 is not shown."""
    if_active = np.divide(expected_90d, p_alive, out=np.zeros_like(expected_90d), where=p_alive > 0)
    left = 1.0 - p_alive
    rare = np.exp(-if_active)
    total = np.maximum(left + rare, 1e-12)
    return np.round(left / total, 2), np.round(rare / total, 2), if_active
