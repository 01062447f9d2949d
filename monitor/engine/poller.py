"""Polling one claimed job: ask its provider (within the provider's limits),
work out what changed, judge the job's conditions, and hand the result to the
recorder, which writes it with other polls and gives the job's lease back.

Every claimed job ends in exactly one write: a poll's, a condition check's, or
(throttled, reloaded, crashed) just its next poll time.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.clock import Clock
from monitor.domain import Event
from monitor.engine.conditions import PollOutcome
from monitor.engine.keeper import ConditionKeeper, Judgement
from monitor.engine.limits import LimiterClosed, ProviderLimiter, ProviderPaused, within
from monitor.engine.observe import Observation, applied, observe_failure, observe_status
from monitor.engine.recorder import Recorder
from monitor.engine.wiring import Wiring
from monitor.notify.outbox import address
from monitor.providers.base import FailureKind, PollFailure, Provider, Throttled
from monitor.redact import redact
from monitor.store.conditions import HeldConditions
from monitor.store.database import unavailable
from monitor.store.records import SCHEDULE_COLUMNS, JobRecord, PollWrite, due_changes

log = logging.getLogger(__name__)

DATABASE_RETRY_SECONDS = 2.0  # a job whose poll could not reach the database is retried this soon
CRASH_RETRY_SECONDS = 60.0  # a poll that crashed (a bug) is tried again this much later
# A job claimed to be polled within this is polled, not just checked: it may
# start a few ms early, and a check due a moment before its poll is the poll's.
POLL_EARLY_SECONDS = 1.0


class Poller:
    """Polls and checks claimed jobs, for the dispatcher."""

    def __init__(
        self,
        clock: Clock,
        wiring: Callable[[], Wiring],
        keeper: ConditionKeeper,
        recorder: Recorder,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._wiring = wiring
        self._keeper = keeper
        self._recorder = recorder
        self._rng = rng or random.Random()
        # Counts and times each provider call (metrics); set by the app.
        self.measure_poll: Callable[[str], contextlib.AbstractContextManager[None]] = (
            lambda provider: contextlib.nullcontext()
        )

    async def run(self, job: JobRecord, held: HeldConditions | None) -> None:
        """Poll `job` when its poll is due, else judge its conditions; never raises."""
        try:
            soon = self._clock.now() + timedelta(seconds=POLL_EARLY_SECONDS)
            due = job.next_poll_at is not None and job.next_poll_at <= soon
            await (self._poll(job, held) if due else self._check(job, held))
        except Exception as error:
            if reason := unavailable(error):
                log.warning(
                    "database unavailable while polling %s/%s (%s); trying again in %.0fs",
                    job.watch,
                    job.job_id,
                    reason,
                    DATABASE_RETRY_SECONDS,
                )
                self._reschedule(job, DATABASE_RETRY_SECONDS)
            else:
                log.exception("polling %s/%s crashed", job.watch, job.job_id)
                self._reschedule(job, CRASH_RETRY_SECONDS)

    def _reschedule(self, job: JobRecord, seconds: float) -> None:
        self.later(job, self._clock.now() + timedelta(seconds=seconds))

    def later(self, job: JobRecord, when: datetime | None) -> None:
        """Give the job back unpolled, to be polled at `when` (None: not again)."""
        self._recorder.add(PollWrite(job.id, due_changes(job, {"next_poll_at": when})))

    async def _poll(self, job: JobRecord, held: HeldConditions | None) -> None:
        wiring = self._wiring()
        watch = wiring.watches.get(job.watch)
        provider = wiring.providers.get(job.provider)
        if watch is None or provider is None:
            # Another instance's watch, or one that left the config a moment ago.
            self._recorder.add(PollWrite(job.id, {}))
            return
        if job.state.terminal or job.details.get("superseded_by"):
            self.later(job, None)
            return
        limiter = wiring.limiters.get(provider.name)
        try:
            async with within(limiter):
                with self.measure_poll(provider.name):
                    status = await provider.poll(job.job_id)
        except ProviderPaused as paused:  # throttled: nothing was sent, nothing is recorded
            self._reschedule(job, paused.seconds)
            return
        except LimiterClosed:
            self.later(job, self._clock.now())  # the provider was reloaded: ask the new one
            return
        except Throttled as throttled:
            self.later(job, self._throttled(limiter, throttled))
            return
        except PollFailure as failure:
            outcome = PollOutcome(failure.kind)
            observation = observe_failure(
                job, failure, self._clock.now(), watch.poll, self._rng.random()
            )
            log.warning("poll of %s/%s failed: %s", job.watch, job.job_id, failure.reason)
        except Exception as error:  # a provider bug must not stop the daemon
            log.exception("provider %s crashed polling %s", provider.name, job.job_id)
            crash = PollFailure(FailureKind.MALFORMED, redact(f"provider error: {error!r}"))
            outcome = PollOutcome(crash.kind)
            observation = observe_failure(
                job, crash, self._clock.now(), watch.poll, self._rng.random()
            )
        else:
            outcome = PollOutcome()
            # Providers hand back statuses already made safe, secrets masked
            # included (providers/sanitize.py): nothing more to do here.
            observation = observe_status(
                job, status, self._clock.now(), watch.poll, self._rng.random()
            )
        await self._record(job, observation, provider, wiring, outcome, held)

    def _throttled(self, limiter: ProviderLimiter | None, throttled: Throttled) -> datetime:
        """Throttling is not a failed poll: nothing is recorded. The limiter has
        paused the whole provider; this job is asked again when the pause ends."""
        if limiter is not None:
            return limiter.resume_at()
        wait = throttled.retry_after if throttled.retry_after is not None else 60.0
        return self._clock.now() + timedelta(seconds=wait)

    async def _record(
        self,
        job: JobRecord,
        observation: Observation,
        provider: Provider,
        wiring: Wiring,
        outcome: PollOutcome,
        held: HeldConditions | None,
    ) -> None:
        updated = applied(job, observation)
        watch = wiring.watches[job.watch]
        outbox = address(
            updated,
            observation.events,
            provider_type=provider.type_name,
            notify=watch.notify,
            on=watch.on,
            notifiers=wiring.notifiers,
        )
        changes = _changed_only(job, observation.changes)
        write = PollWrite(job.id, changes, observation.transition, outbox)
        if observation.transition is not None:
            t = observation.transition
            log.info(
                "%s/%s: %s -> %s (%s)",
                job.watch,
                updated.job_id,
                t.from_state,
                t.to_state,
                t.raw_status,
            )
        judgement = await self._keeper.judge(updated, wiring, outcome, held)
        if judgement is not None:
            self._recorder.add(_judged(write, judgement, updated))
            return
        async with self._keeper.lock(job.provider):  # the provider's condition: see keeper.py
            judgement = await self._keeper.judge(updated, wiring, outcome)
            assert judgement is not None
            await self._recorder.commit(_judged(write, judgement, updated))

    async def refused(self, job: JobRecord, reason: str) -> PollWrite | None:
        """The database refused to record what a poll of `job` found: make it a
        failed poll with the database's `reason`, so the job backs off and goes
        `unreachable` like any job whose polls fail."""
        wiring = self._wiring()
        watch = wiring.watches.get(job.watch)
        if watch is None:
            return None
        failure = PollFailure(FailureKind.MALFORMED, reason)
        observation = observe_failure(
            job, failure, self._clock.now(), watch.poll, self._rng.random()
        )
        updated = applied(job, observation)
        judgement = await self._keeper.judge(updated, wiring, PollOutcome(failure.kind))
        assert judgement is not None
        write = PollWrite(job.id, _changed_only(job, observation.changes))
        return _judged(write, judgement, updated)

    async def _check(self, job: JobRecord, held: HeldConditions | None) -> None:
        """Judge the job's conditions between polls (a deadline, a reminder)."""
        wiring = self._wiring()
        if job.state.terminal or job.watch not in wiring.watches:
            self._recorder.add(PollWrite(job.id, due_changes(job, {"next_check_at": None})))
            return
        judgement = await self._keeper.judge(job, wiring, held=held)
        if judgement is not None:
            self._recorder.add(_checked(job, judgement))
            return
        async with self._keeper.lock(job.provider):
            judgement = await self._keeper.judge(job, wiring)
            assert judgement is not None
            await self._recorder.commit(_checked(job, judgement))


def _judged(write: PollWrite, judgement: Judgement, job: JobRecord) -> PollWrite:
    """The poll's write with its judgement; `job` is as the poll left it. A
    job that ended says so in its own message: the conditions its end clears
    send no `recovered` besides (one message, not two, for the same moment)."""
    if job.state.terminal and write.transition is not None:
        judgement.write.outbox = [
            (pk, entry)
            for pk, entry in judgement.write.outbox
            if not (pk == job.id and entry.event == Event.RECOVERED.value)
        ]
    write.conditions = judgement.write or None
    next_check = None if job.state.terminal else judgement.next_check_at
    write.job_changes = due_changes(job, {**write.job_changes, "next_check_at": next_check})
    return write


def _checked(job: JobRecord, judgement: Judgement) -> PollWrite:
    changes = due_changes(job, {"next_check_at": judgement.next_check_at})
    return PollWrite(job.id, changes, conditions=judgement.write or None)


def _changed_only(job: JobRecord, changes: dict[str, object]) -> dict[str, object]:
    """`changes` without the values the row already has (the schedule and
    counters always go): a poll that learned nothing then writes as little as
    it can, in a batch."""
    kept: dict[str, object] = {}
    current = job.__dict__
    for name, value in changes.items():
        if name in SCHEDULE_COLUMNS:
            kept[name] = value
        elif name == "state":
            if value != job.state.value:
                kept[name] = value
        elif current.get(name, _MISSING) != value:
            kept[name] = value
    return kept


_MISSING = object()
