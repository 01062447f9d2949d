"""A poll's changes hold only what differs from the job's row, and the job
they make is the job the vendor described, whatever the two say."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import PollPolicy
from monitor.domain import JobStatus, State
from monitor.engine.observe import applied, observe_status
from monitor.engine.poller import _changed_only
from monitor.providers.sanitize import clean_status
from tests.engine.test_observe_superseded import waiting_job

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
VENDOR_FIELDS = (
    "raw_status", "progress", "processed", "errors", "total", "message", "children", "details",
)  # fmt: skip

times = st.one_of(st.none(), st.sampled_from([NOW - timedelta(hours=1), NOW - timedelta(days=2)]))
counts = st.one_of(st.none(), st.integers(0, 3))
texts = st.one_of(st.none(), st.sampled_from(["", "a", "waiting for an admin"]))
small = dict(
    state=st.sampled_from([s for s in State if s is not State.UNKNOWN]),
    raw_status=st.sampled_from(["importer_user_selection", "importer_done", "x"]),
    progress=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0])),
    processed=counts,
    errors=counts,
    total=st.one_of(st.none(), st.just(120)),
    message=texts,
    children=st.lists(st.sampled_from(["c1", "c2"]), max_size=2),
    details=st.sampled_from([{}, {"type": "Slack"}, {"type": "Csv"}]),
    started_at=times,
    finished_at=times,
)
statuses = st.builds(JobStatus, **small)
jobs = st.builds(
    lambda status, polls: dataclasses.replace(
        waiting_job(),
        **{name: getattr(status, name) for name in VENDOR_FIELDS if name != "children"},
        children=list(status.children),
        state=status.state,
        polls=polls,
    ),
    statuses,
    st.integers(0, 5),
)


@settings(max_examples=300, deadline=None)
@given(job=jobs, raw=statuses)
def test_a_poll_changes_only_what_differs_and_makes_the_job_it_saw(job, raw) -> None:
    status = clean_status(raw)
    observation = observe_status(job, status, NOW, PollPolicy(), 0.5)
    after = applied(job, observation)
    for name in VENDOR_FIELDS:
        said = list(status.children) if name == "children" else getattr(status, name)
        assert getattr(after, name) == said
        assert (name in observation.changes) == (said != getattr(job, name))
    assert after.state is status.state
    assert ("state" in observation.changes) == (status.state is not job.state)
    assert after.started_at == (status.started_at or job.started_at)
    assert after.finished_at == (status.finished_at or job.finished_at)
    assert after.polls == job.polls + 1 and after.last_poll_at == NOW
    # What the poll writes is what it changed: nothing is left to drop.
    assert _changed_only(job, observation.changes) == observation.changes
