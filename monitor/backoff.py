"""Exponential growth with a ceiling, for every backoff in loadwatch: poll
intervals, delivery retries, a provider's pause after a 429."""

from __future__ import annotations

import math


def grown(initial: float, factor: float, step: int, ceiling: float) -> float:
    """`initial` × `factor`^`step`, at most `ceiling`. Any factor ≥ 1 and any
    step are fine: where the power would overflow a float (a `factor: 1000`,
    a delivery retried for a day), the answer is simply the ceiling."""
    if step <= 0 or factor <= 1.0:
        return min(initial, ceiling)
    if step * math.log(factor) >= math.log(ceiling / initial):
        return ceiling
    return min(initial * factor**step, ceiling)
