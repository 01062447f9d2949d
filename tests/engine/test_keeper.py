"""The condition keeper on a real store and a fake clock: `deadline: auto`
learns from the watch's past runs without reading them for every poll."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from monitor.clock import FakeClock
from monitor.config import WatchSettings
from monitor.engine.conditions import PollOutcome
from monitor.engine.keeper import PAST_RUNS_SECONDS, ConditionKeeper
from monitor.engine.wiring import Wiring
from monitor.providers.http import make_client
from monitor.providers.kpa_flex import KpaFlexProvider, KpaFlexSettings
from monitor.store.records import JobRecord, PollWrite
from monitor.store.store import Store
from tests.notify.helpers import START, track


@pytest.fixture
async def wiring() -> AsyncIterator[Wiring]:
    settings = KpaFlexSettings(base_url="http://127.0.0.1:9", token="t")  # never asked
    provider = KpaFlexProvider("hr", settings, make_client(settings))
    watches = {
        name: WatchSettings.model_validate(
            {"name": name, "provider": "hr", "job": "j", "deadline": "auto"}
        )
        for name in ("nightly", "other")
    }
    async with provider.client:
        yield Wiring(providers={"hr": provider}, watches=watches, notifiers={})


class CountedReads:
    """The keeper's reads of past runs, counted (the real read runs)."""

    def __init__(self, keeper: ConditionKeeper) -> None:
        self.results: list[list[float]] = []
        read = keeper.conditions.run_durations

        def counted(watch_id: int, limit: int) -> list[float]:
            self.results.append(read(watch_id, limit))
            return self.results[-1]

        keeper.conditions.run_durations = counted  # type: ignore[method-assign]


def _ended(store: Store, job: JobRecord, seconds: float) -> JobRecord:
    """`job` as it is once it ended `seconds` after it was first seen."""
    end = job.first_seen_at + timedelta(seconds=seconds)
    changes = {"state": "succeeded", "terminal_at": end, "next_poll_at": None, "due_at": None}
    store.save_poll(PollWrite(job.id, changes), end)
    ended = store.get_job(job.id)
    assert ended is not None
    return ended


async def test_auto_deadline_reads_past_runs_once_a_minute_not_per_poll(
    store: Store, wiring: Wiring
) -> None:
    clock = FakeClock(START)
    keeper = ConditionKeeper(store, clock)
    reads = CountedReads(keeper)
    job = track(store, "nightly", "j", START)
    for _ in range(5):
        assert await keeper.judge(job, wiring, PollOutcome()) is not None
    assert len(reads.results) == 1
    clock.advance(PAST_RUNS_SECONDS - 1)
    await keeper.judge(job, wiring, PollOutcome())
    assert len(reads.results) == 1
    clock.advance(1)
    await keeper.judge(job, wiring, PollOutcome())
    assert len(reads.results) == 2
    other = track(store, "other", "j", START)  # each watch has its own runs
    await keeper.judge(other, wiring, PollOutcome())
    assert len(reads.results) == 3


async def test_a_run_that_ends_here_is_learned_from_at_once(store: Store, wiring: Wiring) -> None:
    clock = FakeClock(START)
    keeper = ConditionKeeper(store, clock)
    reads = CountedReads(keeper)
    first = track(store, "nightly", "j", START)
    await keeper.judge(first, wiring, PollOutcome())
    assert reads.results == [[]]
    ended = _ended(store, first, 3600)
    await keeper.judge(ended, wiring, PollOutcome())  # an ended job has no deadline to read for
    assert reads.results == [[]]
    # The watch's next run, judged a moment later, learns from the one that ended.
    store.sync_config_watches([], START)
    second = track(store, "nightly", "j2", START + timedelta(hours=2))
    await keeper.judge(second, wiring, PollOutcome())
    assert reads.results == [[], [3600.0]]
