"""Checking conditions between polls: a job polled every 10 minutes must still
go `overdue` at its deadline, and a reminder fall due on time.

Each judgement says when the job's conditions could next change without a
poll (`next_check_at`); the sweep keeps those times in a heap and checks each
job when its time comes. The times are the Clock's; the waits are asyncio's,
woken early when a sooner check is noted.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from monitor.aio import wait_any
from monitor.clock import Clock
from monitor.store.database import unavailable

log = logging.getLogger(__name__)

Check = Callable[[int], Awaitable[datetime | None]]
"""Judges one job's conditions (by its database id); returns when to check it again."""

MAX_WAIT = 30.0  # seconds; look again at least this often (the wall clock may jump)
_RETRY_AFTER_ERROR = 60.0


class ConditionSweep:
    """Runs `check(job_pk)` at the times the judgements ask for."""

    def __init__(self, check: Check, clock: Clock) -> None:
        self._check = check
        self._clock = clock
        self._due: dict[int, datetime] = {}
        self._heap: list[tuple[datetime, int]] = []
        self._wake = asyncio.Event()

    def note(self, job_pk: int, when: datetime | None) -> None:
        """Check `job_pk` at `when`; None: no check until a poll asks for one."""
        if when is None:
            self._due.pop(job_pk, None)
            return
        self._due[job_pk] = when
        heapq.heappush(self._heap, (when, job_pk))
        if self._heap[0] == (when, job_pk):
            self._wake.set()  # sooner than what the loop waits for
        if len(self._heap) > 2 * len(self._due) + 1000:
            self._compact()

    def forget(self, job_pk: int) -> None:
        self._due.pop(job_pk, None)

    def pending(self) -> int:
        return len(self._due)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            for job_pk in self._take_due():
                await self._check_one(job_pk)
            self._wake.clear()
            await wait_any(self._wake, stopping, timeout=self._seconds_to_next())

    async def _check_one(self, job_pk: int) -> None:
        try:
            when = await self._check(job_pk)
        except Exception as error:  # the database may be away: try this job again later
            if reason := unavailable(error):
                log.warning("conditions: database unavailable (%s); retrying", reason)
            else:
                log.exception("checking conditions of job %s failed", job_pk)
            when = self._clock.now() + timedelta(seconds=_RETRY_AFTER_ERROR)
        if job_pk not in self._due:  # a poll may have noted it meanwhile
            self.note(job_pk, when)

    def _take_due(self) -> list[int]:
        now = self._clock.now()
        due: list[int] = []
        while self._heap and self._heap[0][0] <= now:
            when, job_pk = heapq.heappop(self._heap)
            if self._due.get(job_pk) == when:  # else superseded by a later note
                del self._due[job_pk]
                due.append(job_pk)
        return due

    def _seconds_to_next(self) -> float:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        if not self._heap:
            return MAX_WAIT
        seconds = (self._heap[0][0] - self._clock.now()).total_seconds()
        return min(max(seconds, 0.0), MAX_WAIT)

    def _compact(self) -> None:
        self._heap = [(when, job_pk) for job_pk, when in self._due.items()]
        heapq.heapify(self._heap)
