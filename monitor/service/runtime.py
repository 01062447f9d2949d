"""What makes the daemon a service: systemd notifications and watchdog, the
heartbeat behind them, metrics, and the optional HTTP listener.

The daemon (monitor/app.py) owns one `ServiceRuntime`; it calls `start()` once
it is ready, `reloading()` around a reload, `stopping()` when shutdown begins
and `stop()` before it closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from typing import Any, Protocol

from monitor.clock import Clock
from monitor.config import Config
from monitor.domain import State
from monitor.service.access import warn_if_exposed
from monitor.service.api import Api
from monitor.service.health import HealthCheck, Heartbeat
from monitor.service.http import HttpListener
from monitor.service.metrics import Metrics
from monitor.service.sdnotify import SystemdNotifier
from monitor.store.store import Store, WatchSpec
from monitor.store.write_health import write_health


class Served(Protocol):
    """What the service layer needs of the daemon it serves (monitor/app.py)."""

    store: Store
    clock: Clock

    @property
    def config(self) -> Config: ...

    @property
    def polling(self) -> bool:
        """Whether the poll loop runs (for the health check)."""
        ...

    async def add_watch(self, spec: WatchSpec) -> bool: ...

    async def remove_watch(self, name: str) -> bool: ...


log = logging.getLogger(__name__)

STATUS_EVERY = 2.0  # seconds between STATUS= refreshes (two small queries; sent only when changed)
ADD_WATCH_TIMEOUT = 30.0


class ServiceRuntime:
    """sd_notify, watchdog, STATUS=, metrics and HTTP for one daemon."""

    def __init__(self, daemon: Served) -> None:
        self._daemon = daemon
        self.notifier = SystemdNotifier()
        self.heartbeat = Heartbeat()
        self._stopping = False
        self.health = HealthCheck(
            self.heartbeat,
            scheduler_running=lambda: daemon.polling,
            stopping=lambda: self._stopping,
            ping_database=daemon.store.ping,
            writes=write_health(daemon.store.engine).verdict,
        )
        self.metrics = Metrics(daemon.store, loop_lag=lambda: self.heartbeat.lag)
        self.http: HttpListener | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_status = ""

    async def start(self) -> None:
        """Config and database are up and the schedule is armed: start the
        heartbeat and the HTTP listener, then tell systemd we are ready."""
        self._loop = asyncio.get_running_loop()
        self._spawn(self.heartbeat.run(), "heartbeat")
        settings = self._daemon.config.http
        if settings is not None:
            api = Api(
                config=lambda: self._daemon.config,
                store=self._daemon.store,
                health=self.health,
                metrics=self.metrics,
                add_watch=self.add_watch,
                remove_watch=self.remove_watch,
                now=self._daemon.clock.now,
            )
            warn_if_exposed(settings)
            self.http = HttpListener(settings.host, settings.port, api)
            await asyncio.to_thread(self.http.start)
        if self.notifier.enabled:
            status = await self._status_text()
            self.notifier.ready(status)
            self._last_status = status
            self._spawn(self._report_status(), "systemd-status")
            if self.notifier.watchdog_interval is not None:
                self._spawn(self._ping_watchdog(self.notifier.watchdog_interval), "watchdog")

    @contextlib.contextmanager
    def reloading(self) -> Iterator[None]:
        """Around a reload: RELOADING=1 before, READY=1 after (also when the
        new config was refused: the daemon goes on with the old one)."""
        self.notifier.reloading()
        try:
            yield
        finally:
            self.notifier.ready(self._last_status or None)

    def stopping(self) -> None:
        self._stopping = True
        self.notifier.stopping()

    async def stop(self) -> None:
        self.stopping()
        if self.http is not None:
            await asyncio.to_thread(self.http.close)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.health.close()
        self.notifier.close()

    def add_watch(self, spec: WatchSpec) -> bool:
        """For POST /api/watches, on a listener thread: add the watch on the
        event loop and wait for it; False when the name is taken."""
        if self._loop is None:
            raise RuntimeError("the service has not started")
        future = asyncio.run_coroutine_threadsafe(self._add_watch(spec), self._loop)
        return future.result(timeout=ADD_WATCH_TIMEOUT)

    async def _add_watch(self, spec: WatchSpec) -> bool:
        return await self._daemon.add_watch(spec)

    def remove_watch(self, name: str) -> bool:
        """For DELETE /api/watches/NAME, on a listener thread: stop the run-time
        watch on the event loop and wait; False when there is no such watch."""
        if self._loop is None:
            raise RuntimeError("the service has not started")
        future = asyncio.run_coroutine_threadsafe(self._daemon.remove_watch(name), self._loop)
        return future.result(timeout=ADD_WATCH_TIMEOUT)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    async def _ping_watchdog(self, interval: float) -> None:
        """WATCHDOG=1 every `interval` while the scheduler loop makes progress.
        This task runs on that loop, so a stuck loop sends nothing at all; a
        loop that runs but has lost its scheduler is caught by the verdict."""
        silent_since: str | None = None
        while True:
            verdict = self.health.loop_verdict()
            if verdict == "ok":
                self.notifier.watchdog()
                silent_since = None
            elif verdict != silent_since and not self._stopping:
                log.error("not pinging systemd's watchdog: %s", verdict)
                silent_since = verdict
            await asyncio.sleep(interval)

    async def _report_status(self) -> None:
        while True:
            await asyncio.sleep(STATUS_EVERY)
            status = await self._status_text()
            if status != self._last_status:
                self.notifier.status(status)
                self._last_status = status

    async def _status_text(self) -> str:
        try:
            return await asyncio.to_thread(status_text, self._daemon.store)
        except Exception as error:
            return f"database unreachable: {type(error).__name__}"


def status_text(store: Store) -> str:
    """One line for `systemctl status`: e.g. "12 jobs: 8 running, 3 pending,
    1 waiting; 0 undelivered" (jobs not yet ended, notifications not yet sent)."""
    counts = store.job_counts()
    live = [(state, counts.get(state.value, 0)) for state in State if not state.terminal]
    total = sum(count for _, count in live)
    parts = ", ".join(f"{count} {state.value}" for state, count in live if count)
    undelivered = store.notification_counts().get("pending", 0)
    return f"{total} jobs" + (f": {parts}" if parts else "") + f"; {undelivered} undelivered"
