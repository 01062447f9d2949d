"""Expected runs as pure functions: deadlines from `expect:` (every, by, cron;
across a DST change), and `judge` on a fake clock: missing once, reminders
every `repeat`, recovered by a late job that then counts for that deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.clock import FakeClock
from monitor.config.expect import Expectation
from monitor.domain import Event
from monitor.engine.expectations import judge
from monitor.store.expectations import ExpectState

BERLIN = ZoneInfo("Europe/Berlin")
BEGAN = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
DAILY = Expectation.model_validate({"every": "1d", "by": "06:00"})
HOUR = 3600.0


def deadline(expect: Expectation, after: datetime) -> datetime:
    return expect.next_after(after, BEGAN, BERLIN)


def test_daily_by_six_is_six_local_time_on_both_sides_of_the_clock_change():
    first = deadline(DAILY, BEGAN)
    assert first == datetime(2026, 3, 28, 5, 0, tzinfo=UTC)  # 06:00 CET
    assert deadline(DAILY, first) == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)  # 06:00 CEST


def test_every_other_day_and_every_six_hours_and_cron():
    two_days = Expectation.model_validate({"every": "2d", "by": "06:00"})
    first = deadline(two_days, BEGAN)
    assert deadline(two_days, first) - first in (timedelta(days=2), timedelta(days=2, hours=-1))
    six_hours = Expectation.model_validate({"every": "6h"})
    assert deadline(six_hours, BEGAN) == BEGAN + timedelta(hours=6)
    assert deadline(six_hours, BEGAN + timedelta(hours=7)) == BEGAN + timedelta(hours=12)
    weekdays = Expectation.model_validate({"cron": "30 5 * * 1-5"})
    friday = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    assert deadline(weekdays, friday) == datetime(2026, 3, 30, 3, 30, tzinfo=UTC)  # Monday CEST


@pytest.mark.parametrize(
    ("written", "complaint"),
    [
        ({"every": "1d", "cron": "0 6 * * *"}, "not both"),
        ({"by": "06:00"}, "not both"),
        ({"every": "36h", "by": "06:00"}, "whole days"),
        ({"cron": "every morning"}, "not a cron expression"),
        ({"every": "1d", "by": 360}, "not a time of day"),
    ],
)
def test_bad_expectations_are_refused(written, complaint):
    with pytest.raises(ValueError, match=complaint):
        Expectation.model_validate(written)


def start() -> ExpectState:
    return ExpectState(DAILY.spec(), deadline(DAILY, BEGAN), BEGAN)


def next_after(moment: datetime) -> datetime:
    return deadline(DAILY, moment)


def test_a_job_before_the_deadline_meets_it_quietly():
    clock = FakeClock(BEGAN)
    state = start()
    clock.advance(17 * HOUR)  # 05:00 local: the run appears
    found = [clock.now()]
    clock.advance(2 * HOUR)
    state, events = judge(state, found, clock.now(), next_after, 4 * HOUR)
    assert events == []
    assert state.counted_after == datetime(2026, 3, 28, 5, 0, tzinfo=UTC)
    assert state.next_due_at == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)


def test_missing_fires_once_then_reminds_every_repeat_then_a_late_job_recovers_it():
    clock = FakeClock(BEGAN)
    state = start()
    clock.advance(17 * HOUR + 1)  # just past 06:00 local, nothing found
    state, events = judge(state, [], clock.now(), next_after, 4 * HOUR)
    assert [event for event, _, _ in events] == [Event.MISSING]
    missed = events[0][1]
    assert state.missing_since == missed == datetime(2026, 3, 28, 5, 0, tzinfo=UTC)

    clock.advance(HOUR)
    state, events = judge(state, [], clock.now(), next_after, 4 * HOUR)
    assert events == []  # no reminder before `repeat`
    clock.advance(3 * HOUR)
    state, events = judge(state, [], clock.now(), next_after, 4 * HOUR)
    assert [(e, d) for e, d, _ in events] == [(Event.MISSING, missed)]
    assert state.reminders == 1

    clock.advance(HOUR)  # the run finally appears, late
    late = clock.now()
    state, events = judge(state, [late], clock.now(), next_after, 4 * HOUR)
    assert [(e, d) for e, d, _ in events] == [(Event.RECOVERED, missed)]
    assert state.missing_since is None and state.counted_after == late

    clock.advance(20 * HOUR)  # past the next 06:00: the late job does not count twice
    state, events = judge(state, [late], clock.now(), next_after, 4 * HOUR)
    assert [event for event, _, _ in events] == [Event.MISSING]


def test_a_long_outage_of_the_daemon_opens_missing_once_not_once_per_deadline():
    state, events = judge(start(), [], BEGAN + timedelta(days=10), next_after, 0)
    assert [event for event, _, _ in events] == [Event.MISSING]
    assert state.next_due_at > BEGAN + timedelta(days=10)


@pytest.mark.parametrize(
    ("written", "days"),
    [("1-5", "mon,tue,wed,thu,fri"), ("0,6", "sun,sat"), ("7", "sun"), ("*/2", "sun,tue,thu,sat")],
)
def test_cron_weekdays_are_numbered_from_sunday_as_in_crontab(written, days):
    from monitor.config.expect import _weekday_names

    assert _weekday_names(written) == days
