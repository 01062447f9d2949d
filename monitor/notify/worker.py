"""The outbox worker: delivers queued notifications one URL at a time.

Rows are claimed with a lease, so a worker that dies mid-send leaves them to be
claimed again when the lease ends (at-least-once: a crash between the send and
the mark can repeat that one message; nothing is ever lost). A row is marked
sent only after Apprise confirmed it; a failure is retried with exponential
backoff until the notifier's `notify_retry_for` runs out, then the row is dead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from monitor.clock import Clock
from monitor.config import NotifierSettings
from monitor.notify.delivery import deliver, url_key
from monitor.store.records import NotificationRecord
from monitor.store.store import Store

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # longer than any one Apprise send is allowed to take
_IDLE_CHECK_SECONDS = 5.0  # look for due rows at least this often
_PARALLEL_SENDS = 8


class OutboxWorker:
    """Claims due notifications and delivers them until stopped."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        notifiers: Callable[[], Mapping[str, NotifierSettings]],
        owner: str,
        on_settled: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._on_settled = on_settled
        self._clock = clock
        self._notifiers = notifiers
        self._owner = owner
        self._wake = asyncio.Event()
        self._sends = asyncio.Semaphore(_PARALLEL_SENDS)

    def wake(self) -> None:
        """Something was queued: look now rather than at the next check."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                delivered = await self.drain_once()
            except Exception:  # the database may be away; the loop must survive
                log.exception("outbox: delivery round failed; retrying")
                delivered = 0
            if delivered:
                continue
            self._wake.clear()
            await _wait_any(self._wake, stopping, timeout=await self._idle_seconds())

    async def drain_once(self) -> int:
        """Deliver every notification due now; returns how many were tried."""
        now = self._clock.now()
        claimed = await asyncio.to_thread(
            self._store.claim_notifications,
            self._owner,
            now,
            now + timedelta(seconds=LEASE_SECONDS),
        )
        await asyncio.gather(*(self._send(row) for row in claimed))
        if claimed:
            self._on_settled()
        return len(claimed)

    async def _idle_seconds(self) -> float:
        due = await asyncio.to_thread(self._store.next_notification_due)
        if due is None:
            return _IDLE_CHECK_SECONDS
        wait = (due - self._clock.now()).total_seconds()
        return min(max(wait, 0.01), _IDLE_CHECK_SECONDS)

    async def _send(self, row: NotificationRecord) -> None:
        notifier = self._notifiers().get(row.notifier)
        url = _find_url(notifier, row.url_key)
        if notifier is None or url is None:
            reason = f"notifier '{row.notifier}' no longer has this URL"
            await asyncio.to_thread(self._store.mark_dead, row.id, self._owner, reason)
            log.error("notification %s to %s dropped: %s", row.dedupe_key, row.url_display, reason)
            return
        async with self._sends:
            result = await deliver(url, row.title, row.body, row.notify_type)
        if result.ok:
            await asyncio.to_thread(self._store.mark_sent, row.id, self._owner, self._clock.now())
            log.info(
                "delivered %s to %s (attempt %d)", row.dedupe_key, row.url_display, row.attempts + 1
            )
            return
        await self._retry_or_give_up(row, notifier, result.error or "delivery failed")

    async def _retry_or_give_up(
        self, row: NotificationRecord, notifier: NotifierSettings, error: str
    ) -> None:
        now = self._clock.now()
        attempts = row.attempts + 1
        retry = notifier.retry
        delay = min(retry.initial * retry.factor ** (attempts - 1), retry.max)
        give_up_at = row.created_at + timedelta(seconds=notifier.notify_retry_for)
        next_attempt = now + timedelta(seconds=delay)
        if next_attempt > give_up_at:
            await asyncio.to_thread(self._store.mark_dead, row.id, self._owner, error)
            log.error(
                "gave up on %s to %s after %d attempts: %s",
                row.dedupe_key,
                row.url_display,
                attempts,
                error,
            )
            return
        await asyncio.to_thread(self._store.mark_retry, row.id, self._owner, error, next_attempt)
        log.warning(
            "delivery of %s to %s failed (attempt %d): %s; retrying in %.1fs",
            row.dedupe_key,
            row.url_display,
            attempts,
            error,
            delay,
        )


def _find_url(notifier: NotifierSettings | None, key: str) -> str | None:
    if notifier is None:
        return None
    return next((url for url in notifier.urls if url_key(url) == key), None)


async def _wait_any(wake: asyncio.Event, stopping: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopping.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
