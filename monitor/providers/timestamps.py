"""Reading the vendors' timestamps (ISO 8601 text, epoch numbers) into aware
UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Epoch numbers this large are milliseconds: 1e11 seconds is the year 5138.
_EPOCH_MS_FROM = 1e11


def iso_time(value: Any) -> datetime | None:
    """`value` as an aware UTC datetime when it is an ISO 8601 timestamp
    (`2019-04-18T14:36:11.123Z`, `2026-03-02T17:15:00+11:00`); None otherwise.

    A timestamp without an offset is read as UTC: a vendor that leaves the zone
    out almost always means its servers' UTC. One whose UTC time a datetime
    cannot hold (`0001-01-01T00:00:00+01:00`) is None: a poll must not fail
    over a time it can do without."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # its UTC time is before year 1 or after 9999
        return None


def iso_or_epoch_time(value: Any) -> datetime | None:
    """ISO 8601 text (as `iso_time`), or epoch seconds or milliseconds (told
    apart by size), as an aware UTC datetime; None otherwise."""
    if isinstance(value, str):
        return iso_time(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
        return datetime.fromtimestamp(number / 1000 if number >= _EPOCH_MS_FROM else number, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None  # not a number, or NaN, infinite or out of range
