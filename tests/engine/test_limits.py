"""The per-provider limiter, timed by a FakeClock: its sleeps move the clock."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from monitor.clock import FakeClock
from monitor.engine.limits import (
    PAUSE_INITIAL,
    PAUSE_MAX,
    RETRY_AFTER_MAX,
    RETRY_AFTER_MIN,
    LimiterClosed,
    ProviderLimiter,
    ProviderPaused,
    pause_seconds,
)
from monitor.providers.base import Throttled


def limiter(clock: FakeClock, *, max_rps: float = 10.0, max_concurrency: int = 4):
    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    return ProviderLimiter(
        "hr", max_rps=max_rps, max_concurrency=max_concurrency, clock=clock, sleep=sleep
    )


async def start_times(limits: ProviderLimiter, clock: FakeClock, calls: int) -> list[float]:
    started: list[float] = []

    async def call() -> None:
        async with limits.slot():
            started.append(clock.monotonic())

    await asyncio.gather(*(call() for _ in range(calls)))
    return started


async def test_calls_start_one_interval_apart_at_max_rps():
    clock = FakeClock()
    begin = clock.monotonic()
    started = await start_times(limiter(clock, max_rps=20), clock, 50)
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert started[0] == begin
    assert min(gaps) >= 0.05
    assert max(gaps) == pytest.approx(0.05, abs=1e-5)


async def test_no_second_ever_holds_more_than_max_rps_calls():
    clock = FakeClock()
    started = await start_times(limiter(clock, max_rps=20), clock, 100)
    for first in started:
        in_window = [t for t in started if first <= t < first + 1.0]
        assert len(in_window) <= 20


async def test_max_rps_below_one_per_second_spaces_calls_by_minutes():
    clock = FakeClock()
    started = await start_times(limiter(clock, max_rps=4 / 60), clock, 3)
    assert started[2] - started[0] == pytest.approx(30.0)


async def test_an_idle_provider_does_not_save_up_a_burst():
    clock = FakeClock()
    limits = limiter(clock, max_rps=2)
    await start_times(limits, clock, 1)
    clock.advance(60)
    started = await start_times(limits, clock, 3)
    assert started[1] - started[0] == pytest.approx(0.5, abs=1e-5)
    assert started[2] - started[1] == pytest.approx(0.5, abs=1e-5)


async def test_no_more_than_max_concurrency_calls_are_in_flight():
    clock = FakeClock()
    limits = limiter(clock, max_rps=1000, max_concurrency=3)
    release = asyncio.Event()
    highest = 0

    async def call() -> None:
        nonlocal highest
        async with limits.slot():
            highest = max(highest, limits.in_flight)
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(10)]
    while limits.in_flight < 3:
        await asyncio.sleep(0)
    for _ in range(20):  # let the others try
        await asyncio.sleep(0)
    assert limits.in_flight == 3
    release.set()
    await asyncio.gather(*tasks)
    assert highest == 3


async def test_throttled_with_retry_after_pauses_the_provider_that_long():
    clock = FakeClock()
    limits = limiter(clock)
    with pytest.raises(Throttled):
        async with limits.slot():
            raise Throttled("rate limited (HTTP 429)", retry_after=30)
    clock.advance(29.5)
    with pytest.raises(ProviderPaused) as paused:
        async with limits.slot():
            pytest.fail("a call started during the pause")
    assert paused.value.seconds == pytest.approx(0.5)
    clock.advance(0.5)
    assert await start_times(limits, clock, 1) == [clock.monotonic()]


async def test_a_pause_is_refused_at_once_rather_than_waited_out():
    clock = FakeClock()
    limits = limiter(clock)
    limits.throttled(60)
    before = clock.monotonic()
    with pytest.raises(ProviderPaused):
        async with limits.slot():
            pass
    assert clock.monotonic() == before


async def test_a_call_waiting_for_its_turn_is_refused_when_a_pause_begins():
    clock = FakeClock()
    limits = limiter(clock, max_rps=1)
    outcomes: list[str] = []

    async def first() -> None:
        async with limits.slot():
            outcomes.append("first")
            limits.throttled(60)  # as if its answer was a 429

    async def second() -> None:
        try:
            async with limits.slot():
                outcomes.append("second")
        except ProviderPaused:
            outcomes.append("paused")

    await asyncio.gather(first(), second())
    assert outcomes == ["first", "paused"]


async def test_a_call_waiting_for_a_free_slot_is_refused_when_the_call_before_it_is_throttled():
    # max_concurrency 1: the second call waits for the first's slot, not for
    # the pace; the first's answer is a 429, so the second must not be sent.
    clock = FakeClock()
    limits = limiter(clock, max_rps=1000, max_concurrency=1)
    answered = asyncio.Event()
    sent: list[str] = []

    async def first() -> None:
        async with limits.slot():
            sent.append("first")
            await answered.wait()
            clock.advance(0.5)  # the exchange took a while: the pace lets the next start
            raise Throttled("rate limited (HTTP 429)", retry_after=30)

    async def second() -> str:
        try:
            async with limits.slot():
                sent.append("second")
        except ProviderPaused as paused:
            return f"paused {paused.seconds:.0f}s"
        return "sent"

    throttled = asyncio.create_task(first())
    waiting = asyncio.create_task(second())
    while limits.in_flight < 1:
        await asyncio.sleep(0)
    for _ in range(5):  # the second is now queued for the slot
        await asyncio.sleep(0)
    answered.set()
    with pytest.raises(Throttled):
        await throttled
    assert await waiting == "paused 30s"
    assert sent == ["first"]


def test_throttled_without_a_time_backs_off_exponentially_to_a_cap():
    pauses = [pause_seconds(None, n) for n in range(1, 10)]
    assert pauses[:4] == [PAUSE_INITIAL, PAUSE_INITIAL * 2, PAUSE_INITIAL * 4, PAUSE_INITIAL * 8]
    assert max(pauses) == PAUSE_MAX


def test_absurd_retry_after_values_are_clamped():
    assert pause_seconds(7 * 86400, 1) == RETRY_AFTER_MAX
    assert pause_seconds(0, 1) == RETRY_AFTER_MIN
    assert pause_seconds(120, 1) == 120


async def test_throttles_in_a_row_grow_the_pause_and_a_good_call_resets_it():
    clock = FakeClock()
    limits = limiter(clock)
    assert limits.throttled(None) == PAUSE_INITIAL
    clock.advance(PAUSE_INITIAL)
    assert limits.throttled(None) == PAUSE_INITIAL * 2
    clock.advance(PAUSE_INITIAL * 2)
    await start_times(limits, clock, 1)
    assert limits.throttled(None) == PAUSE_INITIAL


async def test_calls_throttled_together_count_as_one_throttle():
    clock = FakeClock()
    limits = limiter(clock)
    limits.throttled(None)
    limits.throttled(None)
    limits.throttled(None)
    assert limits.paused_for() == PAUSE_INITIAL


async def test_a_retired_limiter_refuses_waiting_calls():
    clock = FakeClock()
    limits = ProviderLimiter("hr", max_rps=0.01, max_concurrency=1, clock=clock)
    await start_times(limits, clock, 1)  # the next call must wait 100 s
    waiting = asyncio.create_task(start_times(limits, clock, 1))
    await asyncio.sleep(0.01)
    limits.close()
    with pytest.raises(LimiterClosed):
        await asyncio.wait_for(waiting, 5)


async def test_a_reloaded_limiter_keeps_the_vendors_pause():
    clock = FakeClock()
    old = limiter(clock)
    old.throttled(60)
    new = limiter(clock)
    new.carry_pause_from(old)
    assert new.paused_for() == pytest.approx(60)
