"""The poll loop: claim due jobs from the database in batches, start each poll
on time, and claim again as results are recorded.

The database is the schedule (`jobs.next_poll_at`, `jobs.next_check_at`); in
memory are only the jobs this instance has claimed and not yet recorded. A
round claims, per provider, as many jobs due within the next half second as
the provider can start soon (its concurrency plus two seconds of its rate),
so a slow provider never crowds out a fast one and nothing piles up in
memory. Rounds run every quarter second, and sooner when a recorded poll or a
new job is due sooner.

Per-job timers cost (measured in bench/scheduler_cost.py): one heap here
instead of one APScheduler date job per job, which at 1,000 polls/s spent
about three times the CPU on bookkeeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from monitor.aio import Wakeup, woken_by
from monitor.clock import Clock
from monitor.engine.limits import ProviderLimiter
from monitor.engine.poller import Poller
from monitor.engine.wiring import WatchIndex, Wiring
from monitor.store import claims
from monitor.store.conditions import ConditionStore, HeldConditions
from monitor.store.database import unavailable
from monitor.store.records import JobRecord, PollWrite
from monitor.store.store import Store

log = logging.getLogger(__name__)

ROUND_SECONDS = 0.25  # claim at least this often
AHEAD_SECONDS = 0.5  # claim jobs due this soon, so each starts on time
RATE_AHEAD_SECONDS = 2.0  # a provider gets as many jobs as its rate starts in this long
MAX_HELD = 2000  # jobs claimed and not yet recorded, all providers together
DATABASE_RETRY_SECONDS = 2.0
_TIMER_SLACK = 0.002  # start polls due this soon in the same turn


class Dispatcher:
    """Claims due jobs and runs their polls, until stopped."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        owner: str,
        wiring: Callable[[], Wiring],
        watch_index: Callable[[], WatchIndex],
        poller: Poller,
        lease_seconds: float,
    ) -> None:
        self._store = store
        self._clock = clock
        self._owner = owner
        self._wiring = wiring
        self._watch_index = watch_index
        self._poller = poller
        self._lease = timedelta(seconds=lease_seconds)
        self._conditions = ConditionStore(store.engine)
        self._held: dict[int, JobRecord] = {}  # claimed and not yet recorded
        self._per_provider: Counter[str] = Counter()
        self._heap: list[tuple[datetime, int, JobRecord, HeldConditions | None]] = []
        self._order = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = Wakeup()
        self._next_round = -math.inf  # monotonic
        self._running = False
        self.claimed = 0  # jobs claimed since start (metrics, bench)
        # Hears how late each poll or check started, in seconds (metrics).
        self.on_start: Callable[[float], None] = lambda lateness: None

    @property
    def running(self) -> bool:
        return self._running

    def held(self) -> int:
        return len(self._held)

    def held_jobs(self) -> list[int]:
        """The database ids of the jobs claimed and not yet recorded."""
        return list(self._held)

    def in_flight(self) -> int:
        return len(self._tasks)

    def claimed_job(self, job_pk: int) -> JobRecord | None:
        """The job as claimed, while it is held."""
        return self._held.get(job_pk)

    def wake(self) -> None:
        """Claim now: a job was added or made due."""
        self._next_round = -math.inf
        self._wake.set()

    def released(self, writes: Sequence[PollWrite], _queued: int = 0) -> None:
        """The recorder wrote `writes` (their leases are back): claim again
        when the soonest of them is due, if that is before the next round."""
        soonest: datetime | None = None
        for write in writes:
            job = self._held.pop(write.job_pk, None)
            if job is not None:
                self._per_provider[job.provider] -= 1
            for name in ("next_poll_at", "next_check_at"):
                when = write.job_changes.get(name)
                if isinstance(when, datetime) and (soonest is None or when < soonest):
                    soonest = when
        if soonest is not None:
            at = self._clock.monotonic() + (soonest - self._clock.now()).total_seconds()
            if at < self._next_round:
                self._next_round = at
                self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        self._running = True
        try:
            with woken_by(stopping, self._wake):
                while not stopping.is_set():
                    if self._clock.monotonic() >= self._next_round:
                        await self._round()
                    self._start_due()
                    self._wake.clear()
                    await self._wake.sleep(self._seconds_to_next())
        finally:
            self._running = False

    async def stop(self, grace: float) -> None:
        """Start no more polls; give those in flight `grace` seconds; leave the
        rest for the recorder (their results) or the next claim (unstarted)."""
        unstarted = [job for _, _, job, _ in self._heap]
        self._heap.clear()
        for job in unstarted:
            self._poller.later(job, job.next_poll_at)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            if pending:
                log.warning("%d polls still running at shutdown; they will be redone", len(pending))
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _round(self) -> None:
        self._next_round = self._clock.monotonic() + ROUND_SECONDS
        wiring = self._wiring()
        for name, limiter in wiring.limiters.items():
            try:
                await self._claim(name, limiter)
            except Exception as error:
                if reason := unavailable(error):
                    log.warning("claiming jobs: database unavailable (%s); retrying", reason)
                else:
                    log.exception("claiming jobs of provider %s failed", name)
                self._next_round = self._clock.monotonic() + DATABASE_RETRY_SECONDS
                return

    async def _claim(self, provider: str, limiter: ProviderLimiter) -> None:
        if limiter.paused_for() > 0:
            return
        room = min(_budget(limiter) - self._per_provider[provider], MAX_HELD - len(self._held))
        if room <= 0:
            return
        index = self._watch_index()
        now = self._clock.now()
        request = claims.ClaimRequest(
            provider=provider,
            limit=room,
            due_by=now + timedelta(seconds=AHEAD_SECONDS),
            skip_watches=index.foreign.get(provider, frozenset()),
        )
        jobs = await self._store.on_poll_thread(
            claims.claim,
            self._store.writer,
            self._owner,
            request,
            now,
            now + self._lease,
            index.names,
        )
        if not jobs:
            return
        held = await self._store.on_poll_thread(
            self._conditions.held_many, [job.id for job in jobs], provider
        )
        self.claimed += len(jobs)
        for job in jobs:
            if job.id not in self._held:  # else claimed again before its record was handed back
                self._per_provider[provider] += 1
            self._held[job.id] = job
            heapq.heappush(self._heap, (_due(job, now), next(self._order), job, held.get(job.id)))
        if len(jobs) == room:
            self._next_round = -math.inf  # more may be due: claim again soon

    def _start_due(self) -> None:
        now = self._clock.now()
        soon = now + timedelta(seconds=_TIMER_SLACK)
        while self._heap and self._heap[0][0] <= soon:
            due, _, job, held = heapq.heappop(self._heap)
            self.on_start(max(0.0, (now - due).total_seconds()))
            task = asyncio.create_task(self._poller.run(job, held))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _seconds_to_next(self) -> float:
        until_round = self._next_round - self._clock.monotonic()
        if self._heap:
            until_due = (self._heap[0][0] - self._clock.now()).total_seconds()
            until_round = min(until_round, until_due)
        return min(max(until_round, 0.0), ROUND_SECONDS)


def _budget(limiter: ProviderLimiter) -> int:
    """How many of a provider's jobs to hold at once: what it can start soon."""
    rate = limiter.share_rps() * RATE_AHEAD_SECONDS
    return limiter.share_concurrency() + max(1, math.ceil(rate))


def _due(job: JobRecord, now: datetime) -> datetime:
    times = [t for t in (job.next_poll_at, job.next_check_at) if t is not None]
    return min(times) if times else now
