"""Discovery: for each active watch with `discover:`, ask its provider every
`discover_every` for the jobs created since the watch began, track the ones
not tracked yet as new jobs of the watch, and have each polled at once.

From there a discovered job is like any other: polled, recorded and announced
per job. Tracking is idempotent (one row per watch and job id), so a job seen
on every round, by several instances or again after a restart is tracked once.
A failed round (provider down, throttled, refused) is logged and tried again at
the next one; it never stops the daemon. Instances sharing a database take a
lease on each watch's round (`discover:<watch id>`), so one of them asks the
vendor per `discover_every`, not each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from monitor.clock import Clock
from monitor.config import WatchPolicy
from monitor.engine.limits import LimiterClosed, ProviderPaused, within
from monitor.engine.retention import listed_since
from monitor.engine.wiring import Wiring
from monitor.providers.base import PollFailure, Throttled
from monitor.redact import redact
from monitor.store.database import unavailable
from monitor.store.instances import take_lease
from monitor.store.records import WatchRecord
from monitor.store.store import Store

log = logging.getLogger(__name__)

# Watches are listed from the database at least this often, so a watch added at
# run time starts discovering within 5 s (SPEC §5).
_RELIST_SECONDS = 5.0


class Discovery:
    """Runs discovery rounds until stopped; `on_found` hears of new jobs (due at once)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        wiring: Callable[[], Wiring],
        on_found: Callable[[], None] = lambda: None,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._wiring = wiring
        self._on_found = on_found
        self._owner = owner  # takes a lease per round when set
        self._next_due: dict[int, float] = {}  # watch id -> clock.monotonic() when due
        self._warned: set[int] = set()  # watches whose provider is missing, already logged
        self._task: asyncio.Task[None] | None = None
        # The config's `retention` in seconds: jobs older are not listed again.
        self.retention: Callable[[], float] = lambda: 0.0
        # Watches paused with `loadwatch pause`: not discovered for until resumed.
        self.paused: Callable[[], frozenset[str]] = frozenset

    def start(self, stopping: asyncio.Event) -> None:
        self._task = asyncio.create_task(self.run(stopping), name="discovery")

    async def stop(self) -> None:
        """Stop at once: a list request in flight is dropped (the next start asks
        again); a write in flight is finished first."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                wait = await self.discover_due()
            except Exception as error:  # the database went away, say: try again later
                if reason := unavailable(error):
                    log.warning("discovery: database unavailable (%s); retrying", reason)
                else:
                    log.exception("discovery round failed; trying again in %.0fs", _RELIST_SECONDS)
                wait = _RELIST_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), wait)

    async def discover_due(self) -> float:
        """Discover for every watch that is due; returns seconds until one is due
        again (at most _RELIST_SECONDS)."""
        # `discover: {}` is a discovery watch too (no filters: every new job).
        listed = await asyncio.to_thread(
            functools.partial(self._store.active_watches, discovering=True)
        )
        paused = self.paused()
        watches = [w for w in listed if w.discover is not None and w.name not in paused]
        current = {w.id for w in watches}
        for gone in set(self._next_due) - current:
            del self._next_due[gone]  # removed or no longer discovering
        now = self._clock.monotonic()
        due = [w for w in watches if self._next_due.get(w.id, now) <= now]
        await asyncio.gather(*(self.discover_watch(w) for w in due))
        now = self._clock.monotonic()
        upcoming = [self._next_due[w.id] - now for w in watches if w.id in self._next_due]
        return max(0.0, min([_RELIST_SECONDS, *upcoming]))

    async def discover_watch(self, watch: WatchRecord) -> list[int]:
        """One round for one watch: returns the ids of the jobs it started tracking."""
        started = self._clock.monotonic()
        wiring = self._wiring()
        every = _discover_every(watch, wiring)
        self._next_due[watch.id] = started + every
        provider = wiring.providers.get(watch.provider)
        if watch.name not in wiring.watches and provider is not None:
            return []  # another instance's watch
        if provider is None:
            if watch.id not in self._warned:
                self._warned.add(watch.id)
                log.warning(
                    "watch %s: no provider named %s to discover with", watch.name, watch.provider
                )
            return []
        # Listing counts against the provider's budget like a poll, and waits
        # out a pause the vendor asked for (a walk of many pages is one call).
        limiter = wiring.limiters.get(provider.name)
        if not await self._take_round(watch, every):
            return []
        try:
            async with within(limiter):
                since = listed_since(watch.created_at, self.retention(), self._clock.now())
                job_ids = await provider.discover(dict(watch.discover or {}), since=since)
        except ProviderPaused as paused:
            self._next_due[watch.id] = started + paused.seconds
            return []
        except LimiterClosed:  # the provider was reloaded: ask the new one soon
            self._next_due[watch.id] = started
            return []
        except Throttled as throttled:
            paused_for = (
                limiter.throttled(throttled.retry_after, throttled.reason) if limiter else 0
            )
            wait = max(every, throttled.retry_after or 0.0, paused_for)
            self._next_due[watch.id] = started + wait
            log.info(
                "discovery for %s throttled (%s); next try in %gs",
                watch.name,
                throttled.reason,
                wait,
            )
            return []
        except PollFailure as failure:
            log.warning(
                "discovery for %s failed: %s; next try in %gs", watch.name, failure.reason, every
            )
            return []
        except Exception as error:  # a provider bug must not stop discovery for the others
            log.error(
                "discovery for %s crashed: %s", watch.name, redact(repr(error)), exc_info=True
            )
            return []
        added = await self._track(watch.id, job_ids)
        if added:
            log.info("watch %s: %d new jobs discovered", watch.name, len(added))
            self._on_found()
        return added

    async def _take_round(self, watch: WatchRecord, every: float) -> bool:
        """Whether this instance does this round (another may hold the watch's lease)."""
        if self._owner is None:
            return True
        now = self._clock.now()
        until = now + timedelta(seconds=every * 0.9)
        return await asyncio.to_thread(
            take_lease, self._store.writer, f"discover:{watch.id}", self._owner, now, until
        )

    async def _track(self, watch_id: int, job_ids: Sequence[str]) -> list[int]:
        """Add the jobs; a write the database has started is let finish, even
        when the daemon stops meanwhile, so the store is never closed under it."""
        write = asyncio.ensure_future(
            asyncio.to_thread(self._store.add_discovered_jobs, watch_id, job_ids, self._clock.now())
        )
        try:
            return await asyncio.shield(write)
        except asyncio.CancelledError:
            await write
            raise


def _discover_every(watch: WatchRecord, wiring: Wiring) -> float:
    """The watch's `discover_every`: from its settings, else the default."""
    settings = wiring.watches.get(watch.name)
    if settings is not None:
        return settings.discover_every
    return WatchPolicy().discover_every
