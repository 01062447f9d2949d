"""When to poll next: pure functions of the policy, the job's history and a
random draw, so tests pin every number without a clock or a sleep."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.backoff import grown
from monitor.config import PollPolicy


def backoff_delay(policy: PollPolicy, step: int, draw: float) -> float:
    """Seconds until the next poll after `step` polls without a change:
    initial × factor^step, capped at max, then spread by ± jitter.

    `draw` is a uniform random number in [0, 1); 0.5 means no spread."""
    base = grown(policy.initial, policy.factor, step, policy.max)
    return jittered(base, policy.jitter, draw)


def jittered(seconds: float, jitter: float, draw: float) -> float:
    """`seconds` moved by up to ± jitter × seconds, as `draw` goes from 0 to 1."""
    return max(0.0, seconds * (1.0 + jitter * (2.0 * draw - 1.0)))


def eta_delay(
    policy: PollPolicy,
    previous: tuple[datetime, float] | None,
    current: tuple[datetime, float],
) -> float | None:
    """Seconds until the job should be done, judged from two progress readings
    (time, fraction 0..1), clamped to [initial, max]; None when progress is not
    rising or there is nothing to compare with."""
    if previous is None:
        return None
    remaining = remaining_seconds(previous, current)
    if remaining is None:
        return None
    return min(max(remaining, policy.initial), policy.max)


# An end further off than this is no estimate: progress has barely moved.
MAX_ESTIMATE_SECONDS = 10 * 365 * 86400.0


def estimated_end(
    previous: tuple[datetime, float], current: tuple[datetime, float]
) -> datetime | None:
    """When progress reaches 1 at the pace between two readings (time,
    fraction 0..1); None when progress is not rising, or when that end is more
    than ten years off (a job at 0.0000001 % would otherwise end past the
    year 9999, which no datetime holds)."""
    remaining = remaining_seconds(previous, current)
    if remaining is None or remaining > MAX_ESTIMATE_SECONDS:
        return None
    return current[0] + timedelta(seconds=remaining)


def remaining_seconds(
    previous: tuple[datetime, float], current: tuple[datetime, float]
) -> float | None:
    """Seconds until progress reaches 1 at the pace between two readings (time,
    fraction 0..1); None when progress is not rising."""
    (then, before), (now, after) = previous, current
    elapsed = (now - then).total_seconds()
    if after <= before or elapsed <= 0:
        return None
    return (1.0 - after) * elapsed / (after - before)
