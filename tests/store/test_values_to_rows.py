"""Property tests: any value a vendor sends, once made safe at the provider
boundary, is written by the store's own poll path on SQLite and PostgreSQL
and read back as it was made (nothing a vendor says can make a write fail)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import PollPolicy
from monitor.domain import JobStatus, State
from monitor.engine.observe import observe_failure, observe_status
from monitor.providers.base import FailureKind, PollFailure
from monitor.providers.sanitize import clean_status, storable_job_id
from monitor.store.records import JobRecord, PollWrite
from monitor.store.store import Store, WatchSpec
from tests.hostile import any_json, huge_numbers, poison, trouble_text
from tests.notify.helpers import track

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
EXAMPLES = 150
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture
def job(store: Store) -> JobRecord:
    return track(store, "nightly", "job-1", NOW)


counts = st.one_of(st.none(), st.integers(), huge_numbers, trouble_text)
moments = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),  # naive: a vendor that left the zone out
)
statuses = st.builds(
    JobStatus,
    state=st.sampled_from([s for s in State if s is not State.UNKNOWN]),
    raw_status=poison,
    progress=st.one_of(st.none(), huge_numbers, st.floats()),
    processed=counts,
    errors=counts,
    total=counts,
    message=st.one_of(st.none(), trouble_text),
    children=st.lists(trouble_text, max_size=5).map(tuple),
    started_at=moments,
    finished_at=moments,
    details=st.dictionaries(st.text(max_size=8), st.one_of(poison, any_json), max_size=4),
)


def save(store: Store, job: JobRecord, changes: dict[str, Any], transition: Any = None) -> None:
    store.save_poll(PollWrite(job.id, changes, transition, []), NOW)


@PROPERTY
@given(raw=statuses)
def test_any_vendor_status_is_stored_and_read_back(
    store: Store, job: JobRecord, raw: JobStatus
) -> None:
    status = clean_status(raw)
    job = store.get_job(job.id) or job  # as a claim reads it: examples share the row
    observation = observe_status(job, status, NOW, PollPolicy(), 0.5)
    save(store, job, observation.changes, observation.transition)
    stored = store.get_job(job.id)
    assert stored is not None
    assert stored.raw_status == status.raw_status
    assert stored.state is status.state
    assert (stored.processed, stored.errors, stored.total) == (
        status.processed,
        status.errors,
        status.total,
    )
    assert stored.message == status.message
    assert stored.children == list(status.children)
    assert stored.details == status.details
    if status.progress is not None:
        assert stored.progress == pytest.approx(status.progress)
    if status.started_at is not None:
        assert abs(stored.started_at - status.started_at) < timedelta(seconds=1)  # type: ignore[operator]


@PROPERTY
@given(raw_status=poison, reason=trouble_text)
def test_any_failed_poll_is_stored_and_read_back(
    store: Store, job: JobRecord, raw_status: Any, reason: str
) -> None:
    failure = PollFailure(
        FailureKind.UNRECOGNIZED, reason or "empty", raw_status=str(raw_status)[:5000]
    )
    observation = observe_failure(job, failure, NOW, PollPolicy(), 0.5)
    save(store, job, observation.changes)
    stored = store.get_job(job.id)
    assert stored is not None
    assert stored.last_failure == failure.reason
    assert stored.raw_status == failure.raw_status


@pytest.fixture
def discovery(store: Store) -> int:
    store.sync_config_watches(
        [WatchSpec(name="found", provider="hr", job=None, discover={"created_by": "etl"})], NOW
    )
    return next(w.id for w in store.active_watches() if w.name == "found")


@PROPERTY
@given(values=st.lists(st.one_of(poison, st.text(max_size=600)), max_size=6))
def test_discovered_job_ids_that_can_be_stored_are_stored_as_they_are(
    store: Store, discovery: int, values: list[Any]
) -> None:
    kept = list(dict.fromkeys(i for i in map(storable_job_id, values) if i is not None))
    store.add_discovered_jobs(discovery, kept, NOW)
    stored = {job.job_id for job in store.all_jobs("found")}
    assert set(kept) <= stored


def test_a_poisoned_status_writes_only_once_made_safe(store: Store, job: JobRecord) -> None:
    """The values that used to stop a job for ever, each on its own."""
    for raw in [
        JobStatus(State.RUNNING, "ok\x00", processed=2**70),
        JobStatus(State.RUNNING, "x" * 5000, errors=-(2**80), message="nul\x00 and \ud800"),
        JobStatus(State.RUNNING, "fine", progress=float("nan"), details={"n": float("inf")}),
    ]:
        status = clean_status(raw)
        observation = observe_status(job, status, NOW, PollPolicy(), 0.5)
        save(store, job, observation.changes, observation.transition)
        stored = store.get_job(job.id)
        assert stored is not None and stored.raw_status == status.raw_status
        job = stored  # as the next claim reads it
