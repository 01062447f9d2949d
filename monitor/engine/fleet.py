"""The instances sharing one database, seen from this one.

At start an instance says it is alive and takes back the leases of instances
that are gone (on SQLite, where one daemon runs, every lease). Every third of
a lease it beats: renews its heartbeat and the leases of the jobs it is
working on (claimed and not yet recorded), counts the live instances to take
its share of each provider's budget, and applies the vendor pauses the others
recorded. A vendor's pause seen here is recorded for them.

Budgets are split per instance rather than counted in the database: a share
costs no query per request, and since every instance claims due jobs from the
same queue, the shares are used evenly. Pauses are shared through the
database, so a 429 seen by one instance stops the others within one beat.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Collection, Iterable
from datetime import timedelta

from monitor.clock import Clock
from monitor.engine.wiring import Wiring
from monitor.store import claims, instances
from monitor.store.database import is_sqlite
from monitor.store.store import Store

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0  # SPEC §6: a dead instance's jobs move within this plus one interval


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Fleet:
    """This instance's membership: heartbeat, leases, shares and pauses."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        owner: str,
        wiring: Callable[[], Wiring],
        lease_seconds: float = LEASE_SECONDS,
        working_on: Callable[[], Collection[int]] = frozenset,
    ) -> None:
        self._store = store
        self._clock = clock
        self.owner = owner
        self._wiring = wiring
        self._working_on = working_on  # the jobs whose leases a beat renews
        self.lease_seconds = lease_seconds
        self._watches: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.live = 1  # instances alive, this one included

    @property
    def beat_seconds(self) -> float:
        return self.lease_seconds / 3

    async def join(self, watch_names: Iterable[str]) -> None:
        """Say this instance is alive; take back the leases of dead ones."""
        self._watches = sorted(watch_names)
        now = self._clock.now()
        host, pid = socket.gethostname(), os.getpid()
        writer = self._store.writer
        await asyncio.to_thread(
            instances.register, writer, self.owner, host, pid, self._watches, now
        )
        if is_sqlite(self._store.engine):
            freed = await asyncio.to_thread(claims.release_all, writer)
        else:
            gone = await asyncio.to_thread(
                instances.forget_dead, writer, now - timedelta(seconds=self.lease_seconds)
            )
            for name in await asyncio.to_thread(self._dead_on_this_host):
                await asyncio.to_thread(instances.unregister, writer, name)
                gone.append(name)
            freed = await asyncio.to_thread(claims.release_all, writer, gone)
        if freed:
            log.info("took back %d job leases of daemons that are gone", freed)
        await self.beat()

    async def rejoin(self, watch_names: Iterable[str]) -> None:
        """After a reload: the watches this instance runs may have changed."""
        self._watches = sorted(watch_names)
        await asyncio.to_thread(
            instances.register,
            self._store.writer,
            self.owner,
            socket.gethostname(),
            os.getpid(),
            self._watches,
            self._clock.now(),
        )

    async def beat(self) -> None:
        """Renew heartbeat and leases; take this instance's share; apply pauses."""
        now = self._clock.now()
        writer = self._store.writer
        if not await asyncio.to_thread(instances.beat, writer, self.owner, now):
            await self.rejoin(self._watches)  # removed as dead while we stalled
        lease_until = now + timedelta(seconds=self.lease_seconds)
        held = self._working_on()  # a snapshot taken here, on the loop
        await asyncio.to_thread(claims.renew, writer, self.owner, lease_until, held)
        stale = now - timedelta(seconds=self.lease_seconds)
        members = await asyncio.to_thread(instances.listed, self._store.engine)
        self.live = max(1, sum(1 for m in members if m.heartbeat_at >= stale))
        paused = await asyncio.to_thread(instances.pauses, self._store.engine, now)
        for name, limiter in self._wiring().limiters.items():
            limiter.set_share(self.live)
            if name in paused:
                limiter.pause_until((paused[name] - now).total_seconds())

    async def others_watch(self) -> frozenset[str]:
        """Watch names the other live instances' configs have: a config watch
        this instance's file lacks stays active while another runs it."""
        stale = self._clock.now() - timedelta(seconds=self.lease_seconds)
        members = await asyncio.to_thread(instances.listed, self._store.engine)
        names: set[str] = set()
        for member in members:
            if member.name != self.owner and member.heartbeat_at >= stale:
                names |= member.watches
        return frozenset(names)

    def publish_pause(self, provider: str, seconds: float, reason: str) -> None:
        """A vendor asked us to pause: record it for the other instances."""
        until = self._clock.now() + timedelta(seconds=seconds)
        task = asyncio.create_task(
            asyncio.to_thread(instances.pause, self._store.writer, provider, until, reason)
        )
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("recording a vendor pause failed: %s", task.exception())

    async def leave(self) -> None:
        """At shutdown: give back every lease and say this instance is gone."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
        writer = self._store.writer
        await asyncio.to_thread(claims.release_all, writer, [self.owner])
        await asyncio.to_thread(instances.unregister, writer, self.owner)

    def _dead_on_this_host(self) -> list[str]:
        """Instances on this host whose process is gone (a crash, a kill): their
        leases need not wait to expire."""
        host = socket.gethostname()
        return [
            member.name
            for member in instances.listed(self._store.engine)
            if member.host == host
            and member.name != self.owner
            and not instances.pid_alive(member.pid)
        ]
