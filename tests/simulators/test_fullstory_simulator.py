"""FullStoryProvider polling the FullStory simulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure, Throttled
from monitor.providers.fullstory import FullStoryProvider, FullStorySettings
from monitor.providers.http import make_client
from monitor.simulators.fullstory import (
    FullStorySimulator,
    failure_script,
    partial_script,
    success_script,
)

JOB = "abd123="
FORBIDDEN_KEY = "fullstory-key-without-permission"


class Ticks:
    """A monotonic clock for the rate limit that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[FullStorySimulator]:
    with FullStorySimulator(rate_limit=None, forbidden_keys=[FORBIDDEN_KEY]) as simulator:
        yield simulator


def provider_for(sim: FullStorySimulator, **settings: object) -> FullStoryProvider:
    block = FullStorySettings.model_validate(
        {"base_url": sim.url, "api_key": sim.api_key, "timeout": 2, **settings}
    )
    return FullStoryProvider("analytics", block, make_client(block))


@pytest.fixture
async def fullstory(sim: FullStorySimulator) -> AsyncIterator[FullStoryProvider]:
    provider = provider_for(sim)
    async with provider.client:
        yield provider


async def poll_failure(fullstory: FullStoryProvider, job: str = JOB) -> PollFailure:
    with pytest.raises(PollFailure) as failure:
        await fullstory.poll(job)
    return failure.value


async def test_success_script_goes_running_then_succeeded_with_its_imports(
    sim: FullStorySimulator, fullstory: FullStoryProvider
) -> None:
    sim.add_job(JOB, success_script(imports=1200))
    statuses = [await fullstory.poll(JOB) for _ in range(3)]
    assert [s.state for s in statuses] == [State.RUNNING, State.RUNNING, State.SUCCEEDED]
    assert statuses[-1].counts() == {"processed": 1200, "errors": 0}


async def test_partial_script_ends_partial_with_both_counts(
    sim: FullStorySimulator, fullstory: FullStoryProvider
) -> None:
    sim.add_job(JOB, partial_script(imports=42, errors=2))
    last = [await fullstory.poll(JOB) for _ in range(2)][-1]
    assert (last.state, last.counts()) == (State.PARTIAL, {"processed": 42, "errors": 2})


async def test_failure_script_ends_failed(
    sim: FullStorySimulator, fullstory: FullStoryProvider
) -> None:
    sim.add_job(JOB, failure_script(errors=17))
    last = [await fullstory.poll(JOB) for _ in range(2)][-1]
    assert (last.state, last.errors) == (State.FAILED, 17)


async def test_finished_job_has_its_finished_time(
    sim: FullStorySimulator, fullstory: FullStoryProvider
) -> None:
    sim.add_job(JOB, failure_script())
    first, last = [await fullstory.poll(JOB) for _ in range(2)]
    assert first.finished_at is None
    assert last.finished_at is not None and last.started_at is not None
    assert last.finished_at >= last.started_at


async def test_job_without_id_in_its_answer_is_still_polled_by_the_id_asked(
    sim: FullStorySimulator, fullstory: FullStoryProvider
) -> None:
    sim.add_job(JOB, success_script(), with_id=False)
    assert (await fullstory.poll(JOB)).state is State.RUNNING


async def test_users_kind_polls_users_jobs(sim: FullStorySimulator) -> None:
    sim.add_job(JOB, success_script(), kind="users")
    fullstory = provider_for(sim, kind="users")
    async with fullstory.client:
        assert (await fullstory.poll(JOB)).state is State.RUNNING
    assert sim.requests[-1].path == "/v2/users/batch/abd123="


async def test_events_job_is_not_found_under_users(sim: FullStorySimulator) -> None:
    sim.add_job(JOB, success_script(), kind="events")
    fullstory = provider_for(sim, kind="users")
    async with fullstory.client:
        assert (await poll_failure(fullstory)).kind is FailureKind.NOT_FOUND


async def test_wrong_key_is_refused_credentials(sim: FullStorySimulator) -> None:
    sim.add_job(JOB)
    fullstory = provider_for(sim, api_key="not-the-key")
    async with fullstory.client:
        failure = await poll_failure(fullstory)
    assert (failure.kind, failure.reason) == (
        FailureKind.AUTH,
        "credentials refused (HTTP 401): access is unauthorized (unauthorized)",
    )


async def test_key_without_permission_is_refused_credentials(sim: FullStorySimulator) -> None:
    sim.add_job(JOB)
    fullstory = provider_for(sim, api_key=FORBIDDEN_KEY)
    async with fullstory.client:
        failure = await poll_failure(fullstory)
    assert failure.kind is FailureKind.AUTH
    assert "HTTP 403" in failure.reason


async def test_unknown_job_is_not_found(fullstory: FullStoryProvider) -> None:
    assert (await poll_failure(fullstory, "no-such-job")).kind is FailureKind.NOT_FOUND


async def test_over_the_rate_limit_is_throttled_for_retry_after_seconds() -> None:
    ticks = Ticks()
    with FullStorySimulator(rate_limit=2, rate_window=30.0, clock=ticks) as sim:
        sim.add_job(JOB)
        fullstory = provider_for(sim)
        async with fullstory.client:
            await fullstory.poll(JOB)
            ticks.now += 10.5
            await fullstory.poll(JOB)
            with pytest.raises(Throttled) as throttled:
                await fullstory.poll(JOB)
    assert throttled.value.retry_after == 20.0  # 19.5 s left, in whole seconds
    assert sim.requests[-1].headers["authorization"] == f"Basic {sim.api_key}"


async def test_rate_limit_lets_requests_through_again_after_its_window() -> None:
    ticks = Ticks()
    with FullStorySimulator(rate_limit=1, rate_window=30.0, clock=ticks) as sim:
        sim.add_job(JOB)
        fullstory = provider_for(sim)
        async with fullstory.client:
            await fullstory.poll(JOB)
            with pytest.raises(Throttled):
                await fullstory.poll(JOB)
            ticks.now += 30.0
            assert (await fullstory.poll(JOB)).state is State.RUNNING


async def test_credentials_check_accepts_a_working_key(fullstory: FullStoryProvider) -> None:
    assert "key accepted" in await fullstory.check_credentials()


async def test_credentials_check_raises_on_a_refused_key(sim: FullStorySimulator) -> None:
    fullstory = provider_for(sim, api_key="not-the-key")
    async with fullstory.client:
        with pytest.raises(PollFailure) as failure:
            await fullstory.check_credentials()
    assert failure.value.kind is FailureKind.AUTH
