"""Plain records the store hands out: read once, used without a session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.domain import State

if TYPE_CHECKING:
    from monitor.store.conditions import ConditionWrite


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


@dataclass
class PollWrite:
    """Everything one poll changes, written in one transaction."""

    job_changes: dict[str, Any]
    transition: TransitionRecord | None = None
    outbox: list[OutboxEntry] = field(default_factory=list)
    conditions: ConditionWrite | None = None  # conditions opened, reminded, cleared
