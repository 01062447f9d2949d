"""The words every layer shares: job states, events and a normalized job status."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class State(enum.StrEnum):
    """A job's normalized state (SPEC §1)."""

    UNKNOWN = "unknown"
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({State.SUCCEEDED, State.PARTIAL, State.FAILED, State.CANCELED})


class Event(enum.StrEnum):
    """Something that can be notified (SPEC §2)."""

    STARTED = "started"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELED = "canceled"
    WAITING = "waiting"
    STALLED = "stalled"
    OVERDUE = "overdue"
    UNREACHABLE = "unreachable"
    MISSING = "missing"  # a discovery watch's expected run did not appear
    RECOVERED = "recovered"

    @property
    def apprise_type(self) -> str:
        """Apprise's notify type for this event: info, success, warning or failure."""
        return _APPRISE_TYPES[self]

    @property
    def terminal(self) -> bool:
        return self.value in {s.value for s in TERMINAL_STATES}


_APPRISE_TYPES = {
    Event.STARTED: "info",
    Event.SUCCEEDED: "success",
    Event.PARTIAL: "warning",
    Event.FAILED: "failure",
    Event.CANCELED: "warning",
    Event.WAITING: "warning",
    Event.STALLED: "warning",
    Event.OVERDUE: "warning",
    Event.UNREACHABLE: "warning",
    Event.MISSING: "failure",
    Event.RECOVERED: "info",
}


@dataclass(frozen=True)
class JobStatus:
    """One poll's answer, normalized: what a provider says about one job."""

    state: State
    raw_status: str
    progress: float | None = None  # 0..1
    processed: int | None = None
    errors: int | None = None
    total: int | None = None
    message: str | None = None
    # Nested providers: one line per child that did not succeed, as a path
    # ("Group 1 / OnlineStore / OnlineStore.productmodel: Failed").
    children: tuple[str, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # The provider's own id for the job when it differs from the one asked for
    # (Rocket.Chat's `job: current` learns its operation id at the first poll).
    job_id: str | None = None
    # Set when the job was replaced by a newer one (Rocket.Chat has a single
    # current import operation): the job keeps its last state, is marked
    # superseded and is no longer polled. The other fields are then not a status.
    superseded_by: str | None = None
    # Free-form provider facts worth keeping and showing (KPA's dataload history).
    details: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The counts the provider reported, without the unknown ones."""
        values = {"processed": self.processed, "errors": self.errors, "total": self.total}
        return {name: value for name, value in values.items() if value is not None}
