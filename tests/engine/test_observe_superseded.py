"""A job replaced by a newer one (Rocket.Chat's single current import): what
one poll that says so changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import PollPolicy
from monitor.domain import JobStatus, State
from monitor.engine.observe import observe_status
from monitor.store.records import JobRecord

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def waiting_job() -> JobRecord:
    earlier = NOW - timedelta(minutes=5)
    return JobRecord(
        id=1, watch_id=1, watch="chat-import", provider="chat", job_id="FirstOp",
        state=State.WAITING,
        raw_status="importer_user_selection", progress=0.0, processed=0, errors=0, total=120,
        message="waiting for an admin", children=[], details={"type": "Slack"}, started_at=earlier,
        finished_at=None, first_seen_at=earlier, state_changed_at=earlier, progress_changed_at=None,
        terminal_at=None, last_poll_at=earlier, next_poll_at=NOW, polls=3, failed_polls=0,
        consecutive_failures=0, last_failure=None, backoff_step=1,
    )  # fmt: skip


def superseded(by: str = "SecondOp") -> JobStatus:
    return JobStatus(state=State.UNKNOWN, raw_status="importer_new", superseded_by=by)


def observe() -> dict[str, object]:
    return observe_status(waiting_job(), superseded(), NOW, PollPolicy(), 0.5).changes


def test_superseded_job_keeps_its_state_and_raw_status() -> None:
    changes = observe()
    assert not {"state", "raw_status", "progress", "job_id"} & set(changes)


def test_superseded_job_is_marked_with_the_newer_id_beside_its_details() -> None:
    assert observe()["details"] == {"type": "Slack", "superseded_by": "SecondOp"}


def test_superseded_job_is_no_longer_polled() -> None:
    observation = observe_status(waiting_job(), superseded(), NOW, PollPolicy(), 0.5)
    assert observation.next_poll_at is None and observation.changes["next_poll_at"] is None


def test_superseded_job_records_no_transition_and_no_event() -> None:
    observation = observe_status(waiting_job(), superseded(), NOW, PollPolicy(), 0.5)
    assert (observation.transition, observation.events) == (None, [])
