"""The daemon: wires config, store, providers, scheduler and outbox, and runs
them until told to stop."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

from monitor.clock import Clock
from monitor.config import Config, NotifierSettings
from monitor.engine.poller import Poller, Wiring
from monitor.engine.scheduler import PollScheduler
from monitor.notify.worker import OutboxWorker
from monitor.providers.base import Provider
from monitor.providers.http import make_client
from monitor.providers.registry import provider_class
from monitor.store.store import Store, WatchSpec

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0  # in-flight polls get this long to commit at shutdown


def build_providers(config: Config) -> dict[str, Provider]:
    """One Provider (with its own HTTP client) per provider block."""
    providers: dict[str, Provider] = {}
    for name, settings in config.providers.items():
        cls = provider_class(settings.type)
        providers[name] = cls(name, settings, make_client(settings))
    return providers


def watch_specs(config: Config) -> list[WatchSpec]:
    return [
        WatchSpec(name=w.name, provider=w.provider, job=w.job, discover=w.discover)
        for w in config.watches
    ]


class Daemon:
    """One running loadwatch: polls, records and notifies until `stop()`."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.store = Store(config.database)
        self._stopping = asyncio.Event()
        self._wiring = Wiring(providers={}, watches={}, notifiers={})
        self._changed = asyncio.Event()
        self.outbox = OutboxWorker(
            self.store, self.clock, self._notifiers, self.owner, on_settled=self._changed.set
        )
        self.poller = Poller(
            self.store,
            self.clock,
            lambda: self._wiring,
            on_queued=self.outbox.wake,
            on_commit=self._changed.set,
        )
        self.scheduler = PollScheduler(self.poller.poll, self.clock)
        self.ready = asyncio.Event()

    def _notifiers(self) -> Mapping[str, NotifierSettings]:
        return self._wiring.notifiers

    async def run(self) -> None:
        """Run until `stop()`; migrations first, then the schedule from the database."""
        before, after = await asyncio.to_thread(self.store.upgrade)
        if before != after:
            log.info("database migrated from %s to %s", before or "empty", after)
        self._wiring = Wiring(
            providers=build_providers(self.config),
            watches={w.name: w for w in self.config.watches},
            notifiers=self.config.notifiers,
        )
        await asyncio.to_thread(
            self.store.sync_config_watches, watch_specs(self.config), self.clock.now()
        )
        self.scheduler.start()
        await self._arm_all()
        worker = asyncio.create_task(self.outbox.run(self._stopping), name="outbox")
        self.ready.set()
        log.info(
            "loadwatch running: %d watches, %d providers, database %s",
            len(self.config.watches),
            len(self.config.providers),
            _database_label(self.config.database),
        )
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown(worker)

    def stop(self) -> None:
        self._stopping.set()

    async def wait_until(self, predicate: Callable[[Store], bool], timeout: float) -> bool:
        """Wait until `predicate(store)` holds, checking after every committed
        poll and every delivery round; False if `timeout` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._changed.clear()
            if await asyncio.to_thread(predicate, self.store):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return bool(await asyncio.to_thread(predicate, self.store))

    async def _arm_all(self) -> None:
        jobs = await asyncio.to_thread(self.store.schedulable_jobs)
        now = self.clock.now()
        for job in jobs:
            self.scheduler.arm(job.id, job.next_poll_at or now)
        log.info("%d jobs scheduled", len(jobs))

    async def _shutdown(self, worker: asyncio.Task[None]) -> None:
        log.info("stopping")
        await self.scheduler.stop(STOP_GRACE_SECONDS)
        try:
            await asyncio.wait_for(worker, STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("outbox delivery still running at shutdown; it resumes at next start")
        for provider in self._wiring.providers.values():
            await provider.client.aclose()
        await asyncio.to_thread(self.store.close)
        log.info("stopped")


def _database_label(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
