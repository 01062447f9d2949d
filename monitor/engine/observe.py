"""What a poll outcome means for a job: the row changes, the transition and the
events. Pure functions of (job, outcome, now); the poller does the I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.config import PollPolicy
from monitor.domain import Event, JobStatus, State
from monitor.engine.policy import backoff_delay, eta_delay
from monitor.providers.base import PollFailure
from monitor.store.records import JOB_FIELDS, JobRecord, TransitionRecord, job_with


@dataclass
class Observation:
    """The consequences of one poll."""

    changes: dict[str, Any]
    transition: TransitionRecord | None = None
    events: list[Event] = field(default_factory=list)
    next_poll_at: datetime | None = None


def observe_status(
    job: JobRecord, status: JobStatus, now: datetime, policy: PollPolicy, draw: float
) -> Observation:
    """A successful poll: record what the provider said and decide what it means."""
    if status.superseded_by is not None:
        return observe_superseded(job, status, now)
    state_changed = status.state != job.state
    progress_changed = status.progress is not None and status.progress != job.progress
    # Only what differs from the row: most polls learn nothing, and their
    # write (a batched schedule update) should carry nothing but the schedule.
    changes: dict[str, Any] = {
        "last_poll_at": now,
        "polls": job.polls + 1,
        "consecutive_failures": 0,
        "last_failure": None,
    }
    if state_changed:
        changes["state"] = status.state.value
    if status.raw_status != job.raw_status:
        changes["raw_status"] = status.raw_status
    if status.progress != job.progress:
        changes["progress"] = status.progress
    if status.processed != job.processed:
        changes["processed"] = status.processed
    if status.errors != job.errors:
        changes["errors"] = status.errors
    if status.total != job.total:
        changes["total"] = status.total
    if status.message != job.message:
        changes["message"] = status.message
    if status.details != job.details:
        changes["details"] = status.details
    if status.started_at is not None and status.started_at != job.started_at:
        changes["started_at"] = status.started_at
    if status.finished_at is not None and status.finished_at != job.finished_at:
        changes["finished_at"] = status.finished_at
    if list(status.children) != job.children:
        changes["children"] = list(status.children)
    if status.job_id and status.job_id != job.job_id:
        changes["job_id"] = status.job_id
    observation = Observation(changes)
    if state_changed:
        changes["state_changed_at"] = now
        observation.transition = TransitionRecord(
            from_state=job.state,
            to_state=status.state,
            raw_status=status.raw_status,
            progress=status.progress,
            message=status.message,
            at=now,
        )
        observation.events = _events_for(job.state, status.state)
    if progress_changed:
        changes["progress_changed_at"] = now

    if status.state.terminal:
        changes["terminal_at"] = now
        changes["next_poll_at"] = None
        return observation

    step = 0 if state_changed else job.backoff_step + 1
    changes["backoff_step"] = step
    delay = backoff_delay(policy, step, draw)
    if progress_changed and job.progress is not None and job.progress_changed_at is not None:
        previous = (job.progress_changed_at, job.progress)
        eta = eta_delay(policy, previous, (now, status.progress or 0.0))
        if eta is not None:
            delay = eta
    changes["next_poll_at"] = now + timedelta(seconds=delay)
    observation.next_poll_at = changes["next_poll_at"]
    return observation


def observe_failure(
    job: JobRecord, failure: PollFailure, now: datetime, policy: PollPolicy, draw: float
) -> Observation:
    """A failed poll: the job keeps its state; the failure is counted and the
    next poll backs off on the failure count, ending at `max`."""
    failures = job.consecutive_failures + 1
    changes: dict[str, Any] = {
        "last_poll_at": now,
        "polls": job.polls + 1,
        "failed_polls": job.failed_polls + 1,
        "consecutive_failures": failures,
        "last_failure": failure.reason,
    }
    if failure.raw_status is not None:
        changes["raw_status"] = failure.raw_status
    delay = backoff_delay(policy, failures - 1, draw)
    changes["next_poll_at"] = now + timedelta(seconds=delay)
    return Observation(changes, next_poll_at=changes["next_poll_at"])


def observe_superseded(job: JobRecord, status: JobStatus, now: datetime) -> Observation:
    """The job was replaced by a newer one (PROVIDERS.md, rocketchat): it keeps
    its last state, is marked superseded and is no longer polled. No event:
    the job did not end, it was abandoned for another one."""
    changes: dict[str, Any] = {
        "message": status.message or f"superseded by {status.superseded_by}",
        "details": {**job.details, "superseded_by": status.superseded_by},
        "last_poll_at": now,
        "polls": job.polls + 1,
        "consecutive_failures": 0,
        "last_failure": None,
        "next_poll_at": None,
    }
    return Observation(changes)


def applied(job: JobRecord, observation: Observation) -> JobRecord:
    """The job as it is after the observation's changes (for code that keeps a
    job in memory rather than in the database, such as `loadwatch wait`)."""
    values = dict(job.__dict__)
    for name, value in observation.changes.items():
        if name in JOB_FIELDS:
            values[name] = value
    if "state" in observation.changes:
        values["state"] = State(values["state"])
    if "children" in observation.changes:
        values["children"] = list(values["children"])
    return job_with(values)


def _events_for(before: State, after: State) -> list[Event]:
    if after.terminal:
        return [Event(after.value)]
    if after == State.RUNNING and before in (State.UNKNOWN, State.PENDING):
        return [Event.STARTED]
    return []
