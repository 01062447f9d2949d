"""Is the daemon healthy? The scheduler loop turns, the database answers and
takes writes.

Two consumers with different questions: systemd's watchdog asks "is the
scheduler loop making progress?" (a stuck loop must be restarted; a database
that is away must not be — the daemon rides that out, SPEC §6), and /healthz
asks both that and "does the database answer?". The heartbeat lives on the
loop; everything else here may be called from any thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.redact import redact

BEAT_SECONDS = 1.0
LOOP_SILENT_AFTER = 10.0  # no beat for this long: the loop is stuck (or starved)
DATABASE_TIMEOUT = 5.0  # a ping slower than this counts as unreachable


class Heartbeat:
    """A task that beats every second on the event loop; anyone may ask how
    long ago it last beat, and how late its last sleep woke up (loop lag)."""

    def __init__(self) -> None:
        self.last_beat = time.monotonic()
        self.lag = 0.0

    async def run(self) -> None:
        self.last_beat = time.monotonic()  # start-up (migrations) may have taken a while
        while True:
            asleep_at = time.monotonic()
            await asyncio.sleep(BEAT_SECONDS)
            now = time.monotonic()
            self.lag = max(0.0, now - asleep_at - BEAT_SECONDS)
            self.last_beat = now

    def silent_for(self) -> float:
        return time.monotonic() - self.last_beat


@dataclass(frozen=True)
class HealthReport:
    """Each check's verdict ("ok" or why not); healthy when all are ok."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(verdict == "ok" for verdict in self.checks.values())

    def problems(self) -> str:
        return "; ".join(f"{name}: {why}" for name, why in self.checks.items() if why != "ok")


class HealthCheck:
    """Judges the loop (heartbeat, scheduler, not stopping) and the database."""

    def __init__(
        self,
        heartbeat: Heartbeat,
        scheduler_running: Callable[[], bool],
        stopping: Callable[[], bool],
        ping_database: Callable[[], None],
        writes: Callable[[], str] = lambda: "ok",
    ) -> None:
        self._heartbeat = heartbeat
        self._writes = writes  # "ok", or why the latest writes failed
        self._scheduler_running = scheduler_running
        self._stopping = stopping
        self._ping_database = ping_database
        # One ping at a time: a hanging database must not pile up threads.
        self._pinger = concurrent.futures.ThreadPoolExecutor(1, "loadwatch-health")
        self._ping: concurrent.futures.Future[None] | None = None
        self._ping_started = 0.0
        self._ping_lock = threading.Lock()

    def loop_verdict(self) -> str:
        """ "ok" while the scheduler loop makes progress; else why not."""
        if self._stopping():
            return "stopping"
        silent = self._heartbeat.silent_for()
        if silent > LOOP_SILENT_AFTER:
            return f"event loop has not run for {silent:.0f}s"
        if not self._scheduler_running():
            return "poll loop is not running (claiming or recording stopped)"
        return "ok"

    def database_verdict(self) -> str:
        with self._ping_lock:  # requests arrive on several threads
            if self._ping is None or self._ping.done():
                self._ping = self._pinger.submit(self._ping_database)
                self._ping_started = time.monotonic()
            ping = self._ping
        try:
            ping.result(timeout=DATABASE_TIMEOUT)
        except concurrent.futures.TimeoutError:
            waited = time.monotonic() - self._ping_started
            return f"database did not answer in {waited:.0f}s"
        except Exception as error:
            return "database unreachable: " + _first_line(redact(str(error)))
        # A database that answers can still refuse every write (a full disk).
        return self._writes()

    def report(self) -> HealthReport:
        return HealthReport({"loop": self.loop_verdict(), "database": self.database_verdict()})

    def close(self) -> None:
        self._pinger.shutdown(wait=False, cancel_futures=True)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line[:300]
