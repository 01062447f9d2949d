"""The plain records the read side hands out (monitor/store/views.py): read
once, used on the HTTP threads without a session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.domain import State


@dataclass(frozen=True)
class ConditionView:
    kind: str
    reason: str | None
    opened_at: datetime


@dataclass(frozen=True)
class JobView:
    """A tracked job with its watch, the instance holding it, its open
    conditions and its notifications counted by status."""

    id: int
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
    started_at: datetime | None
    first_seen_at: datetime
    state_changed_at: datetime | None
    progress_changed_at: datetime | None
    terminal_at: datetime | None
    last_poll_at: datetime | None
    next_poll_at: datetime | None
    polls: int
    failed_polls: int
    last_failure: str | None
    lease_owner: str | None
    lease_until: datetime | None
    conditions: tuple[ConditionView, ...] = ()
    paused_at: datetime | None = None  # its watch is paused (`loadwatch pause`)
    retired: bool = False  # its watch is gone or names another job now
    notifications: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TransitionView:
    job_pk: int
    from_state: str
    to_state: str
    raw_status: str | None
    progress: float | None
    message: str | None
    at: datetime


@dataclass(frozen=True)
class DeliveryView:
    """One notification to one URL (shown masked, as Apprise prints it)."""

    id: int
    job_pk: int | None
    watch: str
    event: str
    key: str
    notifier: str
    url: str
    title: str
    status: str  # pending, sent, dead
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class RunView:
    """A finished job of a watch: how long it ran (first seen to seen ending) and how."""

    job_pk: int
    job_id: str
    state: State
    began: datetime
    ended: datetime

    @property
    def seconds(self) -> float:
        return max((self.ended - self.began).total_seconds(), 0.0)


@dataclass(frozen=True)
class WatchView:
    name: str
    provider: str
    job: str | None
    discover: dict[str, Any] | None
    source: str
    active: bool
    created_at: datetime
    states: Mapping[str, int] = field(default_factory=dict)  # its jobs by state


@dataclass(frozen=True)
class JobSummary:
    """Enough of a job to count it and rank it: the page reads the rest only
    for the rows it shows."""

    id: int
    watch: str
    state: State
    troubled: bool  # it has an open condition
