"""APScheduler wiring for timed housekeeping, and nothing else.

Per-job polls do not go through APScheduler (engine/dispatch.py claims them
from the database); what stays here is work that runs every so often for the
whole instance: the heartbeat that renews job leases and shares vendor pauses
(engine/fleet.py). Pitfalls handled (NOTES.md): the default 1 s misfire grace
would drop a late run for good, so it is off, and runs never overlap.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.store.database import unavailable

log = logging.getLogger(__name__)


class Housekeeping:
    """Runs async functions every so many seconds."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone="UTC",
        )

    def every(self, seconds: float, name: str, work: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            try:
                await work()
            except Exception as error:  # the database may be away: the next run tries again
                if reason := unavailable(error):
                    log.warning("%s: database unavailable (%s); retrying", name, reason)
                else:
                    log.exception("%s failed; trying again in %.0fs", name, seconds)

        self._scheduler.add_job(run, "interval", seconds=seconds, id=name, name=name)

    def start(self) -> None:
        self._scheduler.start()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
