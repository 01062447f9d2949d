"""`expect:` on a discovery watch: when a new job must have appeared (SPEC §2
`missing`). `{every: 1d, by: "06:00"}`: by 06:00 (in `timezone`) every day
(`every: 2d`: every other day); `{every: 6h}`: every 6 hours from when the
watch began; `{cron: "0 6 * * 1-5"}`: at each time the cron expression names.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.config.quiet import TimeOfDay
from monitor.config.types import Duration

_DAY = 86400.0


class Expectation(BaseModel):
    """When a discovery watch's next job is due."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Duration | None = Field(default=None, gt=0)
    by: TimeOfDay | None = None
    cron: str | None = None

    @field_validator("cron")
    @classmethod
    def _cron_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                cron_trigger(value, UTC)
            except ValueError as error:
                raise ValueError(f"'{value}' is not a cron expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Expectation:
        if (self.every is None) == (self.cron is None):
            raise ValueError('give every (with by: "HH:MM" if you like) or cron, not both')
        if self.by is not None and self.every is None:
            raise ValueError("by goes with every")
        if self.by is not None and self.every is not None and self.every % _DAY:
            raise ValueError("with by, every must be whole days (1d, 2d, 7d)")
        return self

    def spec(self) -> str:
        """A stable text of the expectation (a change re-plans the deadline)."""
        if self.cron is not None:
            return f"cron {self.cron}"
        return f"every {self.every:g}s" + (f" by {self.by:%H:%M}" if self.by else "")

    def next_after(self, moment: datetime, began: datetime, zone: tzinfo) -> datetime:
        """The first deadline strictly after `moment` (UTC). `began` anchors
        `every` without `by`; `zone` reads `by` and cron."""
        if self.cron is not None:
            trigger = cron_trigger(self.cron, zone)
            fire = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
            assert fire is not None  # a crontab always fires again
            return fire.astimezone(UTC)
        assert self.every is not None
        if self.by is None:
            steps = math.floor((moment - began).total_seconds() / self.every) + 1
            return began + timedelta(seconds=max(steps, 1) * self.every)
        return _next_day_at(moment, self.by, int(self.every // _DAY), zone)


def _next_day_at(moment: datetime, by: time, days: int, zone: tzinfo) -> datetime:
    """`by` on the first day after `moment` whose number is a multiple of `days`."""
    local_day = moment.astimezone(zone).date()
    for offset in range(-1, days + 2):
        day = local_day + timedelta(days=offset)
        if day.toordinal() % days:
            continue
        deadline = datetime.combine(day, by, tzinfo=zone).astimezone(UTC)
        if deadline > moment:
            return deadline
    raise AssertionError("unreachable: a deadline falls in every window of `days` days")


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(expression: str, zone: tzinfo) -> CronTrigger:
    """A standard five-field crontab line as an APScheduler trigger. APScheduler
    3 numbers weekdays from Monday = 0; crontab from Sunday = 0 (and 7): the
    day-of-week field is turned into names so `1-5` means Monday to Friday."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has 5 fields, this has {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekday_names(weekday),
        timezone=zone,
    )


def _weekday_names(field: str) -> str:
    """`1-5` → `mon,tue,wed,thu,fri`; `*/2` → `sun,tue,thu,sat`; names pass through."""
    if not any(character.isdigit() for character in field):
        return field
    days: list[int] = []
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = 0, 6
        else:
            first_text, _, last_text = span.partition("-")
            first = int(first_text)
            last = int(last_text) if last_text else (6 if step_text else first)
        if not 0 <= first <= 7 or not 0 <= last <= 7 or step < 1:
            raise ValueError(f"'{field}' is not a day-of-week field (0-7, Sunday is 0 or 7)")
        days += [number % 7 for number in range(first, last + 1, step)]
    return ",".join(_WEEKDAYS[number] for number in sorted(set(days)))
