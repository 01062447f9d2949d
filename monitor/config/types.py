"""Value types that config blocks share: durations and request rates.

Durations are float seconds inside the program; the config accepts `30s`, `5m`,
`2h`, `1d`, `250ms`, combinations like `1h30m`, or a plain number of seconds.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: Any) -> float:
    """Seconds in a duration written as a number or as `1h30m`-style text."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 30s, 5m, 2h, 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value.strip())
    else:
        raise ValueError("a duration is a number of seconds or text like 30s, 5m, 2h, 1d")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError("a duration must be finite and at most 10 years")
    return seconds


MAX_DURATION = 3650 * 86400.0  # anything longer is a typo, and would overflow a date
MAX_RATE = 1_000_000.0


def _parse_duration_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"'{text}' is not a duration (use 30s, 5m, 2h, 1d or seconds)")
    return total


def parse_rate(value: Any) -> float:
    """Requests per second in a rate written as a number (per second) or `N/min`,
    `N/s`, `N/h`."""
    if isinstance(value, bool):
        raise ValueError("a rate is a number per second, or text like 20/min")
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str):
        rate = _parse_rate_text(value.strip())
    else:
        raise ValueError("a rate is a number per second, or text like 20/min")
    if not rate > 0:  # NaN too
        raise ValueError("a rate must be greater than 0")
    if not math.isfinite(rate) or rate > MAX_RATE:
        raise ValueError(f"a rate must be at most {MAX_RATE:g} per second")
    return rate


def _parse_rate_text(text: str) -> float:
    count, _, per = text.partition("/")
    per = per.strip().lower()
    periods = {
        "": 1.0,
        "s": 1.0,
        "sec": 1.0,
        "second": 1.0,
        "min": 60.0,
        "minute": 60.0,
        "m": 60.0,
        "h": 3600.0,
        "hour": 3600.0,
    }
    if per not in periods:
        raise ValueError(f"'{text}' is not a rate (use a number per second, or 20/min)")
    try:
        return float(count) / periods[per]
    except ValueError:
        raise ValueError(f"'{text}' is not a rate (use a number per second, or 20/min)") from None


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, parsed from `30s`-style text or a number."""

Rate = Annotated[float, BeforeValidator(parse_rate)]
"""Requests per second, parsed from a number or `N/min`-style text."""
