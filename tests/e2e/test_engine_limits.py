"""Per-provider limits end to end: the daemon, the KPA simulator on 127.0.0.1,
SQLite and PostgreSQL. Requests are counted and timed where they arrive."""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path

import pytest

from monitor.simulators.base import HttpError, Step
from monitor.simulators.kpa_flex import KpaFlexSimulator, success_script
from monitor.store.store import Store
from tests.harness import FAST_POLL, jobs_ended, running, write_config

TOKEN = "kpa-limits-secret-token-7c1e"


def config_for(tmp_path: Path, database_url: str, kpa: KpaFlexSimulator, jobs, **limits):
    limits = {"max_rps": 50, **limits}  # KPA's default is 20/min: too slow for a test
    settings = "".join(f"\n            {key}: {value}" for key, value in limits.items())
    watches = "".join(
        f"""
          - name: load-{index}
            provider: hr
            job: "{job}\""""
        for index, job in enumerate(jobs)
    )
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
        providers:
          hr:
            type: kpa_flex
            base_url: {kpa.url}
            token: {TOKEN}{settings}
        watches:{watches}
        """,
    )


def job_ids(count: int) -> list[str]:
    return [f"{index:024x}" for index in range(1, count + 1)]


def wall_time(arrival: float) -> float:
    """A request's arrival (time.monotonic) as wall-clock time."""
    return arrival + (time.time() - time.monotonic())


@pytest.fixture
def kpa():
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as simulator:
        yield simulator


async def throttled_then_polled(tmp_path, database_url, kpa, header: dict[str, str]) -> None:
    """Three jobs; the first request answers 429 with `header`; all jobs end."""
    jobs = job_ids(3)
    for job in jobs:
        kpa.add_job(job, success_script())
    kpa.inject(HttpError(429, headers=header))
    config = config_for(tmp_path, database_url, kpa, jobs, max_concurrency=1)
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=30)


async def test_no_request_before_retry_after_seconds(tmp_path, database_url, kpa):
    await throttled_then_polled(tmp_path, database_url, kpa, {"Retry-After": "2"})
    throttled, following = kpa.requests[0], kpa.requests[1]
    assert following.at - throttled.at >= 2.0


async def test_no_request_before_a_retry_after_http_date(tmp_path, database_url, kpa):
    resume = int(time.time()) + 3
    await throttled_then_polled(
        tmp_path, database_url, kpa, {"Retry-After": formatdate(resume, usegmt=True)}
    )
    assert wall_time(kpa.requests[1].at) >= resume - 0.01  # 10 ms for the clocks' rounding


async def test_no_request_before_x_ratelimit_reset_in_epoch_ms(tmp_path, database_url, kpa):
    resume_ms = int(time.time() * 1000) + 2500
    await throttled_then_polled(tmp_path, database_url, kpa, {"X-RateLimit-Reset": str(resume_ms)})
    assert wall_time(kpa.requests[1].at) >= resume_ms / 1000 - 0.01


async def test_throttling_is_not_recorded_as_a_failed_poll(tmp_path, database_url, kpa):
    await throttled_then_polled(tmp_path, database_url, kpa, {"Retry-After": "1"})
    store = Store(database_url)
    jobs = store.all_jobs()
    store.close()
    assert [job.failed_polls for job in jobs] == [0, 0, 0]
    assert sum(job.polls for job in jobs) == 9  # 3 polls each; the throttled one not counted


async def test_kpa_rate_limit_exceeded_pauses_the_provider_for_its_lockout(tmp_path, database_url):
    with KpaFlexSimulator(token=TOKEN, rate_limit=2, rate_window=60, lockout=60) as kpa:
        jobs = job_ids(2)
        for job in jobs:
            kpa.add_job(job, [Step({"status": "dataloading"}, polls=1000)])
        # One request at a time: the throttled answer is in before the next leaves.
        config = config_for(tmp_path, database_url, kpa, jobs, max_concurrency=1)
        async with running(config) as daemon:
            limiter = daemon.live.wiring.limiters["hr"]
            assert await daemon.wait_until(lambda _: limiter.paused_for() > 0, timeout=20)
            assert limiter.paused_for() >= 55
            seen = len(kpa.requests)
            # Watch for 2 s: polls every 50 ms would send ~80 requests if unpaused.
            assert not await daemon.wait_until(lambda _: len(kpa.requests) > seen, timeout=2)
        assert seen == 3  # two answered, the third refused with rate_limit_exceeded


async def test_max_rps_holds_across_fifty_jobs_of_one_provider(tmp_path, database_url, kpa):
    jobs = job_ids(50)
    for job in jobs:
        kpa.add_job(job, [Step({"status": "dataloading"}, polls=100_000)])
    config = config_for(tmp_path, database_url, kpa, jobs, max_rps=20)
    async with running(config) as daemon:
        assert await daemon.wait_until(lambda _: len(kpa.requests) >= 80, timeout=60)
    arrivals = sorted(request.at for request in kpa.requests)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    mean = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    print(f"{len(arrivals)} requests: busiest second {busiest}, mean {mean:.2f}/s")
    # Calls leave 50 ms apart; one extra may share a second when an earlier
    # request spent longer on its way in than a later one.
    assert busiest <= 21
    assert mean <= 20.5
    assert len({r.json["id"] for r in kpa.requests}) == 50  # every job had its turn
