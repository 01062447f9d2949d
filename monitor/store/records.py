"""Plain records the store hands out: read once, used without a session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.domain import State


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
