"""Conditions as pure functions of (job, open conditions, settings, now), driven
by a FakeClock: each test walks a job through time and reads the notices."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.clock import FakeClock
from monitor.config import WatchPolicy
from monitor.config.models import parse_deadline
from monitor.domain import Event, State
from monitor.engine.conditions import (
    DueBy,
    PollOutcome,
    due_by,
    evaluate,
    next_time_of_day,
    p90,
)
from monitor.providers.base import FailureKind
from monitor.store.conditions import Notices, OpenCondition
from monitor.store.records import JobRecord

HOUR = 3600.0
START = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)


def job(clock: FakeClock, state: State = State.RUNNING, **changes) -> JobRecord:
    record = JobRecord(
        id=1, watch_id=1, watch="hr-nightly", provider="hr", job_id="42", state=state,
        raw_status=state.value, progress=None, processed=None, errors=None, total=None,
        message=None, children=[], details={}, started_at=None, finished_at=None,
        first_seen_at=clock.now(), state_changed_at=clock.now(), progress_changed_at=None,
        terminal_at=None, last_poll_at=clock.now(), next_poll_at=None, polls=1,
        failed_polls=0, consecutive_failures=0, last_failure=None, backoff_step=0,
    )  # fmt: skip
    return dataclasses.replace(record, **changes)


class Tracker:
    """Applies verdicts the way the store does, and keeps the notices sent."""

    def __init__(self, clock: FakeClock, policy: WatchPolicy) -> None:
        self.clock = clock
        self.policy = policy
        self.open: list[OpenCondition] = []
        self.last: dict[Event, int] = {}
        self.recoveries = 0
        self.notices: list[tuple[str, int]] = []
        self.next_check_at: datetime | None = None

    def check(self, record: JobRecord, *, due: DueBy | None = None, poll=None) -> None:
        now = self.clock.now()
        notices = Notices(dict(self.last), self.recoveries)
        verdict = evaluate(record, self.open, notices, self.policy, now, due=due, poll=poll)
        for clearing in verdict.clearings:
            self.open.remove(clearing.condition)
            if clearing.recovered is not None:
                self.recoveries = clearing.recovered
                self.notices.append(("recovered", clearing.recovered))
        for reminder in verdict.reminders:
            self.open.remove(reminder.condition)
            self.open.append(
                dataclasses.replace(
                    reminder.condition, last_notified_at=now, reminders=reminder.number
                )
            )
            self.last[reminder.condition.kind] = reminder.sequence
            self.notices.append((reminder.condition.kind.value, reminder.sequence))
        for opening in verdict.openings:
            condition = OpenCondition(
                len(self.notices) + 100, opening.kind, opening.reason, now, now, 0, opening.sequence
            )
            self.open.append(condition)
            self.last[opening.kind] = opening.sequence
            self.notices.append((opening.kind.value, opening.sequence))
        self.next_check_at = verdict.next_check_at

    def walk(self, record: JobRecord, hours: float, step: float = 60.0, **kwargs) -> None:
        """Check every `step` seconds for `hours`, as the sweep does between polls."""
        for _ in range(int(hours * HOUR / step)):
            self.clock.advance(step)
            self.check(record, **kwargs)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.notices]


def policy(**keys) -> WatchPolicy:
    return WatchPolicy.model_validate({"stall_after": "2h", "repeat": "4h", **keys})


def test_stalled_fires_once_after_stall_after():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(repeat=0))
    record = job(clock)
    tracker.walk(record, hours=1.9)
    assert tracker.notices == []
    tracker.walk(record, hours=10)
    assert tracker.notices == [("stalled", 1)]


def test_stalled_repeats_every_repeat_while_it_holds():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy())
    tracker.walk(job(clock), hours=2 + 4 * 2 + 0.5)
    assert tracker.notices == [("stalled", 1), ("stalled", 2), ("stalled", 3)]


def test_repeat_zero_sends_no_reminders():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(repeat=0))
    tracker.walk(job(clock), hours=48)
    assert tracker.kinds() == ["stalled"]


def test_stalled_is_due_at_stall_after_for_the_check_between_polls():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy())
    tracker.check(job(clock))
    assert tracker.next_check_at == START + timedelta(hours=2)


def test_rising_progress_keeps_a_job_from_stalling():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy())
    record = job(clock, progress=0.1)
    for _ in range(10):
        clock.advance(HOUR)
        record = dataclasses.replace(
            record, progress=record.progress + 0.05, progress_changed_at=clock.now()
        )
        tracker.check(record, poll=PollOutcome())
    assert tracker.notices == []


def test_a_change_clears_stalled_with_one_recovered():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy())
    record = job(clock, state=State.PENDING)
    tracker.walk(record, hours=3)
    clock.advance(60)
    moved = dataclasses.replace(record, state=State.RUNNING, state_changed_at=clock.now())
    tracker.check(moved, poll=PollOutcome())
    tracker.walk(moved, hours=1)
    assert tracker.notices == [("stalled", 1), ("recovered", 1)]


def test_a_stall_the_watch_does_not_subscribe_to_clears_without_recovered():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(on=["succeeded", "failed", "recovered"]))
    record = job(clock, state=State.PENDING)
    tracker.walk(record, hours=3)
    clock.advance(60)
    moved = dataclasses.replace(record, state=State.RUNNING, state_changed_at=clock.now())
    tracker.check(moved, poll=PollOutcome())
    assert ("recovered", 1) not in tracker.notices
    assert tracker.open == []


def test_a_second_stall_gets_a_notice_number_of_its_own():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(repeat=0))
    record = job(clock, state=State.PENDING)
    tracker.walk(record, hours=3)
    moved = dataclasses.replace(record, state=State.RUNNING, state_changed_at=clock.now())
    tracker.check(moved, poll=PollOutcome())
    tracker.walk(moved, hours=3)
    assert tracker.notices == [("stalled", 1), ("recovered", 1), ("stalled", 2)]


def test_waiting_fires_after_stall_after_in_waiting_and_not_stalled():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(repeat=0))
    tracker.walk(job(clock, state=State.WAITING), hours=1.5)
    assert tracker.notices == []
    tracker.walk(job(clock, state=State.WAITING, state_changed_at=START), hours=10)
    assert tracker.notices == [("waiting", 1)]


def test_waiting_repeats_every_repeat():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(repeat="1h"))
    tracker.walk(job(clock, state=State.WAITING), hours=2 + 2.5)
    assert tracker.notices == [("waiting", 1), ("waiting", 2), ("waiting", 3)]


def test_leaving_waiting_clears_it_without_a_recovered_notice():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy())
    record = job(clock, state=State.WAITING)
    tracker.walk(record, hours=3)
    moved = dataclasses.replace(record, state=State.RUNNING, state_changed_at=clock.now())
    tracker.check(moved, poll=PollOutcome())
    assert tracker.notices == [("waiting", 1)]
    assert tracker.open == []


def test_overdue_after_a_duration_fires_once_then_repeats():
    clock = FakeClock(START)
    settings = policy(deadline="3h", stall_after="1d", repeat="2h")
    tracker = Tracker(clock, settings)
    record = job(clock)
    due = due_by(record, settings.deadline, settings.deadline_fallback, UTC)
    tracker.walk(record, hours=2.9, due=due)
    assert tracker.notices == []
    tracker.walk(record, hours=0.2, due=due)
    assert tracker.notices == [("overdue", 1)]
    tracker.walk(record, hours=4, due=due)
    assert tracker.notices == [("overdue", 1), ("overdue", 2), ("overdue", 3)]


def test_overdue_by_time_of_day_uses_the_configured_zone():
    clock = FakeClock(datetime(2026, 3, 2, 3, 0, tzinfo=UTC))  # 04:00 in Paris
    settings = policy(deadline="06:00", stall_after="1d", repeat=0)
    record = job(clock)
    due = due_by(record, settings.deadline, settings.deadline_fallback, ZoneInfo("Europe/Paris"))
    assert due is not None
    assert due.at == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    assert "06:00 (Europe/Paris)" in due.reason
    tracker = Tracker(clock, settings)
    tracker.walk(record, hours=1.9, due=due)
    assert tracker.notices == []
    tracker.walk(record, hours=5, due=due)
    assert tracker.notices == [("overdue", 1)]


def test_a_time_of_day_already_passed_means_the_next_day():
    began = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert next_time_of_day(began, time(6, 0), UTC) == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)


def test_time_of_day_follows_daylight_saving_time():
    zone = ZoneInfo("Europe/Paris")  # clocks go forward on 2026-03-29
    began = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert next_time_of_day(began, time(6, 0), zone) == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)


def test_auto_deadline_uses_the_fallback_until_five_runs():
    clock = FakeClock(START)
    settings = policy(deadline="auto", deadline_fallback="6h")
    due = due_by(job(clock), settings.deadline, settings.deadline_fallback, UTC, [600.0] * 4)
    assert due is not None and due.at == START + timedelta(hours=6)


def test_auto_deadline_is_the_p90_of_past_runs():
    clock = FakeClock(START)
    settings = policy(deadline="auto", deadline_fallback="6h")
    runs = [60.0 * minutes for minutes in (10, 11, 12, 13, 14, 15, 16, 17, 18, 40)]
    due = due_by(job(clock), settings.deadline, settings.deadline_fallback, UTC, runs)
    assert due is not None and due.at == START + timedelta(minutes=18)


def test_auto_deadline_fires_overdue_once_and_repeats():
    clock = FakeClock(START)
    settings = policy(deadline="auto", stall_after="1d", repeat="1h")
    record = job(clock)
    due = due_by(record, settings.deadline, settings.deadline_fallback, UTC, [1800.0] * 5)
    tracker = Tracker(clock, settings)
    tracker.walk(record, hours=0.45, due=due)
    assert tracker.notices == []
    tracker.walk(record, hours=1.2, due=due)
    assert tracker.notices == [("overdue", 1), ("overdue", 2)]


def test_p90_by_nearest_rank():
    assert p90([5.0, 1.0, 2.0, 3.0, 4.0]) == 5.0
    assert p90([float(n) for n in range(1, 21)]) == 18.0


def test_deadline_off_never_makes_a_job_overdue():
    clock = FakeClock(START)
    assert due_by(job(clock), parse_deadline("off"), 3600.0, UTC) is None


def failed(clock: FakeClock, failures: int) -> JobRecord:
    return job(clock, consecutive_failures=failures, last_failure="server error (HTTP 503)")


def test_unreachable_after_n_failed_polls_with_the_reason():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(unreachable_after=3))
    for failures in (1, 2):
        tracker.check(failed(clock, failures), poll=PollOutcome(FailureKind.SERVER_ERROR))
    assert tracker.notices == []
    tracker.check(failed(clock, 3), poll=PollOutcome(FailureKind.SERVER_ERROR))
    assert tracker.notices == [("unreachable", 1)]
    assert "server error (HTTP 503)" in (tracker.open[0].reason or "")


def test_unreachable_clears_with_one_recovered_at_the_next_good_poll():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(unreachable_after=3))
    for failures in (1, 2, 3, 4):
        tracker.check(failed(clock, failures), poll=PollOutcome(FailureKind.SERVER_ERROR))
    tracker.check(job(clock), poll=PollOutcome())
    tracker.check(job(clock), poll=PollOutcome())
    assert tracker.notices == [("unreachable", 1), ("recovered", 1)]


def test_unreachable_reminds_every_repeat_and_holds_between_polls():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(unreachable_after=1, repeat="1h", stall_after="1d"))
    tracker.check(failed(clock, 1), poll=PollOutcome(FailureKind.TIMEOUT))
    tracker.walk(failed(clock, 1), hours=2.5)
    assert tracker.notices == [("unreachable", 1), ("unreachable", 2), ("unreachable", 3)]


def test_refused_credentials_open_unreachable_for_the_provider():
    clock = FakeClock(START)
    record = job(clock, consecutive_failures=1, last_failure="credentials refused (HTTP 401)")
    verdict = evaluate(
        record, [], Notices(), policy(unreachable_after=1), clock.now(),
        poll=PollOutcome(FailureKind.AUTH),
    )  # fmt: skip
    (opening,) = verdict.openings
    assert opening.kind == Event.UNREACHABLE and opening.credentials


def test_a_condition_announced_by_its_provider_clears_silently_and_never_reminds():
    clock = FakeClock(START)
    settings = policy(unreachable_after=1, repeat="1h")
    announced = OpenCondition(7, Event.UNREACHABLE, "refused", START, START, 0, 1, parent_id=3)
    clock.advance(3 * HOUR)
    record = failed(clock, 5)
    later = evaluate(
        record, [announced], Notices(), settings, clock.now(), poll=PollOutcome(FailureKind.AUTH)
    )
    assert later.reminders == []
    good = evaluate(job(clock), [announced], Notices(), settings, clock.now(), poll=PollOutcome())
    assert [c.recovered for c in good.clearings] == [None]


def test_a_terminal_job_clears_everything_and_needs_no_more_checks():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(deadline="1h", repeat=0))
    record = job(clock)
    due = due_by(record, parse_deadline("1h"), 3600.0, UTC)
    tracker.walk(record, hours=3, due=due)
    ended = dataclasses.replace(record, state=State.SUCCEEDED, terminal_at=clock.now())
    tracker.check(ended, due=due, poll=PollOutcome())
    assert tracker.kinds() == ["overdue", "stalled", "recovered"]
    assert tracker.open == []
    assert tracker.next_check_at is None


def test_an_unknown_job_never_stalls():
    clock = FakeClock(START)
    tracker = Tracker(clock, policy(repeat=0))
    tracker.walk(job(clock, state=State.UNKNOWN), hours=5)
    assert tracker.notices == []
