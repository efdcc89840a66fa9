"""Exponential backoff with full jitter, for every loop that retries: any number of failures
gives a delay within the cap (the exponent is capped, so `2**n` never overflows a float)."""

from __future__ import annotations

import random

# 2**64 times any sane base is past any cap; beyond it the exponent only risks OverflowError.
_MAX_EXPONENT = 64


def ceiling(failures: int, base: float, cap: float) -> float:
    """The longest wait after `failures` consecutive failures: base·2^(failures-1), at most cap."""
    if failures <= 0:
        return 0.0
    exponent = min(failures - 1, _MAX_EXPONENT)
    return min(cap, base * 2.0**exponent)


def delay(failures: int, base: float, cap: float) -> float:
    """A wait drawn uniformly from [0, ceiling]: full jitter, so many workers that failed
    together do not retry together."""
    return random.uniform(0.0, ceiling(failures, base, cap))
