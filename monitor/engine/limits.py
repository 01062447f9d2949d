"""Per-provider request limits, shared by all of a provider's jobs (SPEC §3).

A provider call (a poll, a discovery round, a credential check) runs inside
`ProviderLimiter.slot()`, which allows at most `max_concurrency` calls in
flight, starts them at most `max_rps` a second (one every 1/max_rps seconds:
a rate with no burst, so no window of a second ever sees more), and starts
none while the vendor has asked us to pause. A `Throttled` raised inside the
slot pauses the provider: for the vendor's Retry-After (clamped), or, when it
gave no time, for the provider's own exponential backoff. Throttling is not a
failed poll: the caller just tries again when the pause ends.

Several instances on one PostgreSQL split each provider's budget: with n
alive, each starts at most max_rps/n calls a second and holds at most
max_concurrency/n (at least one) in flight (`set_share`). A vendor's pause is
shared through the database (engine/fleet.py): `on_pause` publishes one, and
`pause_until` applies another instance's.

Time is read from the Clock's monotonic counter, so tests drive the limiter
with a FakeClock; the waits are asyncio's (replaceable in tests too).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from datetime import datetime, timedelta

from monitor.backoff import grown
from monitor.clock import Clock
from monitor.providers.base import Throttled

log = logging.getLogger(__name__)

# A vendor's Retry-After is believed between these bounds. Below 1 s we would
# hammer a vendor that said "0" (or a reset time our clock thinks has passed);
# above an hour is more likely a clock skew or a vendor bug than a real wish,
# and obeying it would leave every job of the provider unwatched for that long.
RETRY_AFTER_MIN = 1.0
RETRY_AFTER_MAX = 3600.0
# A throttle with no time given: 5 s, doubling on each throttle in a row, at most 10 min.
PAUSE_INITIAL = 5.0
PAUSE_MAX = 600.0

Sleep = Callable[[float], Awaitable[None]]


class ProviderPaused(Exception):
    """The provider is paused (throttled): try again in `seconds`."""

    def __init__(self, provider: str, seconds: float) -> None:
        super().__init__(f"provider {provider} is paused for {seconds:.1f}s")
        self.provider = provider
        self.seconds = seconds


class LimiterClosed(Exception):
    """The limiter was retired (reload or shutdown) while the call waited: nothing was sent."""


def pause_seconds(retry_after: float | None, throttles_in_a_row: int) -> float:
    """How long a throttle pauses a provider: the vendor's time clamped to
    [RETRY_AFTER_MIN, RETRY_AFTER_MAX], or without one our own backoff."""
    if retry_after is None:
        steps = max(throttles_in_a_row - 1, 0)
        return grown(PAUSE_INITIAL, 2.0, steps, PAUSE_MAX)
    return min(max(retry_after, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


class ProviderLimiter:
    """The shared budget of one provider's calls."""

    def __init__(
        self,
        provider: str,
        *,
        max_rps: float,
        max_concurrency: int,
        clock: Clock,
        sleep: Sleep | None = None,
    ) -> None:
        self.provider = provider
        self.max_rps = max_rps
        self.max_concurrency = max_concurrency
        self._clock = clock
        # A microsecond over 1/max_rps, so float rounding can never fit one
        # call too many into a second.
        self._instances = 1
        self._interval = 1.0 / max_rps + 1e-6
        self._slots = _Slots(max_concurrency)
        self._pacing = asyncio.Lock()  # FIFO: calls start in the order they asked
        self._next_start = -math.inf  # monotonic time the next call may start
        self._paused_until = -math.inf
        self._throttles = 0  # in a row, for the backoff when no time is given
        self._closing = asyncio.Event()
        self._sleep = sleep or self._sleep_unless_closed
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Called with (seconds, reason) when the vendor pauses us (engine/fleet.py).
        self.on_pause: Callable[[float, str], None] = lambda seconds, reason: None

    def set_share(self, instances: int) -> None:
        """Take a 1/`instances` share of the provider's budget."""
        self._instances = max(1, instances)
        self._interval = self._instances / self.max_rps + 1e-6
        self._slots.resize(self.share_concurrency())

    def share_rps(self) -> float:
        return self.max_rps / self._instances

    def share_concurrency(self) -> int:
        return max(1, self.max_concurrency // self._instances)

    def pause_until(self, seconds: float) -> None:
        """Another instance was asked to pause: pause for `seconds` too."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    def slot(self) -> _Slot:
        """Hold one call's place: waits for a free slot and for the pace, then
        runs the block. Raises ProviderPaused (at once, not after waiting) when
        the provider is paused, LimiterClosed when the limiter is retired."""
        return _Slot(self)

    async def _enter(self) -> None:
        self._refuse_if_stopped()
        await self._slots.acquire()
        try:
            # Waiting for the slot, the call may have seen the one before it
            # come back 429: it must not go out during the pause that began.
            self._refuse_if_stopped()
            await self._pace()
        except BaseException:
            self._slots.release()
            raise
        self.in_flight += 1
        self._idle.clear()

    def _exit(self, error: BaseException | None) -> None:
        try:
            if isinstance(error, Throttled):
                self.throttled(error.retry_after, error.reason)
            elif error is None:
                self._throttles = 0
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()
            self._slots.release()

    def throttled(self, retry_after: float | None, reason: str = "throttled") -> float:
        """The vendor asked us to slow down: pause the provider. Returns the pause in seconds."""
        now = self._clock.monotonic()
        if retry_after is None and now < self._paused_until:
            # Calls already in flight when the pause began come back throttled
            # too: that is the same throttle, not a reason to back off further.
            return self._paused_until - now
        self._throttles += 1
        seconds = pause_seconds(retry_after, self._throttles)
        if retry_after is not None and retry_after > RETRY_AFTER_MAX:
            log.warning(
                "provider %s asked for a %.0fs pause; pausing %.0fs instead",
                self.provider,
                retry_after,
                seconds,
            )
        self._paused_until = max(self._paused_until, now + seconds)
        self.on_pause(self._paused_until - now, reason)
        log.info(
            "provider %s throttled us (%s); no request to it for %.0fs",
            self.provider,
            reason,
            self._paused_until - now,
        )
        return self._paused_until - now

    def paused_for(self) -> float:
        """Seconds until the provider may be asked again; 0 when it is not paused."""
        return max(0.0, self._paused_until - self._clock.monotonic())

    def resume_at(self) -> datetime:
        """The wall-clock time the pause ends (now when there is none)."""
        return self._clock.now() + timedelta(seconds=self.paused_for())

    def carry_pause_from(self, other: ProviderLimiter) -> None:
        """A reloaded provider keeps the pause its vendor asked for."""
        self._paused_until = max(self._paused_until, other._paused_until)
        self._throttles = other._throttles

    def close(self) -> None:
        """Retire the limiter: waiting calls raise LimiterClosed; calls in flight finish."""
        self._closing.set()

    async def wait_idle(self) -> None:
        """Return once no call is in flight."""
        await self._idle.wait()

    async def _pace(self) -> None:
        now = self._clock.monotonic()
        if not self._pacing.locked() and self._next_start <= now:
            self._next_start = now + self._interval  # the common case: no wait, no lock
            return
        async with self._pacing:
            while True:
                self._refuse_if_stopped()
                wait = self._next_start - self._clock.monotonic()
                if wait <= 0:
                    break
                await self._sleep(wait)
            self._next_start = self._clock.monotonic() + self._interval

    def _refuse_if_stopped(self) -> None:
        if self._closing.is_set():
            raise LimiterClosed(f"provider {self.provider}'s limiter was retired")
        paused = self.paused_for()
        if paused > 0:
            raise ProviderPaused(self.provider, paused)

    async def _sleep_unless_closed(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)


class _Slot:
    """One call's place in a limiter (a plain class: this runs for every poll)."""

    __slots__ = ("_limiter",)

    def __init__(self, limiter: ProviderLimiter) -> None:
        self._limiter = limiter

    async def __aenter__(self) -> None:
        await self._limiter._enter()

    async def __aexit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        self._limiter._exit(error)


class _Slots:
    """A semaphore whose size can change while calls hold it, first come first served."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._used = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def resize(self, size: int) -> None:
        self._size = size
        self._wake()

    async def acquire(self) -> None:
        if self._used < self._size and not self._waiters:
            self._used += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # the slot is handed over: _used already counts it
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()
            raise

    def release(self) -> None:
        self._used -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._used < self._size:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._used += 1
                waiter.set_result(None)


def within(limiter: ProviderLimiter | None) -> AbstractAsyncContextManager[None]:
    """`limiter.slot()`, or no limit at all when there is no limiter."""
    return limiter.slot() if limiter is not None else nullcontext()
