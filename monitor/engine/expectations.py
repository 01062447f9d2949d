"""Expected runs (`expect:` on a discovery watch): the load that never
started. Each deadline needs a job discovered since the previous one; when a
deadline passes without, `missing` fires (Apprise failure), again every
`repeat`, until a job appears: that late job brings `recovered` and counts
for the missed deadline, so the next deadline needs a job of its own.

`judge` is a pure function of (state, discovery times, now); the sweep runs
it for every such watch every few seconds and writes the outcome with its
notifications in one transaction (store/expectations.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.clock import Clock
from monitor.config import WatchSettings
from monitor.domain import Event
from monitor.engine.poller import Wiring
from monitor.notify.messages import MessageContext
from monitor.notify.outbox import address_context
from monitor.store.database import unavailable
from monitor.store.expectations import ExpectState, forget_other_watches, judge_watch
from monitor.store.records import OutboxEntry, WatchRecord
from monitor.store.store import Store

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0  # how late a `missing` or `recovered` may be, at most
Next = Callable[[datetime], datetime]  # the first deadline strictly after a moment


def judge(
    state: ExpectState,
    discovered: Sequence[datetime],
    now: datetime,
    next_after: Next,
    repeat: float,
) -> tuple[ExpectState, list[tuple[Event, datetime, str]]]:
    """The state after `now`, and the events (event, the deadline it is about,
    reason) it brings. `discovered`: when jobs were first seen, oldest first."""
    events: list[tuple[Event, datetime, str]] = []
    times = [t for t in discovered if t > state.counted_after]
    if state.missing_since is not None and times:
        late, times = times[0], times[1:]
        events.append((Event.RECOVERED, state.missing_since, f"a new job was found at {_at(late)}"))
        state = replace(state, counted_after=late, missing_since=None, reminders=0)
    while now >= state.next_due_at:
        deadline = state.next_due_at
        if any(t <= deadline for t in times):
            times = [t for t in times if t > deadline]
            state = replace(state, counted_after=deadline)
        elif state.missing_since is None:
            reason = f"no new job since {_at(state.counted_after)}; one was due by {_at(deadline)}"
            events.append((Event.MISSING, deadline, reason))
            state = replace(state, missing_since=deadline, last_notified_at=now, reminders=0)
        state = replace(state, next_due_at=next_after(deadline))
    missed, notified = state.missing_since, state.last_notified_at
    if missed is not None and notified is not None and _reminder_due(notified, now, repeat):
        state = replace(state, last_notified_at=now, reminders=state.reminders + 1)
        events.append((Event.MISSING, missed, f"still no new job since {_at(state.counted_after)}"))
    return state, events


def _reminder_due(notified: datetime, now: datetime, repeat: float) -> bool:
    return repeat > 0 and now >= notified + timedelta(seconds=repeat)


class ExpectationSweep:
    """Judges every discovery watch with `expect:` until stopped."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        wiring: Callable[[], Wiring],
        paused: Callable[[], frozenset[str]],
        on_queued: Callable[[], None],
    ) -> None:
        self._store = store
        self._clock = clock
        self._wiring = wiring
        self._paused = paused
        self._on_queued = on_queued

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.check()
            except Exception as error:
                if reason := unavailable(error):
                    log.warning("expected runs: database unavailable (%s); retrying", reason)
                else:
                    log.exception("checking expected runs failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), CHECK_SECONDS)

    async def check(self) -> int:
        """One round over every watch that expects runs; returns notifications queued."""
        wiring, paused = self._wiring(), self._paused()
        expecting = {n: w for n, w in wiring.watches.items() if w.expect is not None}
        records = await asyncio.to_thread(self._store.active_watches) if expecting else []
        keep = [record.id for record in records if record.name in expecting]
        await asyncio.to_thread(forget_other_watches, self._store.engine, keep)
        queued = 0
        for record in records:
            if record.name in expecting and record.name not in paused:
                queued += await asyncio.to_thread(
                    self._judge_one, record, expecting[record.name], wiring
                )
        if queued:
            self._on_queued()
        return queued

    def _judge_one(self, record: WatchRecord, watch: WatchSettings, wiring: Wiring) -> int:
        assert watch.expect is not None
        expect, zone, now = watch.expect, wiring.zone, self._clock.now()

        def next_after(moment: datetime) -> datetime:
            return expect.next_after(moment, record.created_at, zone)

        def decide(
            stored: ExpectState | None, discovered: Sequence[datetime]
        ) -> tuple[ExpectState, list[OutboxEntry]]:
            state = stored
            if state is None or state.spec != expect.spec():  # new, or `expect:` changed
                began = state.counted_after if state else record.created_at
                state = ExpectState(expect.spec(), next_after(max(now, began)), began)
            state, events = judge(state, discovered, now, next_after, watch.repeat)
            return state, self._entries(record, watch, wiring, state, events)

        return judge_watch(self._store.engine, record.id, decide, now)

    def _entries(
        self,
        record: WatchRecord,
        watch: WatchSettings,
        wiring: Wiring,
        state: ExpectState,
        events: list[tuple[Event, datetime, str]],
    ) -> list[OutboxEntry]:
        provider = wiring.providers.get(watch.provider)
        entries: list[OutboxEntry] = []
        for event, deadline, reason in events:
            log.warning("watch %s: %s (%s)", watch.name, event.value, reason)
            if event not in watch.on:
                continue
            key = f"{watch.name}:missing@{_at(deadline)}"
            if event is Event.RECOVERED:
                key += ":recovered"
            elif state.reminders and state.missing_since == deadline:
                key += f":{state.reminders}"
            context = MessageContext(
                watch=watch.name,
                event=event.value,
                provider=watch.provider,
                provider_type=provider.type_name if provider else "",
                reason=reason,
                idempotency_key=key,
            )
            entries += address_context(
                context, key, notify=watch.notify, notifiers=wiring.notifiers
            )
        return entries


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
