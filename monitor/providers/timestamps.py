"""Reading the vendors' ISO 8601 timestamps into aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso_time(value: Any) -> datetime | None:
    """`value` as an aware UTC datetime when it is an ISO 8601 timestamp
    (`2019-04-18T14:36:11.123Z`, `2026-03-02T17:15:00+11:00`); None otherwise.

    A timestamp without an offset is read as UTC: a vendor that leaves the zone
    out almost always means its servers' UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
