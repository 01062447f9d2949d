"""Do the database's writes succeed? A database that answers a ping can still
refuse every write (a full disk, a value that does not fit), and then
nothing is recorded: /healthz and `loadwatch_database_up` must say so.

Each engine from `open_engine` has a WriteHealth that its own events keep up
to date: every write transaction's commit counts as a success, every error
on a write connection as a failure. Code that learns of a write's fate
another way (the poll path, the outbox worker) may report it too, with
`write_health(engine).succeeded()` / `.failed(error)`.

On SQLite a full disk is also recovered from here: the failing connection is
dropped (it may hold a half-done transaction), and once writes pass again the
WAL is checkpointed and truncated, so the space it took comes back.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

from monitor.redact import redact

log = logging.getLogger(__name__)

WRITE_OPTION = "loadwatch_write"  # execution option that marks a writing connection


FAILING_FOR = 30.0  # a failed write keeps health "failing" this long


class WriteHealth:
    """The fate of the latest writes to one database: failing while a write
    failed in the last FAILING_FOR seconds. (A window, not the last write
    alone: with a full disk, small updates may still pass between the
    writes that need room, and health must not flap to "ok" on them.)"""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.last_failure_at: float | None = None
        self.reason: str | None = None
        self.failures = 0  # failed writes since writes began failing
        self.wal_to_truncate = False  # SQLite: a full disk left a large WAL behind

    def succeeded(self) -> None:
        with self._lock:
            if self.last_failure_at is not None and not self._failing():
                log.warning("database writes succeed again after %d failures", self.failures)
                self.last_failure_at, self.reason, self.failures = None, None, 0

    def failed(self, error: BaseException | str) -> None:
        reason = error if isinstance(error, str) else _one_line(error)
        with self._lock:
            if not self._failing():
                self.failures = 0
            self.last_failure_at = self._clock()
            self.reason = redact(reason)[:300]
            self.failures += 1

    def verdict(self) -> str:
        """ "ok" unless a write failed in the last FAILING_FOR seconds; else why."""
        with self._lock:
            if not self._failing() or self.last_failure_at is None:
                return "ok"
            ago = self._clock() - self.last_failure_at
            return (
                f"writes failing ({self.failures} failed, the last {ago:.0f}s ago): {self.reason}"
            )

    def _failing(self) -> bool:
        last = self.last_failure_at
        return last is not None and self._clock() - last <= FAILING_FOR


_trackers: weakref.WeakKeyDictionary[Engine, WriteHealth] = weakref.WeakKeyDictionary()


def write_health(engine: Engine) -> WriteHealth:
    """The WriteHealth of `engine` (or of the engine it was derived from)."""
    base = getattr(engine, "_proxied", engine)  # Engine.execution_options() wraps it
    tracker = _trackers.get(base)
    if tracker is None:
        tracker = _trackers.setdefault(base, WriteHealth())
    return tracker


def track_writes(engine: Engine, like: Engine | None = None) -> None:
    """Keep `engine`'s WriteHealth up to date from its own events; with
    `like`, share that engine's WriteHealth (SQLite's separate writer engine
    reports to the engine the daemon reads health from)."""
    if like is not None:
        _trackers[getattr(engine, "_proxied", engine)] = write_health(like)
    tracker = write_health(engine)
    sqlite = engine.dialect.name == "sqlite"

    def on_commit(connection: Any) -> None:
        if connection.get_execution_options().get(WRITE_OPTION):
            # Before COMMIT runs: a COMMIT that fails reports through on_error after.
            tracker.succeeded()

    def on_error(context: Any) -> None:
        connection = context.connection
        if connection is None or not connection.get_execution_options().get(WRITE_OPTION):
            return
        tracker.failed(context.original_exception)
        if sqlite and is_disk_full(context.original_exception):
            tracker.wal_to_truncate = True
            # Drop this connection only: it may still hold the failed transaction.
            context.invalidate_pool_on_disconnect = False
            context.is_disconnect = True

    event.listen(engine, "commit", on_commit)
    event.listen(engine, "handle_error", on_error)


def truncate_wal_if_needed(engine_tracker: WriteHealth, dbapi_connection: Any) -> None:
    """After a full disk, give the WAL's space back once a write can start
    again (SQLite, outside any transaction; a failure just waits for the next)."""
    if not engine_tracker.wal_to_truncate:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = cursor.fetchone()[0]
        cursor.close()
    except Exception as error:  # still full: try again at the next write
        log.debug("WAL checkpoint after a full disk failed: %s", error)
        return
    if not busy:
        engine_tracker.wal_to_truncate = False
        log.info("database: WAL checkpointed and truncated after the disk was full")


def is_disk_full(error: BaseException) -> bool:
    text = str(getattr(error, "orig", None) or error).lower()
    return "database or disk is full" in text or "no space left" in text


def _one_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
