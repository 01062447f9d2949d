"""Polling one job: ask its provider (within the provider's limits), work out
what changed, judge the job's conditions, commit it all in one transaction
(job row, transition, conditions, outbox), and say when to poll next."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from monitor.clock import Clock
from monitor.config import NotifierSettings, WatchSettings
from monitor.domain import JobStatus, State
from monitor.engine.conditions import PollOutcome, local_zone
from monitor.engine.limits import LimiterClosed, ProviderLimiter, ProviderPaused, within
from monitor.engine.observe import Observation, observe_failure, observe_status
from monitor.notify.outbox import address
from monitor.providers.base import FailureKind, PollFailure, Provider, Throttled
from monitor.redact import redact
from monitor.store.database import unavailable
from monitor.store.records import JobRecord, PollWrite
from monitor.store.store import Store

if TYPE_CHECKING:
    from monitor.engine.keeper import ConditionKeeper

log = logging.getLogger(__name__)

DATABASE_RETRY_SECONDS = 2.0  # a poll that could not reach the database is retried this soon


@dataclasses.dataclass
class Wiring:
    """What the poller needs from the running configuration; swapped whole on reload."""

    providers: Mapping[str, Provider]
    watches: Mapping[str, WatchSettings]
    notifiers: Mapping[str, NotifierSettings]
    # Each provider's shared request budget (engine/limits.py), by provider name.
    limiters: Mapping[str, ProviderLimiter] = dataclasses.field(default_factory=dict)
    zone: tzinfo = dataclasses.field(default_factory=local_zone)  # for `deadline: "06:00"`


class Poller:
    """Polls jobs by database id, for the scheduler."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        wiring: Callable[[], Wiring],
        on_queued: Callable[[], None],
        on_commit: Callable[[], None] = lambda: None,
        rng: random.Random | None = None,
        keeper: ConditionKeeper | None = None,
    ) -> None:
        self._store = store
        self._keeper = keeper
        self._clock = clock
        self._wiring = wiring
        self._on_queued = on_queued
        self._on_commit = on_commit
        self._rng = rng or random.Random()
        # Counts and times each provider call (metrics); set by the app.
        self.measure_poll: Callable[[str], contextlib.AbstractContextManager[None]] = (
            lambda provider: contextlib.nullcontext()
        )

    async def poll(self, job_pk: int) -> datetime | None:
        """Poll one job; returns when to poll it next (None: stop polling it)."""
        try:
            return await self._poll(job_pk)
        except DBAPIError as error:
            # The database went away (a PostgreSQL restart, say). Nothing of
            # this poll was committed; the provider still knows the job's
            # state, so the next poll records what this one saw.
            log.warning(
                "database unavailable while polling job %s (%s); trying again in %.0fs",
                job_pk,
                unavailable(error),
                DATABASE_RETRY_SECONDS,
            )
            return self._clock.now() + timedelta(seconds=DATABASE_RETRY_SECONDS)

    async def _poll(self, job_pk: int) -> datetime | None:
        job = await asyncio.to_thread(self._store.get_job, job_pk)
        if job is None or job.state.terminal or job.details.get("superseded_by"):
            return None  # over, or replaced by a newer job: nothing more to learn
        if job.retired_at is not None:
            return None  # its watch names another job now
        wiring = self._wiring()
        watch = wiring.watches.get(job.watch)
        provider = wiring.providers.get(job.provider)
        if watch is None or provider is None:
            return None  # the watch or its provider left the config
        limiter = wiring.limiters.get(provider.name)
        try:
            async with within(limiter):
                with self.measure_poll(provider.name):
                    status = await provider.poll(job.job_id)
        except ProviderPaused as paused:  # throttled: nothing was sent, nothing is recorded
            return self._clock.now() + timedelta(seconds=paused.seconds)
        except LimiterClosed:
            return self._clock.now()  # the provider was reloaded: ask the new one
        except Throttled as throttled:
            return self._throttled(limiter, throttled)
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
            observation = observe_status(
                job, _without_secrets(status), self._clock.now(), watch.poll, self._rng.random()
            )
        await self._commit(job, observation, watch, provider, wiring, outcome)
        return observation.next_poll_at

    def _throttled(self, limiter: ProviderLimiter | None, throttled: Throttled) -> datetime:
        """Throttling is not a failed poll: nothing is recorded. The limiter has
        paused the whole provider; this job is asked again when the pause ends."""
        self._on_commit()  # nothing to commit, but waiters may want to know
        if limiter is not None:
            return limiter.resume_at()
        wait = throttled.retry_after if throttled.retry_after is not None else 60.0
        return self._clock.now() + timedelta(seconds=wait)

    async def _commit(
        self,
        job: JobRecord,
        observation: Observation,
        watch: WatchSettings,
        provider: Provider,
        wiring: Wiring,
        outcome: PollOutcome,
    ) -> None:
        updated = _apply(job, observation)
        outbox = address(
            updated,
            observation.events,
            provider_type=provider.type_name,
            notify=watch.notify,
            on=watch.on,
            notifiers=wiring.notifiers,
        )
        write = PollWrite(observation.changes, observation.transition, outbox)
        now = self._clock.now()
        if self._keeper is None:
            queued = await asyncio.to_thread(self._store.save_poll, job.id, write, now)
        else:
            async with self._keeper.lock(job.provider):  # see keeper.py
                judgement = await self._keeper.judge(updated, wiring, outcome)
                write.conditions = judgement.write
                queued = await asyncio.to_thread(self._store.save_poll, job.id, write, now)
            self._keeper.judged(job.id, judgement.next_check_at)
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
        if queued:
            self._on_queued()
        self._on_commit()


def _apply(job: JobRecord, observation: Observation) -> JobRecord:
    """The job as it is after the observation's changes."""
    fields = {name for name in JobRecord.__dataclass_fields__}
    changes = {k: v for k, v in observation.changes.items() if k in fields}
    if "state" in changes:
        changes["state"] = State(changes["state"])
    if "children" in changes:
        changes["children"] = list(changes["children"])
    return dataclasses.replace(job, **changes)


def _without_secrets(status: JobStatus) -> JobStatus:
    """The status with secrets masked in the vendor's own text, which may echo
    a request back (nothing a provider says is stored unredacted)."""
    return dataclasses.replace(
        status,
        raw_status=redact(status.raw_status),
        message=redact(status.message) if status.message else status.message,
        children=tuple(redact(child) for child in status.children),
        details={k: redact(v) if isinstance(v, str) else v for k, v in status.details.items()},
    )
