"""The figures the status page and the read API show, worked out from what the
store holds: how long a job has run, when it should end, how bad it looks, and
each record as plain JSON-ready data. Pure functions of (records, now)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from monitor.config import Config
from monitor.domain import State
from monitor.engine import policy
from monitor.engine.conditions import AUTO_MIN_RUNS, AUTO_RUNS, p90
from monitor.notify.formatting import format_duration
from monitor.store.views import (
    DeliveryView,
    JobSummary,
    JobView,
    RunView,
    TransitionView,
    WatchView,
)

# Worst first: trouble that holds now, then how each state ended or stands.
_STATE_RANK = {
    State.FAILED: 1,
    State.PARTIAL: 2,
    State.WAITING: 3,
    State.CANCELED: 4,
    State.UNKNOWN: 5,
    State.RUNNING: 6,
    State.PENDING: 7,
    State.SUCCEEDED: 8,
}
STATE_ORDER = sorted(State, key=lambda state: _STATE_RANK[state])


def severity(job: JobView | JobSummary) -> int:
    """0 for a job with an open condition (stalled, overdue, unreachable,
    waiting), then by state: failed 1 ... succeeded 8."""
    troubled = job.troubled if isinstance(job, JobSummary) else bool(job.conditions)
    return 0 if troubled else _STATE_RANK[job.state]


Ranked = TypeVar("Ranked", JobView, JobSummary)


def worst_first(jobs: Iterable[Ranked]) -> list[Ranked]:
    return sorted(jobs, key=lambda job: (severity(job), job.watch, job.id))


def state_counts(jobs: Iterable[JobView | JobSummary]) -> dict[str, int]:
    """Jobs by state, worst state first, states with none left out."""
    counted = Counter(job.state for job in jobs)
    return {state.value: counted[state] for state in STATE_ORDER if counted[state]}


def began(job: JobView) -> datetime:
    """When the job began: the provider's word if it gave one, else when we first saw it."""
    return job.started_at or job.first_seen_at


def ran_for(job: JobView, now: datetime) -> float:
    """Seconds the job has run (until it ended, for one that has)."""
    end = job.terminal_at or now
    return max((end - began(job)).total_seconds(), 0.0)


def estimated_end(job: JobView) -> datetime | None:
    """When a running job should end at the pace it has kept since it began
    (the same arithmetic that aims the next poll); None without progress."""
    if job.state.terminal or job.progress is None or not 0 < job.progress < 1:
        return None
    reading_at = job.progress_changed_at or job.last_poll_at
    if reading_at is None:
        return None
    return policy.estimated_end((began(job), 0.0), (reading_at, job.progress))


def learned_deadline(runs: Sequence[RunView]) -> float | None:
    """What `deadline: auto` learns from these runs (oldest first): the p90 of
    the latest AUTO_RUNS, once there are AUTO_MIN_RUNS; else None."""
    latest = [run.seconds for run in runs[-AUTO_RUNS:]]
    return p90(latest) if len(latest) >= AUTO_MIN_RUNS else None


def deadline_text(config: Config, watch: str) -> str:
    """The watch's `deadline` as the config would say it (run-time and removed
    watches follow `defaults`)."""
    settings = next((w for w in config.watches if w.name == watch), None)
    deadline = (settings or config.defaults).deadline
    if deadline.kind == "after" and deadline.seconds is not None:
        return duration_words(deadline.seconds)
    if deadline.kind == "time_of_day" and deadline.time_of_day is not None:
        return f"{deadline.time_of_day:%H:%M}"
    return deadline.kind


def duration_words(seconds: float) -> str:
    """`86400` as `1d`, `5400` as `90m`: one whole unit where there is one."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return format_duration(seconds)


def history_at(delivery: DeliveryView) -> datetime:
    """When a notification belongs in the history: when sent, else when queued."""
    return delivery.sent_at or delivery.created_at


def time_text(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def job_json(job: JobView, now: datetime) -> dict[str, Any]:
    """A job as the API shows it: `status --json`'s keys, and more."""
    holder = None  # the instance polling it right now, while its lease lasts
    if job.lease_owner and job.lease_until is not None and job.lease_until > now:
        holder = {"instance": job.lease_owner, "until": time_text(job.lease_until)}
    return {
        "id": job.id,
        "watch": job.watch,
        "provider": job.provider,
        "job": job.job_id,
        "state": job.state.value,
        "raw_status": job.raw_status,
        "progress": job.progress,
        "processed": job.processed,
        "errors": job.errors,
        "total": job.total,
        "message": job.message,
        "began": time_text(began(job)),
        "ended": time_text(job.terminal_at),
        "ran_seconds": round(ran_for(job, now), 3),
        "estimated_end": time_text(estimated_end(job)),
        "last_poll": time_text(job.last_poll_at),
        "next_poll": time_text(job.next_poll_at),
        "polls": job.polls,
        "failed_polls": job.failed_polls,
        "last_failure": job.last_failure,
        "conditions": [
            {"kind": c.kind, "since": time_text(c.opened_at), "reason": c.reason}
            for c in job.conditions
        ],
        "notifications": notification_counts(job.notifications),
        "held_by": holder,
        "polled_by": job.lease_owner,  # the instance that polled it last (or now)
        "retired": job.retired,
        "paused": job.paused_at is not None,
        "paused_at": time_text(job.paused_at),
    }


def notification_counts(counts: Mapping[str, int]) -> dict[str, int]:
    return {status: counts.get(status, 0) for status in ("sent", "pending", "dead")}


def transition_json(transition: TransitionView) -> dict[str, Any]:
    return {
        "at": time_text(transition.at),
        "from": transition.from_state,
        "to": transition.to_state,
        "raw_status": transition.raw_status,
        "progress": transition.progress,
        "message": transition.message,
    }


def delivery_json(delivery: DeliveryView) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "job_id": delivery.job_pk,
        "watch": delivery.watch,
        "event": delivery.event,
        "key": delivery.key,
        "notifier": delivery.notifier,
        "url": delivery.url,
        "title": delivery.title,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created": time_text(delivery.created_at),
        "sent": time_text(delivery.sent_at),
        "next_attempt": None
        if delivery.status != "pending"
        else time_text(delivery.next_attempt_at),
        "last_error": delivery.last_error,
    }


def run_json(run: RunView) -> dict[str, Any]:
    return {
        "job_id": run.job_pk,
        "job": run.job_id,
        "state": run.state.value,
        "began": time_text(run.began),
        "ended": time_text(run.ended),
        "seconds": round(run.seconds, 3),
    }


def watch_json(watch: WatchView) -> dict[str, Any]:
    return {
        "name": watch.name,
        "provider": watch.provider,
        "job": watch.job,
        "discover": watch.discover is not None,
        "source": watch.source,
        "active": watch.active,
        "created": time_text(watch.created_at),
        "jobs": {
            state.value: watch.states[state.value]
            for state in STATE_ORDER
            if watch.states.get(state.value)
        },
    }
