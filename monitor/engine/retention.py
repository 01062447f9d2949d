"""Keeping the database from growing for ever: every PRUNE_EVERY, remove what
is older than `retention:` (store/retention.py says what goes and what never
does), a small batch at a time off the poll path, pausing between batches
so polls and deliveries get the write lock in between."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.clock import Clock
from monitor.store.database import unavailable
from monitor.store.retention import Pruned, prune_batch
from monitor.store.store import Store

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds between rounds
FIRST_ROUND_AFTER = 60.0  # let start-up (and its burst of polls) settle first
BATCH_SIZE = 200
BATCH_PAUSE = 0.05  # seconds between batches: room for the poll path's writes
# Discovery lists jobs created this long inside the retention window at most,
# so a pruned job (ended before the window) cannot be listed and tracked again.
DISCOVERY_MARGIN = timedelta(days=1)


def listed_since(watch_began: datetime, retention: float, now: datetime) -> datetime:
    """From when a discovery watch asks its provider for new jobs: since the
    watch began, but never from before the retention window (with a margin
    for clock skew between us and the vendor). `retention` 0 keeps all."""
    if retention <= 0:
        return watch_began
    return max(watch_began, now - timedelta(seconds=retention) + DISCOVERY_MARGIN)


class RetentionSweep:
    """Prunes old rows every PRUNE_EVERY until stopped."""

    def __init__(self, store: Store, clock: Clock, retention: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._retention = retention

    async def run(self, stopping: asyncio.Event) -> None:
        wait = FIRST_ROUND_AFTER
        while not await _stopped_within(stopping, wait):
            try:
                await self.prune(stopping)
            except Exception as error:  # the database may be away: next round
                if reason := unavailable(error):
                    log.warning("retention: database unavailable (%s); next round later", reason)
                else:
                    log.exception("retention round failed; next round later")
            wait = PRUNE_EVERY

    async def prune(self, stopping: asyncio.Event | None = None) -> Pruned:
        """One round: batches until nothing older than the retention is left."""
        retention = self._retention()
        total = Pruned()
        if retention <= 0:
            return total
        cutoff = self._clock.now() - timedelta(seconds=retention)
        while stopping is None or not stopping.is_set():
            batch = await asyncio.to_thread(prune_batch, self._store.engine, cutoff, BATCH_SIZE)
            total.add(batch)
            if batch.total == 0:
                break
            await asyncio.sleep(BATCH_PAUSE)
        if total.total:
            log.info(
                "retention: removed %d jobs, %d transitions, %d notifications, %d conditions,"
                " %d silences older than %s",
                total.jobs, total.transitions, total.notifications, total.conditions,
                total.silences, cutoff.isoformat(timespec="seconds"),
            )  # fmt: skip
        return total


async def _stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()
