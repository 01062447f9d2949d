"""APScheduler wiring, and nothing else: one date-triggered job per tracked job.

The database holds the schedule's truth (`next_poll_at`); this in-memory
schedule is rebuilt from it at start. Pitfalls handled (NOTES.md): the default
1 s misfire grace would drop late polls for good, so it is off; a date job is
gone from the store while it runs, so the next poll is armed from the
EVENT_JOB_EXECUTED listener (after APScheduler has released the instance)
rather than from inside the poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.clock import Clock

log = logging.getLogger(__name__)

PollFunction = Callable[[int], Awaitable[datetime | None]]
"""Polls one job (by its database id); returns when to poll it next, or None."""

_RETRY_AFTER_CRASH = 60.0  # a poll that raised is tried again this much later


class PollScheduler:
    """Runs `poll(job_pk)` at the times it asks for."""

    def __init__(self, poll: PollFunction, clock: Clock) -> None:
        self._poll = poll
        self._clock = clock
        self._scheduler = AsyncIOScheduler(
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone="UTC",
        )
        self._scheduler.add_listener(self._on_done, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self._running: set[int] = set()
        self._idle = asyncio.Event()
        self._cancelled: set[int] = set()
        self._tracked: set[int] = set()  # armed or running: the jobs being polled

    def start(self) -> None:
        self._scheduler.start()

    @property
    def running(self) -> bool:
        """False before start and after stop (for the health check)."""
        return bool(self._scheduler.running)

    async def stop(self, grace: float) -> None:
        """Fire no more polls, give the ones in flight up to `grace` seconds to
        finish (their results are committed), then shut down."""
        if not self._scheduler.running:
            return
        self._scheduler.pause()
        if self._running:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                log.warning(
                    "%d polls still running at shutdown; they will be redone", len(self._running)
                )
        self._scheduler.shutdown(wait=False)

    def arm(self, job_pk: int, when: datetime) -> None:
        """Poll `job_pk` at `when` (at once if that has passed). A poll already
        in flight for it is left alone; its own result arms the next one."""
        self._cancelled.discard(job_pk)
        self._tracked.add(job_pk)
        if job_pk in self._running:
            return
        self._scheduler.add_job(
            self._run,
            trigger="date",
            run_date=when,
            args=[job_pk],
            id=_job_id(job_pk),
            replace_existing=True,
        )

    def cancel(self, job_pk: int) -> None:
        """Poll `job_pk` no more; a poll in flight finishes but arms nothing."""
        self._cancelled.add(job_pk)
        self._tracked.discard(job_pk)
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(_job_id(job_pk))

    def tracked(self) -> set[int]:
        """The jobs armed or being polled."""
        return set(self._tracked)

    def scheduled(self) -> int:
        return len(self._scheduler.get_jobs()) + len(self._running)

    def in_flight(self) -> int:
        return len(self._running)

    async def _run(self, job_pk: int) -> datetime | None:
        self._running.add(job_pk)
        try:
            return await self._poll(job_pk)
        finally:
            self._running.discard(job_pk)
            if not self._running:
                self._idle.set()

    def _on_done(self, event: JobExecutionEvent) -> None:
        job_pk = int(event.job_id.removeprefix("poll:"))
        if job_pk in self._cancelled:
            return
        if isinstance(event.exception, asyncio.CancelledError):
            # Stopped mid-poll at shutdown: nothing was committed, and the
            # schedule in the database polls it again at the next start.
            log.debug("poll of job %s cancelled at shutdown", job_pk)
            return
        if event.exception is not None:
            log.error(
                "poll of job %s crashed: %r; trying again in %.0fs",
                job_pk,
                event.exception,
                _RETRY_AFTER_CRASH,
            )
            self.arm(job_pk, self._clock.now() + timedelta(seconds=_RETRY_AFTER_CRASH))
        elif event.retval is not None:
            self.arm(job_pk, event.retval)
        else:
            self._tracked.discard(job_pk)


def _job_id(job_pk: int) -> str:
    return f"poll:{job_pk}"
