"""Waiting on one job without the daemon (`loadwatch wait`): the daemon's own
provider call, provider limits (limits.py) and backoff and ETA aiming
(observe.py, policy.py), with the job kept in memory instead of a database.

The loop ends when the job reaches a terminal state, or gives up: at the
deadline (the last poll is made at the deadline itself, so a job that ended
just before it still counts), or once the vendor has said `unreachable_after`
times in a row that the job or our credentials do not exist, which waiting
cannot fix.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.clock import Clock
from monitor.config import PollPolicy
from monitor.domain import State
from monitor.engine.limits import ProviderLimiter, ProviderPaused, within
from monitor.engine.observe import Observation, applied, observe_failure, observe_status
from monitor.providers.base import FailureKind, PollFailure, Provider, Throttled
from monitor.redact import redact, status_without_secrets
from monitor.store.records import JobRecord

log = logging.getLogger(__name__)

# Failures that another poll will not mend: the vendor knows no such job, or
# refuses our credentials. Network trouble and 5xx are waited out instead.
HOPELESS = frozenset({FailureKind.NOT_FOUND, FailureKind.AUTH, FailureKind.REJECTED})
THROTTLED_WITHOUT_LIMITER = 60.0

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class WaitResult:
    """How a wait ended: the job as last seen, and why we stopped early, if we did."""

    job: JobRecord
    gave_up: str | None = None  # None: the job reached a terminal state

    @property
    def finished(self) -> bool:
        return self.gave_up is None


def blank_job(provider: str, job_id: str, now: datetime) -> JobRecord:
    """A job nobody has polled yet, kept in memory."""
    return JobRecord(
        id=0,
        watch_id=0,
        watch="",
        provider=provider,
        job_id=job_id,
        state=State.UNKNOWN,
        raw_status=None,
        progress=None,
        processed=None,
        errors=None,
        total=None,
        message=None,
        children=[],
        details={},
        started_at=None,
        finished_at=None,
        first_seen_at=now,
        state_changed_at=None,
        progress_changed_at=None,
        terminal_at=None,
        last_poll_at=None,
        next_poll_at=now,
        polls=0,
        failed_polls=0,
        consecutive_failures=0,
        last_failure=None,
        backoff_step=0,
    )


class JobWaiter:
    """Polls one job until it ends; calls `on_poll(job)` after every answered poll."""

    def __init__(
        self,
        provider: Provider,
        limiter: ProviderLimiter | None,
        policy: PollPolicy,
        *,
        unreachable_after: int,
        clock: Clock,
        on_poll: Callable[[JobRecord], None] = lambda job: None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._provider = provider
        self._limiter = limiter
        self._policy = policy
        self._unreachable_after = unreachable_after
        self._clock = clock
        self._on_poll = on_poll
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def wait(self, job_id: str, timeout: float | None = None) -> WaitResult:
        """Poll `job_id` until it ends, or `timeout` seconds have passed."""
        start = self._clock.now()
        deadline = None if timeout is None else start + timedelta(seconds=timeout)
        job = blank_job(self._provider.name, job_id, start)
        while True:
            job, next_poll_at = await self._poll(job)
            if job.state.terminal:
                return WaitResult(job)
            if job.details.get("superseded_by"):
                return WaitResult(job, f"superseded by job {job.details['superseded_by']}")
            if job.consecutive_failures >= self._unreachable_after and _hopeless(job):
                return WaitResult(job, f"unreachable: {job.last_failure}")
            now = self._clock.now()
            if deadline is not None:
                if now >= deadline:
                    reason = f"unreachable: {job.last_failure}" if job.last_failure else "timeout"
                    return WaitResult(job, reason)
                next_poll_at = min(next_poll_at, deadline)
            await self._sleep(max(0.0, (next_poll_at - now).total_seconds()))

    async def _poll(self, job: JobRecord) -> tuple[JobRecord, datetime]:
        """One poll: the job after it, and when to poll next."""
        provider, now = self._provider, self._clock.now()
        try:
            async with within(self._limiter):
                status = await provider.poll(job.job_id)
        except ProviderPaused as paused:  # nothing was sent
            return job, now + timedelta(seconds=paused.seconds)
        except Throttled as throttled:  # not a failed poll (SPEC §3)
            return job, now + timedelta(seconds=self._pause(throttled))
        except PollFailure as failure:
            observation = self._failed(job, failure, now)
        except Exception as error:  # a provider bug is a failed poll, as in the daemon
            log.exception("provider %s crashed polling %s", provider.name, job.job_id)
            crash = PollFailure(FailureKind.MALFORMED, redact(f"provider error: {error!r}"))
            observation = self._failed(job, crash, now)
        else:
            observation = observe_status(
                job, status_without_secrets(status), now, self._policy, self._rng.random()
            )
        job = applied(job, observation)
        self._on_poll(job)
        return job, observation.next_poll_at or now

    def _failed(self, job: JobRecord, failure: PollFailure, now: datetime) -> Observation:
        observation = observe_failure(job, failure, now, self._policy, self._rng.random())
        observation.changes["details"] = {**job.details, "failure_kind": failure.kind.value}
        return observation

    def _pause(self, throttled: Throttled) -> float:
        if self._limiter is not None:
            return max(self._limiter.paused_for(), 0.0)
        if throttled.retry_after is not None:
            return throttled.retry_after
        return THROTTLED_WITHOUT_LIMITER


def _hopeless(job: JobRecord) -> bool:
    return job.details.get("failure_kind") in HOPELESS
