"""The daemon: wires config, store, providers, scheduler and outbox, and runs
them until told to stop."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

from monitor.clock import Clock
from monitor.config import Config, NotifierSettings
from monitor.engine.discovery import Discovery
from monitor.engine.expectations import ExpectationSweep
from monitor.engine.keeper import ConditionKeeper
from monitor.engine.live import LiveConfig
from monitor.engine.pausing import PauseFollower
from monitor.engine.poller import Poller, Wiring
from monitor.engine.retention import RetentionSweep
from monitor.engine.runtime_watches import WatchRefused
from monitor.engine.scheduler import PollScheduler
from monitor.engine.sweep import ConditionSweep
from monitor.notify.silencing import Silencer
from monitor.notify.worker import OutboxWorker
from monitor.service.runtime import ServiceRuntime
from monitor.store.store import Store, WatchSpec

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0  # in-flight polls get this long to commit at shutdown


class Daemon:
    """One running loadwatch: polls, records and notifies until `stop()`."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.store = Store(config.database)
        self._stopping = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self.outbox = OutboxWorker(
            self.store, self.clock, self._notifiers, self.owner, on_settled=self._changed.set
        )
        # Conditions (engine/keeper.py), judged after each poll and between polls.
        self.keeper = ConditionKeeper(
            self.store,
            self.clock,
            lambda: self._wiring,
            on_next_check=lambda job_pk, when: self.sweep.note(job_pk, when),
            on_queued=self._queued,
        )
        self.sweep = ConditionSweep(self.keeper.check, self.clock)
        self.poller = Poller(
            self.store,
            self.clock,
            lambda: self._wiring,
            on_queued=self.outbox.wake,
            on_commit=self._changed.set,
            keeper=self.keeper,
        )
        self.scheduler = PollScheduler(self.poller.poll, self.clock)
        # The running config (engine/live.py): reload, run-time watches.
        self.live = LiveConfig(
            config,
            self.store,
            self.clock,
            self.scheduler,
            self.sweep,
            self.keeper,
            on_change=self._changed.set,
        )
        self.discovery = Discovery(
            self.store, self.clock, lambda: self._wiring, self.scheduler.arm, self._changed.set
        )
        self.discovery.retention = lambda: self.config.retention
        self.pauses = PauseFollower(self.store, self.clock, self.scheduler, self.sweep, self.keeper)
        self.discovery.paused = self.pauses.paused
        self.expectations = ExpectationSweep(
            self.store, self.clock, lambda: self._wiring, self.pauses.paused, self._queued
        )
        self.outbox.silencer = Silencer(self.store, lambda: self.config, lambda: self._wiring.zone)
        self.retention = RetentionSweep(self.store, self.clock, lambda: self.config.retention)
        self.ready = asyncio.Event()
        self.service = ServiceRuntime(self)  # sd_notify, watchdog, metrics, HTTP
        self.poller.measure_poll = self.service.metrics.measure_poll

    @property
    def config(self) -> Config:
        """The config running now (replaced by each accepted reload)."""
        return self.live.config

    @property
    def _wiring(self) -> Wiring:
        return self.live.wiring

    def _notifiers(self) -> Mapping[str, NotifierSettings]:
        return self._wiring.notifiers

    def _queued(self) -> None:
        self.outbox.wake()
        self._changed.set()

    async def reload(self, trigger: str = "SIGHUP") -> bool:
        """Load the config file again and apply it (SPEC §6); False when it was
        refused (logged with FILE:LINE) and the running config stays."""
        with self.service.reloading():
            try:
                return await self.live.reload(trigger)
            except Exception:
                log.exception("config reload (%s) failed; the running config stays", trigger)
                return False

    def request_reload(self, trigger: str = "SIGHUP") -> None:
        """Reload soon (for a signal handler, which cannot await)."""
        task = asyncio.create_task(self.reload(trigger), name="reload")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def add_watch(self, spec: WatchSpec) -> bool:
        """Add a run-time watch and start polling it at once (the CLI's `watch`
        stores one and the daemon picks it up within 2 s); False when the name
        is taken. Check a spec first with engine.runtime_watches.runtime_spec."""
        try:
            await self.live.add_watch(spec)
        except WatchRefused:
            return False
        return True

    async def remove_watch(self, name: str) -> bool:
        """Stop a run-time watch at once; False when there is no such watch."""
        try:
            await self.live.remove_watch(name)
        except WatchRefused:
            return False
        return True

    async def run(self) -> None:
        """Run until `stop()`; migrations first, then the schedule from the database."""
        before, after = await asyncio.to_thread(self.store.upgrade)
        if before != after:
            log.info("database migrated from %s to %s", before or "empty", after)
        self.scheduler.start()
        await self.pauses.start()
        await self.live.start()
        self.discovery.start(self._stopping)
        worker = asyncio.create_task(self.outbox.run(self._stopping), name="outbox")
        for name, work in (
            ("conditions", self.sweep.run(self._stopping)),
            ("config-watch", self.live.run(self._stopping, self.reload)),
            ("retention", self.retention.run(self._stopping)),
            ("pauses", self.pauses.run(self._stopping)),
            ("expected-runs", self.expectations.run(self._stopping)),
        ):
            self._background.add(asyncio.create_task(work, name=name))
        try:
            await self.service.start()  # the HTTP listener, then READY=1 to systemd
            self.ready.set()
            log.info(
                "loadwatch running: %d watches, %d providers, database %s",
                len(self.config.watches),
                len(self.config.providers),
                _database_label(self.config.database),
            )
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

    async def _shutdown(self, worker: asyncio.Task[None]) -> None:
        log.info("stopping")
        await self.service.stop()  # STOPPING=1 first; the listener closes
        await self.discovery.stop()
        self.live.halt()  # polls waiting for their provider's turn give up
        await self.scheduler.stop(STOP_GRACE_SECONDS)
        await asyncio.gather(*self._background, return_exceptions=True)
        try:
            await asyncio.wait_for(worker, STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("outbox delivery still running at shutdown; it resumes at next start")
        await self.live.close()
        await asyncio.to_thread(self.store.close)
        log.info("stopped")


def _database_label(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
