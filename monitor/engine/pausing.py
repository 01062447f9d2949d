"""Following pauses in the running daemon. The claim skips paused watches
(store/claims.py), so a pause needs nothing here to take effect; this keeps
the set of paused watches for discovery and expected runs (read every
PAUSE_CHECK_SECONDS), logs each pause and resume, and on a resume has the
dispatcher claim at once (`resume_watch` made the watch's jobs due)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from monitor.store.database import unavailable
from monitor.store.pausing import paused_watches
from monitor.store.store import Store

log = logging.getLogger(__name__)

PAUSE_CHECK_SECONDS = 2.0  # as quick as run-time watches are picked up


class PauseFollower:
    """The paused watches, as of the last look."""

    def __init__(self, store: Store, on_resumed: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._on_resumed = on_resumed
        self._paused: frozenset[str] = frozenset()

    def paused(self) -> frozenset[str]:
        """The watches paused as of the last look."""
        return self._paused

    async def start(self) -> None:
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
        """Note the pauses and resumes made since the last look."""
        now_paused = frozenset(await asyncio.to_thread(paused_watches, self._store.engine))
        paused, resumed = now_paused - self._paused, self._paused - now_paused
        self._paused = now_paused
        for name in sorted(paused):
            log.info("watch %s paused: not polled until resumed", name)
        if resumed:
            log.info("resumed %s: its jobs are polled now", ", ".join(sorted(resumed)))
            self._on_resumed()
