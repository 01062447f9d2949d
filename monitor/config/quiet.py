"""`quiet:` windows: recurring times when events are held back (SPEC §4),
e.g. `quiet: [{days: [mon, tue, wed, thu, fri], from: "01:00", to: "03:00"}]`,
read in the config's `timezone`. A window whose `to` is not after its `from`
runs past midnight into the next day; `days` are the days it starts on."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def _time_of_day(value: Any) -> Any:
    if isinstance(value, time):
        return value
    # Unquoted, YAML reads 01:00 as the number 60 (base 60): ask for quotes.
    if not isinstance(value, str) or not (match := _CLOCK.fullmatch(value.strip())):
        raise ValueError(f'{value!r} is not a time of day; write it quoted, like "01:00"')
    return time(int(match.group(1)), int(match.group(2)))


TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]


class QuietWindow(BaseModel):
    """One recurring quiet time: `from` to `to` on each of `days` (default every day)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    days: list[Day] = Field(default_factory=lambda: list(DAYS), min_length=1)
    start: TimeOfDay = Field(alias="from")
    end: TimeOfDay = Field(alias="to")

    def span_starting(self, day: date, zone: tzinfo) -> tuple[datetime, datetime] | None:
        """The window that starts on `day` as UTC times, or None if it does not start then."""
        if DAYS[day.weekday()] not in self.days:
            return None
        begins = datetime.combine(day, self.start, tzinfo=zone)
        end_day = day if self.end > self.start else day + timedelta(days=1)
        ends = datetime.combine(end_day, self.end, tzinfo=zone)
        return begins.astimezone(UTC), ends.astimezone(UTC)


def quiet_until(windows: list[QuietWindow], now: datetime, zone: tzinfo) -> datetime | None:
    """When the quiet window `now` falls in ends (the latest end, when several
    overlap), or None when no window holds now. Compared in UTC, so a window
    on the day clocks change lasts the real time between its two wall times."""
    today = now.astimezone(zone).date()
    ends = [
        span[1]
        for window in windows
        for day in (today - timedelta(days=1), today)
        if (span := window.span_starting(day, zone)) is not None and span[0] <= now < span[1]
    ]
    return max(ends, default=None)
