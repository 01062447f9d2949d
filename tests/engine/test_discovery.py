"""Discovery rounds on the Comestri simulator and a real database, timed by a
FakeClock: which jobs get tracked, when rounds run, and what a failed round does."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.config import WatchSettings
from monitor.engine.discovery import Discovery
from monitor.engine.limits import ProviderLimiter
from monitor.engine.poller import Wiring
from monitor.providers.comestri import ComestriProvider, ComestriSettings
from monitor.providers.http import make_client
from monitor.simulators.base import HttpError
from monitor.simulators.comestri import ComestriSimulator
from monitor.store.records import WatchRecord
from monitor.store.store import Store, WatchSpec

WATCH = "catalog-imports"
FILTERS = {"created_by": "etl@example.com"}


@pytest.fixture
def sim() -> Iterator[ComestriSimulator]:
    with ComestriSimulator() as simulator:
        yield simulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(database_url: str, clock: FakeClock) -> Iterator[Store]:
    store = Store(database_url)
    store.upgrade()
    spec = WatchSpec(name=WATCH, provider="catalog", job=None, discover=FILTERS)
    store.sync_config_watches([spec], clock.now())
    yield store
    store.close()


@pytest.fixture
async def provider(sim: ComestriSimulator) -> AsyncIterator[ComestriProvider]:
    settings = ComestriSettings(base_url=sim.url, token=sim.token, timeout=2)
    provider = ComestriProvider("catalog", settings, make_client(settings))
    async with provider.client:
        yield provider


class Armed(list[int]):
    """Each time discovery said it found jobs (the dispatcher claims them then)."""

    def __call__(self) -> None:
        self.append(1)


def discovery_for(
    store: Store, clock: FakeClock, provider: ComestriProvider, armed: Armed, **watch: Any
) -> Discovery:
    settings = WatchSettings(name=WATCH, provider="catalog", discover=FILTERS, **watch)
    wiring = Wiring(providers={"catalog": provider}, watches={WATCH: settings}, notifiers={})
    return Discovery(store, clock, lambda: wiring, armed)


def the_watch(store: Store) -> WatchRecord:
    (watch,) = store.active_watches()
    return watch


def add_new_job(sim: ComestriSimulator, clock: FakeClock, job_id: str, **fields: Any) -> None:
    """A job created a minute after the watch began (the fake clock's now)."""
    sim.add_job(job_id, created_time=clock.now() + timedelta(minutes=1), **fields)


def tracked(store: Store) -> list[str]:
    return [job.job_id for job in store.all_jobs(WATCH)]


async def test_new_jobs_are_tracked_and_armed_at_once(store, clock, sim, provider) -> None:
    add_new_job(sim, clock, "501")
    add_new_job(sim, clock, "502")
    armed = Armed()
    added = await discovery_for(store, clock, provider, armed).discover_watch(the_watch(store))
    assert tracked(store) == ["501", "502"]
    assert armed == [1]  # one wake-up for the round
    assert len(added) == 2
    # Due at once: the database is the schedule.
    assert {job.next_poll_at for job in store.all_jobs(WATCH)} == {clock.now()}


async def test_a_job_already_tracked_is_not_tracked_again(store, clock, sim, provider) -> None:
    add_new_job(sim, clock, "501")
    armed = Armed()
    discovery = discovery_for(store, clock, provider, armed)
    await discovery.discover_watch(the_watch(store))
    assert await discovery.discover_watch(the_watch(store)) == []
    assert tracked(store) == ["501"]
    assert len(armed) == 1


async def test_a_job_created_before_the_watch_began_is_not_tracked(
    store, clock, sim, provider
) -> None:
    sim.add_job("400", created_time=clock.now() - timedelta(days=1))
    add_new_job(sim, clock, "501")
    await discovery_for(store, clock, provider, Armed()).discover_watch(the_watch(store))
    assert tracked(store) == ["501"]


async def test_jobs_not_matching_the_filters_are_not_tracked(store, clock, sim, provider) -> None:
    add_new_job(sim, clock, "501", created_by="someone-else@example.com")
    await discovery_for(store, clock, provider, Armed()).discover_watch(the_watch(store))
    assert tracked(store) == []


async def test_a_round_discovers_only_watches_that_are_due(store, clock, sim, provider) -> None:
    discovery = discovery_for(store, clock, provider, Armed(), discover_every=60)
    await discovery.discover_due()
    add_new_job(sim, clock, "501")
    clock.advance(59)
    await discovery.discover_due()
    assert tracked(store) == []
    clock.advance(1)
    await discovery.discover_due()
    assert tracked(store) == ["501"]


async def test_a_round_says_when_the_next_is_due(store, clock, provider) -> None:
    discovery = discovery_for(store, clock, provider, Armed(), discover_every=3)
    assert await discovery.discover_due() == 3.0


async def test_the_watch_list_is_read_again_within_five_seconds(store, clock, provider) -> None:
    discovery = discovery_for(store, clock, provider, Armed(), discover_every=600)
    assert await discovery.discover_due() == 5.0


async def test_a_failed_round_is_logged_and_tried_again_next_round(
    store, clock, sim, provider, caplog
) -> None:
    add_new_job(sim, clock, "501")
    discovery = discovery_for(store, clock, provider, Armed(), discover_every=60)
    sim.inject(HttpError(502))
    with caplog.at_level(logging.WARNING):
        assert await discovery.discover_due() == 5.0
    assert "discovery for catalog-imports failed: server error (HTTP 502)" in caplog.text
    assert tracked(store) == []
    clock.advance(60)
    await discovery.discover_due()
    assert tracked(store) == ["501"]


async def test_a_throttled_round_waits_for_the_vendor(store, clock, sim, provider) -> None:
    discovery = discovery_for(store, clock, provider, Armed(), discover_every=1)
    sim.inject(HttpError(429, headers={"Retry-After": "120"}))
    await discovery.discover_due()
    add_new_job(sim, clock, "501")
    clock.advance(119)
    await discovery.discover_due()
    assert tracked(store) == []
    clock.advance(1)
    await discovery.discover_due()
    assert tracked(store) == ["501"]


async def test_a_removed_watch_is_not_discovered(store, clock, sim, provider) -> None:
    add_new_job(sim, clock, "501")
    store.sync_config_watches([], clock.now())
    await discovery_for(store, clock, provider, Armed()).discover_due()
    assert sim.requests == []


async def test_a_watch_with_empty_filters_discovers_every_new_job(
    database_url, clock, sim, provider
) -> None:
    store = Store(database_url)
    store.upgrade()
    spec = WatchSpec(name=WATCH, provider="catalog", job=None, discover={})
    store.sync_config_watches([spec], clock.now())
    add_new_job(sim, clock, "501", created_by="anyone@example.com")
    try:
        await discovery_for(store, clock, provider, Armed()).discover_due()
        assert tracked(store) == ["501"]
    finally:
        store.close()


def test_store_tracks_each_discovered_job_once(store, clock) -> None:
    watch = the_watch(store)
    first = store.add_discovered_jobs(watch.id, ["501", "502"], clock.now())
    again = store.add_discovered_jobs(watch.id, ["502", "503"], clock.now())
    assert len(first) == 2 and len(again) == 1
    assert tracked(store) == ["501", "502", "503"]


async def test_a_paused_provider_gets_no_list_request_until_the_pause_ends(
    store, clock, provider, sim
):
    settings = WatchSettings(name=WATCH, provider="catalog", discover=FILTERS)
    limiter = ProviderLimiter("catalog", max_rps=100, max_concurrency=4, clock=clock)
    limiter.throttled(retry_after=30, reason="HTTP 429")
    wiring = Wiring(
        providers={"catalog": provider},
        watches={WATCH: settings},
        notifiers={},
        limiters={"catalog": limiter},
    )
    discovery = Discovery(store, clock, lambda: wiring, Armed())
    add_new_job(sim, clock, "5001")

    assert await discovery.discover_watch(the_watch(store)) == []
    assert sim.requests == []

    clock.advance(31)
    assert len(await discovery.discover_watch(the_watch(store))) == 1
    assert len(sim.requests) >= 1
