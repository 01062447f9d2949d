"""Recording polls in batches: group commit.

Polls hand their writes to the recorder, which writes whatever has gathered
in one transaction while the next batch gathers (store/claims.py). A batch
gathers for 20 ms; while it holds only polls that found nothing to announce
(no transition, condition or notification), for up to 250 ms, as those wait
for nobody and a transaction costs far more than a row (recording 10,000
jobs' polls in batches of 250 instead of 20 costs a third less,
bench/README.md). A write that announces something ends the wait at once.

When a batch fails:
- the database went away: the batch is kept and written again in 2 s (the
  jobs stay leased to us, so no other instance polls them meanwhile);
- anything else (a value the database refuses, a full disk): each write is
  tried alone, and one that still fails becomes a failed poll with the
  database's reason, so the job backs off and goes `unreachable` instead of
  retrying silently for ever; if the database goes away meanwhile, the writes
  not yet recorded are kept as above, and those recorded are not written twice;
- anything the recorder itself gets wrong: the batch is given up (its jobs'
  leases run out and they are polled again) and recording goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from monitor.aio import Wakeup, woken_by
from monitor.clock import Clock
from monitor.redact import redact
from monitor.store import claims
from monitor.store.database import unavailable
from monitor.store.records import PollWrite
from monitor.store.store import Store

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # a batch that could not reach the database is written again this soon
# A batch gathers this long before it is written (unless someone waits on it):
# a transaction costs far more than a row, and 20 ms is nothing to a poll.
GATHER_SECONDS = 0.02
# ... and this long while nothing in it is to be announced (see above).
QUIET_GATHER_SECONDS = 0.25
MAX_BATCH = 500  # writes per transaction
FAILED_WRITE_RETRY_SECONDS = 60.0
_IDLE_SECONDS = 5.0  # with nothing to write, look again this often (add() wakes it sooner)


class Recorder:
    """Writes poll results in batches, for the pollers."""

    def __init__(
        self,
        store: Store,
        owner: str,
        clock: Clock,
        on_recorded: Callable[[Sequence[PollWrite], int], None],
        on_write_health: Callable[[bool], None] = lambda ok: None,
    ) -> None:
        # Turns a refused write into the job's failed poll (engine/poller.py); set by the app.
        self.on_refused: Callable[[PollWrite, str], Awaitable[PollWrite | None]] | None = None
        self._store = store
        self._owner = owner
        self._clock = clock
        self._on_recorded = on_recorded  # (writes, notifications queued)
        self._on_write_health = on_write_health
        self._pending: list[PollWrite] = []
        self._urgent = False  # something pending is to be announced: no quiet wait
        self._waiters: dict[int, asyncio.Future[None]] = {}  # id(write) -> its commit
        self._wake = Wakeup()
        self._idle = asyncio.Event()
        self._idle.set()
        self.batches = 0
        self.writes = 0

    def add(self, write: PollWrite) -> None:
        """Record `write` with the next batch."""
        self._pending.append(write)
        self._idle.clear()
        announces = _announces(write)
        self._urgent = self._urgent or announces
        # Wake the recorder only when this write changes what it waits for:
        # at 1,000 polls/s, waking it for each would cost more than it saves.
        if announces or len(self._pending) in (1, MAX_BATCH) or self._waiters:
            self._wake.set()

    async def commit(self, write: PollWrite) -> None:
        """Record `write` with the next batch and wait until it is committed."""
        done = asyncio.get_running_loop().create_future()
        self._waiters[id(write)] = done
        self.add(write)
        await done

    def backlog(self) -> int:
        return len(self._pending)

    async def run(self, stopping: asyncio.Event) -> None:
        """Write batches until stopped, then write what is left (one try)."""
        with woken_by(stopping, self._wake):
            while True:
                if not self._pending:
                    self._idle.set()
                    if stopping.is_set():
                        return
                    self._wake.clear()
                    await self._wake.sleep(_IDLE_SECONDS)
                    continue
                await self._gather(stopping)
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                self._urgent = any(_announces(write) for write in self._pending)
                try:
                    kept = await self._write(batch)
                except Exception:  # a bug must not end recording: every later poll would wait
                    log.exception("recording %d polls failed unexpectedly", len(batch))
                    self._drop(batch, "after that error")
                    continue
                if kept:
                    if stopping.is_set():
                        self._drop(kept)
                        continue
                    self._pending[:0] = kept  # the database went away: keep them, try again
                    await asyncio.sleep(RETRY_SECONDS)

    async def _gather(self, stopping: asyncio.Event) -> None:
        """Let the next batch gather: GATHER_SECONDS, and while it announces
        nothing, up to QUIET_GATHER_SECONDS. Cut short by a full batch, a
        waiter, a stop, or (the quiet part) a write that announces something."""

        def full() -> bool:
            return len(self._pending) >= MAX_BATCH or bool(self._waiters) or stopping.is_set()

        if full():
            return
        loop = asyncio.get_running_loop()
        quiet_until = loop.time() + QUIET_GATHER_SECONDS
        await asyncio.sleep(GATHER_SECONDS)
        while not self._urgent and not full():
            left = quiet_until - loop.time()
            if left <= 0:
                return
            self._wake.clear()
            await self._wake.sleep(left)

    async def drain(self, timeout: float) -> bool:
        """Wait until everything handed over is written; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _write(self, batch: list[PollWrite]) -> list[PollWrite]:
        """Write `batch`; returns the writes to keep and try again because the
        database became unavailable (none when all are recorded)."""
        now = self._clock.now()
        try:
            queued = await self._store.on_poll_thread(
                claims.record, self._store.writer, self._owner, batch, now
            )
        except Exception as error:
            if reason := unavailable(error):
                self._unavailable(len(batch), reason)
                return batch
            try:
                queued = await self._write_one_by_one(batch, error)
            except _CutShort as cut:  # some were recorded one by one before it went
                self._unavailable(len(cut.rest), cut.reason)
                self._recorded(batch[: len(batch) - len(cut.rest)], cut.queued)
                return cut.rest
        self._on_write_health(True)
        self._recorded(batch, queued)
        return []

    def _unavailable(self, count: int, reason: str) -> None:
        log.warning(
            "database unavailable while recording %d polls (%s); trying again in %.0fs",
            count,
            reason,
            RETRY_SECONDS,
        )
        self._on_write_health(False)

    def _recorded(self, writes: list[PollWrite], queued: int) -> None:
        if not writes:
            return
        self.batches += 1
        self.writes += len(writes)
        self._settle(writes)
        self._on_recorded(writes, queued)

    async def _write_one_by_one(self, batch: list[PollWrite], error: Exception) -> int:
        """A batch the database refused: find the writes it refuses and record
        each of those as a failed poll with the database's reason. Raises
        _CutShort with the writes not yet recorded if the database goes away
        meanwhile (those recorded must not be written twice: a transition
        would be)."""
        log.warning(
            "recording %d polls failed (%s); recording them one by one", len(batch), _why(error)
        )
        queued = 0
        now = self._clock.now()
        for index, write in enumerate(batch):
            try:
                queued += await self._record_alone(write, now)
            except Exception as gone:
                if reason := unavailable(gone):
                    raise _CutShort(batch[index:], queued, reason) from gone
                raise
        return queued

    async def _record_alone(self, write: PollWrite, now: datetime) -> int:
        """Record one write, or if the database refuses it, the failed poll it
        becomes; returns the notifications queued."""
        try:
            return await self._record_one(write, now)
        except Exception as refused:
            if unavailable(refused):
                raise
            return await self._record_refusal(write, refused)

    async def _record_one(self, write: PollWrite, now: datetime) -> int:
        return await asyncio.to_thread(claims.record, self._store.writer, self._owner, [write], now)

    async def _record_refusal(self, write: PollWrite, error: Exception) -> int:
        """Record a write the database refused as the job's failed poll, with
        the database's words as the reason; returns notifications queued."""
        reason = f"could not record the poll: {_why(error)}"
        log.error("job %s: %s", write.job_pk, reason)
        now = self._clock.now()
        if self.on_refused is not None:
            replacement = await self.on_refused(write, reason)
            if replacement is not None:
                try:
                    return await self._record_one(replacement, now)
                except Exception as again:
                    if unavailable(again):
                        raise
                    log.error(
                        "job %s: recording the failed poll failed: %s", write.job_pk, _why(again)
                    )
        retry = now + timedelta(seconds=FAILED_WRITE_RETRY_SECONDS)
        failed = PollWrite(write.job_pk, {"last_failure": reason, "next_poll_at": retry})
        try:
            await asyncio.to_thread(claims.record_failure, self._store.writer, self._owner, failed)
        except Exception as again:  # the disk is full, say: nothing more we can do now
            self._on_write_health(False)
            log.error("job %s: recording the failure failed too: %s", write.job_pk, _why(again))
        return 0

    def _settle(self, batch: Sequence[PollWrite]) -> None:
        for write in batch:
            waiter = self._waiters.pop(id(write), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _drop(self, batch: Sequence[PollWrite], when: str = "at shutdown") -> None:
        """Give up on `batch`: its jobs' leases run out and they are polled again."""
        log.warning("%d polls not recorded %s; they will be redone", len(batch), when)
        for write in batch:
            waiter = self._waiters.pop(id(write), None)
            if waiter is not None and not waiter.done():
                waiter.cancel()
        self._on_recorded(batch, 0)


class _CutShort(Exception):
    """The database went away while a refused batch was being recorded one by one."""

    def __init__(self, rest: list[PollWrite], queued: int, reason: str) -> None:
        super().__init__(reason)
        self.rest, self.queued, self.reason = rest, queued, reason


def _announces(write: PollWrite) -> bool:
    """Whether `write` leads to a notification or shows a change of state."""
    return write.transition is not None or bool(write.outbox) or bool(write.conditions)


def _why(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return redact(f"{type(cause).__name__}: {text}"[:300])
