"""The recorder's batches against a real store: polls that found nothing to
announce wait for each other, and a poll that did never waits for them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from monitor.clock import FakeClock
from monitor.domain import State
from monitor.engine import recorder as recording
from monitor.engine.recorder import Recorder
from monitor.store import claims
from monitor.store.records import JobRecord, PollWrite, TransitionRecord
from monitor.store.store import Store
from tests.notify.helpers import track

NOW = datetime(2026, 3, 1, 6, 0, 0, tzinfo=UTC)


@pytest.fixture
def jobs(store: Store) -> list[JobRecord]:
    """Six jobs, claimed by "me"."""
    tracked = [track(store, f"w{n}", f"j{n}", NOW) for n in range(6)]
    names = {job.watch_id: job.watch for job in tracked}
    request = claims.ClaimRequest(provider="hr", limit=10, due_by=NOW + timedelta(seconds=1))
    claimed = claims.claim(store.writer, "me", request, NOW, NOW + timedelta(seconds=30), names)
    assert len(claimed) == 6
    return sorted(claimed, key=lambda job: job.job_id)


def quiet(job: JobRecord) -> PollWrite:
    later = NOW + timedelta(seconds=10)
    return PollWrite(job.id, {"next_poll_at": later, "due_at": later, "polls": job.polls + 1})


def ended(job: JobRecord) -> PollWrite:
    transition = TransitionRecord(State.UNKNOWN, State.SUCCEEDED, "done", None, None, NOW)
    changes = {"state": "succeeded", "next_poll_at": None, "due_at": None, "polls": 1}
    return PollWrite(job.id, changes, transition)


class Batches:
    """What the recorder hands back, batch by batch."""

    def __init__(self) -> None:
        self.seen: list[list[int]] = []
        self.arrived = asyncio.Event()

    def __call__(self, writes: Sequence[PollWrite], _queued: int) -> None:
        self.seen.append([write.job_pk for write in writes])
        self.arrived.set()


async def yield_to_the_recorder() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def running(recorder: Recorder, stopping: asyncio.Event) -> asyncio.Task[None]:
    task = asyncio.create_task(recorder.run(stopping))
    await yield_to_the_recorder()
    return task


@contextlib.asynccontextmanager
async def a_recorder(store: Store) -> AsyncIterator[tuple[Recorder, Batches]]:
    """A running recorder and what it hands back; stopped at the end."""
    batches = Batches()
    recorder = Recorder(store, "me", FakeClock(NOW), batches)
    stopping = asyncio.Event()
    task = await running(recorder, stopping)
    try:
        yield recorder, batches
    finally:
        stopping.set()
        await task


@pytest.fixture
def no_gather(monkeypatch: pytest.MonkeyPatch) -> None:
    """No gathering beyond the quiet wait, which is long: whatever ends up in
    one batch was held back by the quiet wait alone."""
    monkeypatch.setattr(recording, "GATHER_SECONDS", 0.0)
    monkeypatch.setattr(recording, "QUIET_GATHER_SECONDS", 600.0)


async def test_quiet_polls_wait_for_each_other_and_an_ended_job_takes_them_along(
    store: Store, jobs: list[JobRecord], no_gather: None
) -> None:
    async with a_recorder(store) as (recorder, batches):
        for job in jobs[:5]:
            recorder.add(quiet(job))
            await yield_to_the_recorder()
        assert batches.seen == []  # nothing to announce: they wait

        recorder.add(ended(jobs[5]))  # an ended job does not wait
        await asyncio.wait_for(batches.arrived.wait(), 30)
        assert batches.seen == [[job.id for job in jobs]]
    stored = {job.job_id: job for job in store.all_jobs()}
    assert stored["j5"].state == State.SUCCEEDED
    assert all(stored[job.job_id].polls == job.polls + 1 for job in jobs[:5])


async def test_a_stop_writes_quiet_polls_at_once(
    store: Store, jobs: list[JobRecord], no_gather: None
) -> None:
    batches = Batches()
    recorder = Recorder(store, "me", FakeClock(NOW), batches)
    stopping = asyncio.Event()
    task = await running(recorder, stopping)
    recorder.add(quiet(jobs[0]))
    await yield_to_the_recorder()
    stopping.set()
    await asyncio.wait_for(task, 30)
    assert batches.seen == [[jobs[0].id]]


async def test_quiet_polls_are_written_once_the_quiet_wait_is_over(
    store: Store, jobs: list[JobRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "QUIET_GATHER_SECONDS", 0.05)
    async with a_recorder(store) as (recorder, batches):
        recorder.add(quiet(jobs[0]))
        await asyncio.wait_for(batches.arrived.wait(), 30)
        assert batches.seen == [[jobs[0].id]]


async def test_a_poll_someone_waits_for_does_not_wait_for_quiet_ones(
    store: Store, jobs: list[JobRecord], no_gather: None
) -> None:
    async with a_recorder(store) as (recorder, batches):
        recorder.add(quiet(jobs[0]))
        await yield_to_the_recorder()
        await asyncio.wait_for(recorder.commit(quiet(jobs[1])), 30)
        assert batches.seen == [[jobs[0].id, jobs[1].id]]
