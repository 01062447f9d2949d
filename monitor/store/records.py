"""Plain records the store hands out: read once, used without a session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.domain import Event, State


@dataclass(frozen=True)
class WatchRecord:
    id: int
    name: str
    provider: str
    job: str | None
    discover: dict[str, Any] | None
    source: str
    settings: dict[str, Any] | None
    active: bool
    created_at: datetime  # when the watch began (discovery lists jobs created since)


@dataclass(frozen=True)
class JobRecord:
    """A tracked job as the database has it, with its watch's name and provider."""

    id: int
    watch_id: int
    watch: str
    provider: str
    job_id: str
    state: State
    raw_status: str | None
    progress: float | None
    processed: int | None
    errors: int | None
    total: int | None
    message: str | None
    children: list[str]
    details: dict[str, Any]
    started_at: datetime | None
    finished_at: datetime | None
    first_seen_at: datetime
    state_changed_at: datetime | None
    progress_changed_at: datetime | None
    terminal_at: datetime | None
    last_poll_at: datetime | None
    next_poll_at: datetime | None
    polls: int
    failed_polls: int
    consecutive_failures: int
    last_failure: str | None
    backoff_step: int
    retired_at: datetime | None = None  # its watch no longer names it: not polled
    next_check_at: datetime | None = None  # when its conditions are judged without a poll
    due_at: datetime | None = None  # the sooner of next_poll_at and next_check_at
    lease_owner: str | None = None  # the instance polling it now, or that polled it last
    lease_until: datetime | None = None


def due_changes(job: JobRecord, changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with `due_at`: the sooner of the job's next poll and next
    check once `changes` apply (what claims look for)."""
    poll = changes.get("next_poll_at", job.next_poll_at)
    check = changes.get("next_check_at", job.next_check_at)
    times = [when for when in (poll, check) if when is not None]
    return {**changes, "due_at": min(times) if times else None}


JOB_FIELDS = frozenset(JobRecord.__dataclass_fields__)


def job_with(values: dict[str, Any]) -> JobRecord:
    """A JobRecord from a value for every one of its fields, already of the
    right types, without the dataclass's `__init__`: a frozen dataclass sets
    each of its 33 fields through `object.__setattr__`, and the poll path
    builds two records per poll (the claim's and the poll's result)."""
    record = object.__new__(JobRecord)
    record.__dict__.update(values)
    return record


def job_record(row: Mapping[str, Any] | Any) -> JobRecord:
    """A JobRecord from a row of `jobs` with its watch's `watch` name and `provider`."""
    return job_of({name: row[name] for name in JOB_FIELDS})


def job_of(values: dict[str, Any]) -> JobRecord:
    """A JobRecord from `values`, a dict of its fields as the database read
    them, which it takes over (a claim reads hundreds at a time)."""
    values["state"] = State(values["state"])
    values["children"] = list(values["children"] or [])
    values["details"] = dict(values["details"] or {})
    return job_with(values)


@dataclass(frozen=True)
class OutboxEntry:
    """A notification to write to the outbox, addressed to one URL."""

    watch: str
    event: str
    dedupe_key: str
    notifier: str
    url_key: str
    url_display: str
    title: str
    body: str
    notify_type: str
    # The message's facts as plain, secret-free data, so a group of rows can be
    # worded again as one message (notify/grouping.py).
    context: dict[str, Any] | None = None
    # Seconds to hold the row before it is due: the notifier's group_wait.
    delay: float = 0.0


@dataclass(frozen=True)
class NotificationRecord:
    id: int
    job_pk: int | None
    watch: str
    event: str
    dedupe_key: str
    notifier: str
    url_key: str
    url_display: str
    title: str
    body: str
    notify_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    context: dict[str, Any] | None = None
    silence_note: str | None = None  # why a silence held it back or kept it from going


@dataclass(frozen=True)
class TransitionRecord:
    from_state: State
    to_state: State
    raw_status: str | None
    progress: float | None
    message: str | None
    at: datetime


@dataclass(frozen=True)
class NewCondition:
    """A condition to open: a job's (`job_pk`) or a provider's (`provider`)."""

    kind: Event
    reason: str
    sequence: int
    job_pk: int | None = None
    provider: str | None = None
    parent_id: int | None = None  # the provider's open condition announcing it
    parent_in_write: bool = False  # ...or the one this same write opens


@dataclass
class ConditionWrite:
    """Condition changes and their notifications, written in one transaction."""

    opened: list[NewCondition] = field(default_factory=list)
    reminded: list[tuple[int, int]] = field(default_factory=list)  # (id, reminders so far)
    cleared: list[int] = field(default_factory=list)  # ids; their announced children clear too
    outbox: list[tuple[int | None, OutboxEntry]] = field(default_factory=list)  # (job_pk, row)

    def __bool__(self) -> bool:
        return bool(self.opened or self.reminded or self.cleared or self.outbox)


# The job columns a poll that changed nothing sets (counters and schedule);
# anything else it sets makes it news worth its own statement.
SCHEDULE_COLUMNS = frozenset(
    {
        "last_poll_at",
        "next_poll_at",
        "next_check_at",
        "due_at",
        "polls",
        "failed_polls",
        "consecutive_failures",
        "last_failure",
        "backoff_step",
    }
)


@dataclass
class PollWrite:
    """Everything one poll (or condition check) of one job changes, written in
    one transaction. Recording it gives the job's lease back."""

    job_pk: int
    job_changes: dict[str, Any]
    transition: TransitionRecord | None = None
    outbox: list[OutboxEntry] = field(default_factory=list)
    conditions: ConditionWrite | None = None  # conditions opened, reminded, cleared

    @property
    def quiet(self) -> bool:
        """Only counters and the schedule change: it can share one batched UPDATE."""
        return (
            self.transition is None
            and not self.outbox
            and not self.conditions
            and self.job_changes.keys() <= SCHEDULE_COLUMNS
        )
