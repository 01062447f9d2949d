"""The outbox worker: claims due notifications and delivers them, each URL on
its own.

Rows are claimed with a lease, so a worker that dies mid-send leaves them to
be claimed again when the lease ends: nothing is lost, and a crash between a
send and its mark can repeat that one message (at-least-once in that window
only). A row is marked sent only after Apprise confirmed it; a failure is
retried with exponential backoff until the notifier's `notify_retry_for` runs
out, then the row is dead, which the log, `history` and `status` all say.

Deliveries run side by side, so a slow or failing URL neither delays nor
repeats another URL's message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError

from monitor.aio import Wakeup, woken_by
from monitor.backoff import grown
from monitor.clock import Clock
from monitor.config import NotifierSettings, RetryPolicy
from monitor.notify import halt
from monitor.notify.delivery import SEND_TIMEOUT_SECONDS, deliver, url_key
from monitor.notify.formatting import format_duration
from monitor.notify.grouping import Delivery, group_window, plan_deliveries
from monitor.notify.silencing import Silencer
from monitor.store.database import is_connection_loss, unavailable
from monitor.store.records import NotificationRecord
from monitor.store.store import Store
from monitor.store.write_health import write_health

log = logging.getLogger(__name__)

# A claim must outlast the slowest send, or a slow send could be claimed again.
LEASE_SECONDS = 2 * SEND_TIMEOUT_SECONDS
PARALLEL_DELIVERIES = 16  # claimed only as fast as they can start: no claim waits out its lease
_IDLE_CHECK_SECONDS = 5.0  # look for due rows at least this often
_STOP_GRACE_SECONDS = 4.0  # deliveries under way get this long at shutdown
# For rows whose notifier left the config: the defaults a notifier would have.
_DEFAULT_RETRY_FOR: float = NotifierSettings.model_fields["notify_retry_for"].default


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
        self._clock = clock
        self._notifiers = notifiers
        self._owner = owner
        self._on_settled = on_settled
        self._lease = halt.lease_seconds(LEASE_SECONDS)
        self._wake = Wakeup()
        self._deliveries: dict[asyncio.Task[bool], Delivery] = {}
        self._sending: set[int] = set()  # row ids whose send has begun
        self._full = False  # the last round claimed as many rows as it had room for
        # Holds back or silences claimed rows (notify/silencing.py); set by the app.
        self.silencer: Silencer | None = None

    def wake(self) -> None:
        """Something was queued (its transaction committed): look now rather
        than at the next check."""
        halt.reached("after-commit")
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        with woken_by(stopping, self._wake):
            while not stopping.is_set():
                self._wake.clear()
                try:
                    _, idle = await self._start_due()
                except Exception as error:  # the database may be away; the loop must survive
                    self._report_write_failure(error)
                    if reason := unavailable(error):
                        log.warning("outbox: database unavailable (%s); retrying", reason)
                    else:
                        log.exception("outbox: delivery round failed; retrying")
                    idle = _IDLE_CHECK_SECONDS
                if idle:
                    await self._wake.sleep(idle)
        await self._finish()

    async def drain_once(self) -> int:
        """Deliver everything due now and wait for it; returns how many rows
        were tried. For tests and tools: `run` does this continuously."""
        started, _ = await self._start_due()
        await asyncio.gather(*self._deliveries)
        return started

    async def _start_due(self) -> tuple[int, float]:
        """Claim what can start sending now and start it. Returns the rows
        started (claimed and not held back or silenced), and how long the loop
        may sleep before it looks again (a wake-up ends it sooner)."""
        room = PARALLEL_DELIVERIES - len(self._deliveries)
        if room <= 0 or halt.armed("after-commit"):
            return 0, _IDLE_CHECK_SECONDS  # no room: the round that filled it left `_full` set
        notifiers = self._notifiers()
        now = self._clock.now()
        # A delivery still under way may have marked its retry already, and the
        # retry may be due: such rows are claimed once that delivery has ended.
        busy = {row_id for delivery in self._deliveries.values() for row_id in delivery.ids}
        claimed, free, due = await asyncio.to_thread(
            self._claim_round, now, room, group_window(notifiers), busy
        )
        if claimed:
            halt.reached("after-claim")
        if len(free) < claimed:
            self._on_settled()  # held back or silenced: their fate is written too
        for delivery in plan_deliveries(free, notifiers):
            task = asyncio.create_task(self._deliver(delivery), name=f"deliver {delivery.key}")
            self._deliveries[task] = delivery
            task.add_done_callback(self._delivered)
        # A claim that filled the room may have left more rows due: look again
        # at once, or, with no room left, when a delivery ends.
        self._full = claimed >= room
        if self._full:
            room_left = len(self._deliveries) < PARALLEL_DELIVERIES
            return len(free), 0.0 if room_left else _IDLE_CHECK_SECONDS
        if due is None:
            return len(free), _IDLE_CHECK_SECONDS
        wait = (due - self._clock.now()).total_seconds()
        return len(free), min(max(wait, 0.01), _IDLE_CHECK_SECONDS)

    def _claim_round(
        self, now: datetime, room: int, windows: dict[str, float], busy: set[int]
    ) -> tuple[int, list[NotificationRecord], datetime | None]:
        """One round in the worker thread: claim, screen the claimed rows
        (silences, quiet windows), and when the claim left room, when the
        next row falls due. Returns (rows claimed, rows free to go, that
        moment or None). One thread hop a round instead of three."""
        fresh = self._store.claim_notifications(
            self._owner, now, now + timedelta(seconds=self._lease), room, windows, busy
        )
        free = fresh
        if self.silencer is not None and fresh:
            free = self.silencer.screen(fresh, now, self._owner)
        due = None if len(fresh) >= room else self._store.next_notification_due()
        return len(fresh), free, due

    def _report_write_failure(self, error: BaseException) -> None:
        """Tell the write-health tracker (/healthz, database metric) that an
        outbox write failed for a reason other than a lost connection."""
        if isinstance(error, DBAPIError) and not is_connection_loss(error):
            write_health(self._store.engine).failed(error)

    def _delivered(self, task: asyncio.Task[bool]) -> None:
        delivery = self._deliveries.pop(task)
        self._sending.difference_update(delivery.ids)
        if not task.cancelled() and task.exception() is not None:
            self._report_write_failure(task.exception())  # type: ignore[arg-type]
            log.error(
                "outbox: delivery of %s failed unexpectedly; it is retried after its lease",
                delivery.label,
                exc_info=task.exception(),
            )
        # Look again if the last round found more than there was room for, if
        # a retry was marked (it may be due before the loop's next look, and
        # its row was held back while this delivery ran), or if it failed
        # oddly. A row queued meanwhile wakes the loop itself (`wake`).
        if self._full or task.cancelled() or task.exception() is not None or task.result():
            self._wake.set()
        self._on_settled()

    async def _deliver(self, delivery: Delivery) -> bool:
        """Send one delivery and mark its rows; True when a retry was marked."""
        notifier = self._notifiers().get(delivery.notifier)
        url = _find_url(notifier, delivery.url_key)
        if url is None:
            error = f"this URL is no longer in notifier '{delivery.notifier}' of the config"
            return await self._retry_or_give_up(delivery, notifier, error)
        self._sending.update(delivery.ids)
        result = await deliver(
            url, delivery.title, delivery.body, delivery.notify_type, key=delivery.key
        )
        if not result.ok:
            error = result.error or "delivery failed"
            return await self._retry_or_give_up(delivery, notifier, error)
        halt.reached("after-send")
        await asyncio.to_thread(self._store.mark_sent, delivery.ids, self._clock.now())
        attempt = max(row.attempts for row in delivery.rows) + 1
        log.info("delivered %s to %s (attempt %d)", delivery.label, delivery.url_display, attempt)
        return False

    async def _retry_or_give_up(
        self, delivery: Delivery, notifier: NotifierSettings | None, error: str
    ) -> bool:
        """Retry after the notifier's backoff; give up on the rows whose
        `notify_retry_for` would be over by then. True when a retry was marked."""
        retry = notifier.retry if notifier is not None else RetryPolicy()
        retry_for = notifier.notify_retry_for if notifier is not None else _DEFAULT_RETRY_FOR
        now = self._clock.now()
        attempts = max(row.attempts for row in delivery.rows) + 1
        delay = grown(retry.initial, retry.factor, attempts - 1, retry.max)
        next_attempt = now + timedelta(seconds=delay)
        expired = [
            row.id
            for row in delivery.rows
            if next_attempt > row.created_at + timedelta(seconds=retry_for)
        ]
        alive = [row.id for row in delivery.rows if row.id not in expired]
        if expired:
            reason = (
                f"gave up after {attempts} attempts in {format_duration(retry_for)}"
                f" (notify_retry_for): {error}"
            )
            await asyncio.to_thread(self._store.mark_dead, expired, self._owner, reason)
            log.error("%s to %s is dead: %s", delivery.label, delivery.url_display, reason)
        if alive:
            await asyncio.to_thread(self._store.mark_retry, alive, self._owner, error, next_attempt)
            log.warning(
                "delivery of %s to %s failed (attempt %d): %s; retrying in %s",
                delivery.label, delivery.url_display, attempts, error, format_duration(delay),
            )  # fmt: skip
        return bool(alive)

    async def _finish(self) -> None:
        """At shutdown: let deliveries under way finish for a moment, then hand
        back the claims of those that never began sending."""
        if not self._deliveries:
            return
        await asyncio.wait(list(self._deliveries), timeout=_STOP_GRACE_SECONDS)
        unsent = [
            row_id
            for delivery in self._deliveries.values()
            for row_id in delivery.ids
            if row_id not in self._sending
        ]
        for task in list(self._deliveries):
            task.cancel()
        if unsent:
            await asyncio.to_thread(self._store.release_notifications, unsent, self._owner)


def _find_url(notifier: NotifierSettings | None, key: str) -> str | None:
    if notifier is None:
        return None
    return next((url for url in notifier.urls if url_key(url) == key), None)
