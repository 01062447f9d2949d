"""Keeping conditions: after each poll, and between polls when one falls due,
judge a job's conditions (engine/conditions.py) and turn the verdict into
condition rows and notifications, written in one transaction.

Refused credentials are kept once per provider: the first job to reach
`unreachable_after` opens the provider's condition, whose one notice names
every job of the provider (per notifier: the jobs whose watches notify it);
the provider's other jobs join it silently, and the first good poll of any of
them clears it with one `recovered`.

Judgements that involve the provider's condition take turns (one lock per
provider) and read the conditions afresh, so two jobs never open it twice in
one instance; every other judgement works from the conditions read with its
job's claim and takes no lock.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.clock import Clock
from monitor.config import WatchSettings
from monitor.domain import Event
from monitor.engine.conditions import (
    AUTO_RUNS,
    PollOutcome,
    Verdict,
    due_by,
    evaluate,
)
from monitor.engine.wiring import Wiring
from monitor.notify.messages import MessageContext
from monitor.notify.outbox import address_context, message_context
from monitor.store.conditions import ConditionStore, HeldConditions
from monitor.store.records import ConditionWrite, JobRecord, NewCondition, OutboxEntry
from monitor.store.store import Store

# `deadline: auto` reads a watch's past runs at most this often (and again once
# one of its jobs ends here): they change when a run ends, not with each poll.
PAST_RUNS_SECONDS = 60.0


@dataclass
class Judgement:
    """What to write for a job's conditions, and when to judge it again."""

    write: ConditionWrite
    next_check_at: datetime | None


class ConditionKeeper:
    """Judges jobs' conditions for the poller (after a poll) and the sweep (between polls)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self.conditions = ConditionStore(store.engine)
        self._locks: dict[str, asyncio.Lock] = {}
        self._past_runs: dict[int, tuple[float, list[float]]] = {}  # watch id -> (read at, runs)

    def lock(self, provider: str) -> asyncio.Lock:
        """Held while a job of `provider` is judged and its judgement written."""
        return self._locks.setdefault(provider, asyncio.Lock())

    async def judge(
        self,
        job: JobRecord,
        wiring: Wiring,
        poll: PollOutcome | None = None,
        held: HeldConditions | None = None,
    ) -> Judgement | None:
        """The judgement for `job` as it is now (after the poll being recorded,
        if any). With `held` (read at the job's claim) it needs no reads, and
        returns None when the provider's condition is involved: judge again
        without `held`, holding `lock(job.provider)` until the write commits."""
        watch = wiring.watches.get(job.watch)
        provider = wiring.providers.get(job.provider)
        if watch is None or provider is None:
            return Judgement(ConditionWrite(), None)
        now = self._clock.now()
        fresh = held is None
        if held is None:
            held = await asyncio.to_thread(self.conditions.held, job.id, job.provider)
        past = await self._past_runs_for(job, watch) if watch.deadline.kind == "auto" else ()
        due = (
            None
            if job.state.terminal
            else due_by(job, watch.deadline, watch.deadline_fallback, wiring.zone, past)
        )
        verdict = evaluate(job, held.held, held.notices, watch, now, due=due, poll=poll)
        involved = held.provider_held is not None or any(o.credentials for o in verdict.openings)
        if involved and not fresh:
            return None
        notices = _Notices(job, watch, wiring, provider.type_name)
        write = notices.for_verdict(verdict)
        next_check = verdict.next_check_at
        if involved:
            next_check = await self._provider_part(job, verdict, held, poll, write, notices, now)
        return Judgement(write, next_check)

    async def _past_runs_for(self, job: JobRecord, watch: WatchSettings) -> list[float]:
        """For `deadline: auto`: the durations of the watch's latest runs."""
        if job.state.terminal:  # its run is one more to learn from (it has no deadline left)
            self._past_runs.pop(job.watch_id, None)
            return []
        return await self._runs_of(job.watch_id)

    async def _runs_of(self, watch_id: int) -> list[float]:
        """The watch's latest run durations, read again once PAST_RUNS_SECONDS old."""
        now = self._clock.monotonic()
        read = self._past_runs.get(watch_id)
        if read is not None and now - read[0] < PAST_RUNS_SECONDS:
            return read[1]
        runs = await asyncio.to_thread(self.conditions.run_durations, watch_id, AUTO_RUNS)
        self._past_runs[watch_id] = (now, runs)
        return runs

    async def _provider_part(
        self,
        job: JobRecord,
        verdict: Verdict,
        held: HeldConditions,
        poll: PollOutcome | None,
        write: ConditionWrite,
        notices: _Notices,
        now: datetime,
    ) -> datetime | None:
        """Open, remind or clear the provider's credentials condition; returns
        the job's next check, moved up to the provider's next reminder."""
        name, event = job.provider, Event.UNREACHABLE
        ours = held.provider_held
        opening = next((o for o in verdict.openings if o.credentials), None)
        repeat = notices.provider_repeat()
        if opening is not None and ours is not None:
            write.opened.append(
                NewCondition(event, opening.reason, opening.sequence, job.id, parent_id=ours.id)
            )
        elif opening is not None:
            sequence = held.provider_notices.last.get(event, 0) + 1
            reason = job.last_failure or opening.reason  # the provider's words, not one job's count
            write.opened.append(NewCondition(event, reason, sequence, provider=name))
            write.opened.append(
                NewCondition(event, opening.reason, opening.sequence, job.id, parent_in_write=True)
            )
            affected = await self._provider_jobs(job)
            key = f"provider:{name}:auth:{sequence}"
            write.outbox += notices.for_provider(event, reason, key, affected)
            ours = None  # opened now: the next reminder is `repeat` from now
        elif ours is not None and poll is not None and poll.failure is None:
            write.cleared.append(ours.id)  # credentials accepted again: one `recovered`
            affected = await self._provider_jobs(job)
            key = f"provider:{name}:recovered:{held.provider_notices.recoveries + 1}"
            reason = f"credentials accepted again (was: {ours.reason})"
            write.outbox += notices.for_provider(Event.RECOVERED, reason, key, affected)
            return verdict.next_check_at
        elif ours is not None and repeat > 0 and now >= ours.last_notified_at + _s(repeat):
            number = ours.reminders + 1
            write.reminded.append((ours.id, number))
            affected = await self._provider_jobs(job)
            key = f"provider:{name}:auth:{ours.sequence + number}"
            write.outbox += notices.for_provider(event, ours.reason or "", key, affected)
            ours = None
        if repeat <= 0:
            return verdict.next_check_at
        reminder = (ours.last_notified_at if ours is not None else now) + _s(repeat)
        return min(filter(None, [verdict.next_check_at, reminder]))

    async def _provider_jobs(self, job: JobRecord) -> list[JobRecord]:
        """Every job of the provider still watched, with `job` as it is now."""
        jobs = await asyncio.to_thread(self._store.schedulable_jobs)
        found = [j for j in jobs if j.provider == job.provider and j.id != job.id]
        return sorted([job, *found], key=lambda j: (j.watch, j.job_id))


class _Notices:
    """Wording one job's condition notices into outbox rows."""

    def __init__(self, job: JobRecord, watch: WatchSettings, wiring: Wiring, type_name: str):
        self.job = job
        self.watch = watch
        self.wiring = wiring
        self.type_name = type_name

    def for_verdict(self, verdict: Verdict) -> ConditionWrite:
        write = ConditionWrite()
        for clearing in verdict.clearings:
            write.cleared.append(clearing.condition.id)
            if clearing.recovered is not None:
                kind = clearing.condition.kind.value
                self._notice(write, Event.RECOVERED, f"no longer {kind}", clearing.recovered)
        for reminder in verdict.reminders:
            write.reminded.append((reminder.condition.id, reminder.number))
            reason = f"{reminder.condition.reason} (reminder {reminder.number})"
            self._notice(write, reminder.condition.kind, reason, reminder.sequence)
        for opening in verdict.openings:
            if opening.credentials:
                continue  # the provider's condition announces it
            write.opened.append(
                NewCondition(opening.kind, opening.reason, opening.sequence, self.job.id)
            )
            self._notice(write, opening.kind, opening.reason, opening.sequence)
        return write

    def _notice(self, write: ConditionWrite, event: Event, reason: str, occurrence: int) -> None:
        """Notices are numbered (`watch/job:stalled:2`): the message shows the
        same key the outbox dedupes on."""
        if event not in self.watch.on:
            return
        context = message_context(self.job, event, self.type_name, reason)
        key = f"{context.idempotency_key}:{occurrence}"
        context = dataclasses.replace(context, idempotency_key=key)
        entries = address_context(
            context, key, notify=self.watch.notify, notifiers=self.wiring.notifiers
        )
        write.outbox += [(self.job.id, entry) for entry in entries]

    def for_provider(
        self, event: Event, reason: str, key: str, affected: list[JobRecord]
    ) -> list[tuple[int | None, OutboxEntry]]:
        """One notice per notifier naming the affected jobs whose watches notify it."""
        groups: dict[str, list[JobRecord]] = {}
        for job in affected:
            watch = self.wiring.watches.get(job.watch)
            if watch is None or event not in watch.on:
                continue
            for name in dict.fromkeys(watch.notify):
                groups.setdefault(name, []).append(job)
        rows: list[tuple[int | None, OutboxEntry]] = []
        for name, jobs in groups.items():
            context = MessageContext(
                watch=f"provider {self.job.provider}",
                event=event.value,
                provider=self.job.provider,
                provider_type=self.type_name,
                reason=reason,
                jobs=[message_context(job, event, self.type_name, reason) for job in jobs],
                idempotency_key=key,
            )
            entries = address_context(context, key, notify=[name], notifiers=self.wiring.notifiers)
            rows += [(None, entry) for entry in entries]
        return rows

    def provider_repeat(self) -> float:
        """The provider's reminder interval: the shortest `repeat` of its watches."""
        repeats = [
            watch.repeat
            for watch in self.wiring.watches.values()
            if watch.provider == self.job.provider and watch.repeat > 0
        ]
        return min(repeats, default=0.0)


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
