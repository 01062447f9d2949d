"""The polling schedule (SPEC §3) as pure functions: backoff, jitter, ETA
aiming and failure backoff, walked through with a FakeClock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.clock import FakeClock
from monitor.config import PollPolicy
from monitor.domain import JobStatus, State
from monitor.engine.observe import applied, observe_failure, observe_status
from monitor.engine.policy import backoff_delay, estimated_end, eta_delay, jittered
from monitor.providers.base import FailureKind, PollFailure
from monitor.store.records import JobRecord

POLICY = PollPolicy(initial=15, factor=2, max=600, jitter=0.1)
NO_SPREAD = 0.5  # the random draw that moves nothing


def new_job(clock: FakeClock) -> JobRecord:
    return JobRecord(
        id=1, watch_id=1, watch="hr-nightly", provider="hr", job_id="42", state=State.UNKNOWN,
        raw_status=None, progress=None, processed=None, errors=None, total=None, message=None,
        children=[], details={}, started_at=None, finished_at=None, first_seen_at=clock.now(),
        state_changed_at=None, progress_changed_at=None, terminal_at=None, last_poll_at=None,
        next_poll_at=clock.now(), polls=0, failed_polls=0, consecutive_failures=0,
        last_failure=None, backoff_step=0,
    )  # fmt: skip


class Walk:
    """A job polled whenever its schedule says, on a FakeClock."""

    def __init__(self, policy: PollPolicy = POLICY) -> None:
        self.clock = FakeClock()
        self.policy = policy
        self.job = new_job(self.clock)
        self.delays: list[float] = []

    def poll(self, status: JobStatus | None = None, failure: PollFailure | None = None) -> float:
        now = self.clock.now()
        if failure is not None:
            observation = observe_failure(self.job, failure, now, self.policy, NO_SPREAD)
        else:
            assert status is not None
            observation = observe_status(self.job, status, now, self.policy, NO_SPREAD)
        self.job = applied(self.job, observation)
        assert observation.next_poll_at is not None
        delay = (observation.next_poll_at - now).total_seconds()
        self.delays.append(delay)
        self.clock.advance(delay)
        return delay


RUNNING = JobStatus(State.RUNNING, "running")


def test_delay_grows_by_factor_from_initial_and_stops_at_max():
    delays = [backoff_delay(POLICY, step, NO_SPREAD) for step in range(8)]
    assert delays == [15, 30, 60, 120, 240, 480, 600, 600]


def test_jitter_spreads_the_delay_by_at_most_its_fraction():
    assert backoff_delay(POLICY, 0, 0.0) == pytest.approx(13.5)
    assert backoff_delay(POLICY, 0, 0.999999) == pytest.approx(16.5, abs=1e-4)
    assert jittered(600, 0.1, 0.0) == pytest.approx(540)


def test_a_huge_step_does_not_overflow():
    assert backoff_delay(POLICY, 10_000, NO_SPREAD) == 600


def test_unchanged_polls_back_off_and_a_state_change_resets_the_backoff():
    walk = Walk()
    walk.poll(JobStatus(State.PENDING, "queued"))
    for _ in range(4):
        walk.poll(JobStatus(State.PENDING, "queued"))
    walk.poll(RUNNING)
    walk.poll(RUNNING)
    assert walk.delays == [15, 30, 60, 120, 240, 15, 30]


def test_rising_progress_aims_the_next_poll_at_the_estimated_end():
    walk = Walk(PollPolicy(initial=15, factor=2, max=3600, jitter=0))
    walk.poll(dataclasses.replace(RUNNING, progress=0.10))
    walk.clock.advance(60 - walk.delays[-1])  # the second reading comes 60 s later
    delay = walk.poll(dataclasses.replace(RUNNING, progress=0.20))
    assert delay == pytest.approx(480)  # 0.1 per minute, 0.8 left


def test_an_estimate_is_clamped_to_initial_and_max():
    policy = PollPolicy(initial=15, factor=2, max=600, jitter=0)
    clock = FakeClock()
    start = clock.now()
    later = start + timedelta(seconds=10)
    assert eta_delay(policy, (start, 0.10), (later, 0.99)) == 15
    assert eta_delay(policy, (start, 0.10), (later, 0.11)) == 600


def test_progress_that_falls_or_stands_still_means_no_estimate():
    clock = FakeClock()
    start, later = clock.now(), clock.now() + timedelta(seconds=30)
    assert eta_delay(POLICY, (start, 0.5), (later, 0.5)) is None
    assert eta_delay(POLICY, (start, 0.5), (later, 0.2)) is None
    assert eta_delay(POLICY, None, (later, 0.2)) is None


def test_failed_polls_back_off_on_their_own_count_up_to_max():
    walk = Walk()
    walk.poll(RUNNING)
    walk.poll(RUNNING)
    outage = PollFailure(FailureKind.SERVER_ERROR, "server error (HTTP 503)")
    for _ in range(7):
        walk.poll(failure=outage)
    assert walk.delays[2:] == [15, 30, 60, 120, 240, 480, 600]
    assert walk.job.consecutive_failures == 7
    assert walk.job.state == State.RUNNING  # a failed poll changes no state


def test_a_good_poll_after_failures_resets_the_failure_count():
    walk = Walk()
    walk.poll(RUNNING)
    walk.poll(failure=PollFailure(FailureKind.TIMEOUT, "timeout after 30s"))
    walk.poll(RUNNING)
    assert walk.job.consecutive_failures == 0
    assert walk.job.last_failure is None


def test_a_terminal_state_ends_polling():
    walk = Walk()
    walk.poll(RUNNING)
    observation = observe_status(
        walk.job, JobStatus(State.SUCCEEDED, "done"), walk.clock.now(), POLICY, NO_SPREAD
    )
    assert observation.next_poll_at is None
    assert observation.changes["next_poll_at"] is None


@given(
    initial=st.floats(min_value=1e-3, max_value=1e6),
    factor=st.one_of(st.floats(min_value=1, max_value=1e300), st.just(float("inf"))),
    top=st.floats(min_value=1e-3, max_value=1e7),
    step=st.integers(min_value=0, max_value=10**6),
    draw=st.floats(min_value=0, max_value=0.999),
)
def test_a_backoff_of_any_factor_and_any_step_stays_within_max(initial, factor, top, step, draw):
    """A `factor: 1000` (or a job that has waited a million polls) must not
    overflow the arithmetic: the delay simply reaches `max`."""
    policy = PollPolicy(initial=initial, factor=factor, max=top, jitter=0.1)
    delay = backoff_delay(policy, step, draw)
    assert 0 <= delay <= top * 1.1 + 1e-9
    assert backoff_delay(policy, step, NO_SPREAD) == pytest.approx(
        min(top, initial * _power(factor, step))
    )


def _power(factor: float, step: int) -> float:
    try:
        return float(factor**step)
    except OverflowError:
        return float("inf")


@given(
    seconds=st.floats(min_value=1e-6, max_value=1e9),
    before=st.floats(min_value=0, max_value=1),
    after=st.floats(min_value=0, max_value=1),
)
def test_an_estimated_end_is_a_time_within_ten_years_or_none(seconds, before, after):
    """Progress that barely moves (0.1 then 0.1000000000001) must not ask for
    a time past the year 9999: `loadwatch wait` and the board show none."""
    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    end = estimated_end((now - timedelta(seconds=seconds), before), (now, after))
    assert end is None or now <= end <= now + timedelta(days=3650)
    if after > before and (1 - after) * seconds / (after - before) < 86400:
        assert end is not None  # a real estimate is kept
