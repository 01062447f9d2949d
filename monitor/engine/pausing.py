"""Following pauses in the running daemon: every PAUSE_CHECK_SECONDS the
paused watches are read; a watch newly paused has its jobs taken off the
schedule and out of the condition sweep, a watch resumed has them armed at
once and judged again. Discovery skips paused watches (`paused()`).

(With a poll path that claims due jobs from the database, the claim itself
skips paused watches and this becomes a convenience for prompt resumes.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from monitor.clock import Clock
from monitor.store.database import unavailable
from monitor.store.pausing import paused_watches
from monitor.store.store import Store

if TYPE_CHECKING:
    from monitor.engine.keeper import ConditionKeeper
    from monitor.engine.scheduler import PollScheduler
    from monitor.engine.sweep import ConditionSweep

log = logging.getLogger(__name__)

PAUSE_CHECK_SECONDS = 2.0  # as quick as run-time watches are picked up


class PauseFollower:
    """Applies pause and resume to the schedule of a running daemon."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        scheduler: PollScheduler,
        sweep: ConditionSweep,
        keeper: ConditionKeeper,
    ) -> None:
        self._store = store
        self._clock = clock
        self._scheduler = scheduler
        self._sweep = sweep
        self._keeper = keeper
        self._paused: frozenset[str] = frozenset()

    def paused(self) -> frozenset[str]:
        """The watches paused as of the last look."""
        return self._paused

    async def start(self) -> None:
        """Read the paused watches once (their jobs were never armed)."""
        self._paused = frozenset(await asyncio.to_thread(paused_watches, self._store.engine))

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), PAUSE_CHECK_SECONDS)
            if stopping.is_set():
                return
            try:
                await self.follow()
            except Exception as error:
                if reason := unavailable(error):
                    log.warning("pauses: database unavailable (%s); retrying", reason)
                else:
                    log.exception("following pauses failed; trying again")

    async def follow(self) -> None:
        """Apply the pauses and resumes made since the last look."""
        now_paused = frozenset(await asyncio.to_thread(paused_watches, self._store.engine))
        paused, resumed = now_paused - self._paused, self._paused - now_paused
        self._paused = now_paused
        for name in sorted(paused):
            for job in await asyncio.to_thread(self._store.all_jobs, name):
                self._scheduler.cancel(job.id)
                self._sweep.forget(job.id)
            log.info("watch %s paused: not polled until resumed", name)
        if resumed:
            jobs = await asyncio.to_thread(self._store.schedulable_jobs)
            back = [job for job in jobs if job.watch in resumed]
            now = self._clock.now()
            for job in back:
                self._scheduler.arm(job.id, now)
            await self._keeper.plan(back)
            log.info("resumed %s: %d jobs polled now", ", ".join(sorted(resumed)), len(back))
