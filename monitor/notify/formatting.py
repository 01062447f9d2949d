"""How numbers and text read in a notification: durations, percentages, counts,
and the caps that keep a message short. Also the template filters of the same
names (`duration`, `percent`, `counts`)."""

from __future__ import annotations

ELLIPSIS = "…"
_COUNT_ORDER = ("processed", "errors", "total")


def format_duration(seconds: float) -> str:
    """`45s`, `4m 12s`, `2h 03m`, `3d 04h`: two units are enough for a person.
    Under a second, milliseconds (`50ms`), so a short backoff does not read `0s`."""
    if 0 < seconds < 1:
        millis = max(1, round(seconds * 1000))
        return f"{millis}ms" if millis < 1000 else "1s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_percent(progress: float) -> str:
    """`87%`; rounded down, so an unfinished job never shows 100%."""
    return f"{int(progress * 100 + 1e-9)}%"


def format_counts(counts: dict[str, int]) -> str:
    """`processed 1,200 · errors 3 · total 1,250`."""
    known = len(_COUNT_ORDER)
    names = sorted(
        counts, key=lambda name: _COUNT_ORDER.index(name) if name in _COUNT_ORDER else known
    )
    return " · ".join(f"{name} {counts[name]:,}" for name in names)


def one_line(text: str) -> str:
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS
