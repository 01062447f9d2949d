"""The daemon: wires config, store, providers, scheduler and outbox, and runs
them until told to stop."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.clock import Clock
from monitor.config import Config, NotifierSettings
from monitor.engine.discovery import Discovery
from monitor.engine.dispatch import Dispatcher
from monitor.engine.expectations import ExpectationSweep
from monitor.engine.fleet import Fleet, instance_name
from monitor.engine.keeper import ConditionKeeper
from monitor.engine.live import LiveConfig
from monitor.engine.pausing import PauseFollower
from monitor.engine.poller import Poller
from monitor.engine.recorder import Recorder
from monitor.engine.retention import RetentionSweep
from monitor.engine.runtime_watches import WatchRefused
from monitor.engine.scheduler import Housekeeping
from monitor.engine.wiring import Wiring
from monitor.notify.silencing import Silencer
from monitor.notify.worker import OutboxWorker
from monitor.service.runtime import ServiceRuntime
from monitor.store.access import wait_and_upgrade
from monitor.store.instances import SqliteLock
from monitor.store.records import PollWrite
from monitor.store.store import Store, WatchSpec

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 7000  # new objects between collections of the youngest generation
STOP_GRACE_SECONDS = 5.0  # in-flight polls get this long to commit at shutdown


class Daemon:
    """One running loadwatch: polls, records and notifies until `stop()`."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.owner = instance_name()
        self.store = Store(config.database)
        self._sqlite_lock = SqliteLock(config.database)
        self._stopping = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self._recording = asyncio.Event()  # set: the recorder stops once it has written all
        self._recorder_task: asyncio.Task[None] | None = None
        self.outbox = OutboxWorker(
            self.store, self.clock, self._notifiers, self.owner, on_settled=self._changed.set
        )
        # The poll path: claim (dispatch) -> poll and judge (poller, keeper) -> record.
        self.fleet = Fleet(
            self.store,
            self.clock,
            self.owner,
            lambda: self._wiring,
            config.lease,
            working_on=lambda: self.dispatcher.held_jobs(),
        )
        self.keeper = ConditionKeeper(self.store, self.clock)
        self.recorder = Recorder(self.store, self.owner, self.clock, self._recorded)
        self.poller = Poller(self.clock, lambda: self._wiring, self.keeper, self.recorder)
        self.recorder.on_refused = self._refused
        # The running config (engine/live.py): reload, run-time watches.
        self.live = LiveConfig(
            config,
            self.store,
            self.clock,
            on_change=self._changed.set,
            on_due=lambda: self.dispatcher.wake(),
            others_watch=self.fleet.others_watch,
            on_applied=self._applied,
            on_pause=self.fleet.publish_pause,
        )
        self.dispatcher = Dispatcher(
            self.store,
            self.clock,
            self.owner,
            lambda: self._wiring,
            lambda: self.live.index,
            self.poller,
            self.fleet.lease_seconds,
        )
        self.discovery = Discovery(
            self.store, self.clock, lambda: self._wiring, self._found, owner=self.owner
        )
        self.housekeeping = Housekeeping()
        self.housekeeping.every(self.fleet.beat_seconds, "heartbeat", self.fleet.beat)
        # Operators' tools (issue 14): retention, pauses, expected runs, silences.
        self.discovery.retention = lambda: self.config.retention
        self.pauses = PauseFollower(self.store, on_resumed=lambda: self.dispatcher.wake())
        self.discovery.paused = self.pauses.paused
        self.expectations = ExpectationSweep(
            self.store, self.clock, lambda: self._wiring, self.pauses.paused, self._queued
        )
        self.outbox.silencer = Silencer(self.store, lambda: self.config, lambda: self._wiring.zone)
        self.retention = RetentionSweep(self.store, self.clock, lambda: self.config.retention)
        self.ready = asyncio.Event()
        self.service = ServiceRuntime(self)  # sd_notify, watchdog, metrics, HTTP
        self._measure()

    def _measure(self) -> None:
        metrics = self.service.metrics
        self.poller.measure_poll = metrics.measure_poll
        self.dispatcher.on_start = metrics.lateness.observe
        metrics.gauge(
            "loadwatch_jobs_claimed",
            "Jobs this instance has claimed and not yet recorded.",
            self.dispatcher.held,
        )
        metrics.gauge(
            "loadwatch_recorded_polls",
            "Polls and checks recorded since start.",
            lambda: self.recorder.writes,
        )
        metrics.gauge(
            "loadwatch_record_batches",
            "Transactions the polls were recorded in since start.",
            lambda: self.recorder.batches,
        )
        metrics.gauge(
            "loadwatch_instances_alive",
            "Instances sharing the database, this one included.",
            lambda: self.fleet.live,
        )

    @property
    def config(self) -> Config:
        """The config running now (replaced by each accepted reload)."""
        return self.live.config

    @property
    def polling(self) -> bool:
        """Whether the poll path runs: the loop that claims and starts polls,
        and the recorder that writes them and hands their jobs back. The health
        check and systemd's watchdog ask; a recorder that has stopped would
        leave every later poll unrecorded, so a restart beats running on."""
        recorder = self._recorder_task
        return self.dispatcher.running and recorder is not None and not recorder.done()

    @property
    def _wiring(self) -> Wiring:
        return self.live.wiring

    def _notifiers(self) -> Mapping[str, NotifierSettings]:
        return self._wiring.notifiers

    def _recorded(self, writes: Sequence[PollWrite], queued: int) -> None:
        self.dispatcher.released(writes)
        if queued:
            self.outbox.wake()
        self._changed.set()

    def _queued(self) -> None:
        self.outbox.wake()
        self._changed.set()

    def _found(self) -> None:
        self.dispatcher.wake()
        self._changed.set()

    async def _refused(self, write: PollWrite, reason: str) -> PollWrite | None:
        job = self.dispatcher.claimed_job(write.job_pk)
        return None if job is None else await self.poller.refused(job, reason)

    async def _applied(self, config: Config) -> None:
        if self.ready.is_set():
            await self.fleet.rejoin(w.name for w in config.watches)

    async def reload(self, trigger: str = "SIGHUP") -> bool:
        """Load the config file again and apply it (SPEC §6); False when it was
        refused (logged with FILE:LINE) and the running config stays."""
        with self.service.reloading():
            gc.unfreeze()  # the old config may be garbage now
            try:
                return await self.live.reload(trigger)
            except Exception:
                log.exception("config reload (%s) failed; the running config stays", trigger)
                return False
            finally:
                _settle_memory()

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
        """Run until `stop()`; migrations first, then join the instances on the database."""
        self._sqlite_lock.acquire()  # raises DatabaseInUse: one daemon per SQLite file
        try:
            await self._run()
        finally:
            self._sqlite_lock.release()

    async def _run(self) -> None:
        migrated = await wait_and_upgrade(self.store, self.config.database, self._stopping)
        if migrated is None:  # told to stop while the database was down
            await asyncio.to_thread(self.store.close)
            return
        before, after = migrated
        if before != after:
            log.info("database migrated from %s to %s", before or "empty", after)
        await self.pauses.start()
        await self.live.start()
        await self.fleet.join(self.live.wiring.watches)
        self.housekeeping.start()
        self.discovery.start(self._stopping)
        worker = asyncio.create_task(self.outbox.run(self._stopping), name="outbox")
        # The recorder outlives the polls it records: it stops on its own event.
        self._recorder_task = asyncio.create_task(
            self.recorder.run(self._recording), name="recorder"
        )
        for name, work in (
            ("dispatch", self.dispatcher.run(self._stopping)),
            ("config-watch", self.live.run(self._stopping, self.reload)),
            ("retention", self.retention.run(self._stopping)),
            ("pauses", self.pauses.run(self._stopping)),
            ("expected-runs", self.expectations.run(self._stopping)),
        ):
            self._background.add(asyncio.create_task(work, name=name))
        try:
            await self.service.start()  # the HTTP listener, then READY=1 to systemd
            _settle_memory()
            self.ready.set()
            log.info(
                "loadwatch running: %d watches, %d providers, database %s, instance %s",
                len(self.config.watches),
                len(self.config.providers),
                _database_label(self.config.database),
                self.owner,
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
        self._stopping.set()  # also when start-up failed: the loops must end
        await self.service.stop()  # STOPPING=1 first; the listener closes
        await self.discovery.stop()
        self.live.halt()  # polls waiting for their provider's turn give up
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.dispatcher.stop(STOP_GRACE_SECONDS)
        self.housekeeping.stop()
        self._recording.set()
        if not await self.recorder.drain(STOP_GRACE_SECONDS):
            log.warning("polls still being recorded at shutdown; they will be redone")
        if self._recorder_task is not None:
            await asyncio.gather(self._recorder_task, return_exceptions=True)
        try:
            await asyncio.wait_for(worker, STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("outbox delivery still running at shutdown; it resumes at next start")
        try:
            await self.fleet.leave()
        except Exception as error:  # the database is away: the leases expire on their own
            log.warning("could not give back job leases at shutdown: %s", error)
        await self.live.close()
        await asyncio.to_thread(self.store.close)
        log.info("stopped")


def _settle_memory() -> None:
    """Move what start-up (or a reload) built into the GC's permanent
    generation. The config and the providers live until the next reload; left
    in generation 2, every full collection walked them again: with 10,000
    watches that stopped the loop 0.3-0.4 s several times a minute and halved
    the polls per second (bench/README.md).

    The youngest generation is collected every 7,000 new objects rather than
    700: at 1,000 polls a second most of a poll's objects are freed by their
    reference counts within milliseconds, and a collection every 700 walked
    them while still alive, 90 times a second (4 % of the daemon's CPU; 1.2 %
    at 7,000, bench/README.md). The poll path makes no reference cycles of its
    own, so the garbage a larger threshold leaves waiting is small."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _database_label(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
