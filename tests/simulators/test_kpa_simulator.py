"""KpaFlexProvider polling the KPA Flex simulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure, Throttled
from monitor.providers.http import make_client
from monitor.providers.kpa_flex import KpaFlexProvider, KpaFlexSettings
from monitor.simulators.base import HttpError
from monitor.simulators.kpa_flex import KpaFlexSimulator, failure_script, success_script

JOB = "5804f0f30ef50473af5870c6"


@pytest.fixture
def sim() -> Iterator[KpaFlexSimulator]:
    with KpaFlexSimulator(rate_limit=None) as simulator:
        yield simulator


async def provider_for(sim: KpaFlexSimulator, token: str | None = None) -> KpaFlexProvider:
    settings = KpaFlexSettings(base_url=sim.url, token=token or sim.token, timeout=2)
    return KpaFlexProvider("hr", settings, make_client(settings))


@pytest.fixture
async def kpa(sim: KpaFlexSimulator) -> AsyncIterator[KpaFlexProvider]:
    provider = await provider_for(sim)
    async with provider.client:
        yield provider


async def poll_failure(kpa: KpaFlexProvider, job: str = JOB) -> PollFailure:
    with pytest.raises(PollFailure) as failure:
        await kpa.poll(job)
    return failure.value


async def test_job_goes_pending_running_succeeded_across_polls(
    sim: KpaFlexSimulator, kpa: KpaFlexProvider
) -> None:
    sim.add_job(JOB, success_script(polls=2))
    states = [(await kpa.poll(JOB)).state for _ in range(6)]
    assert states == [State.PENDING] * 2 + [State.RUNNING] * 2 + [State.SUCCEEDED] * 2


async def test_failed_job_carries_its_history(sim: KpaFlexSimulator, kpa: KpaFlexProvider) -> None:
    sim.add_job(JOB, failure_script(history="Row 3: bad date"))
    statuses = [await kpa.poll(JOB) for _ in range(3)]
    assert statuses[-1].state is State.FAILED
    assert statuses[-1].details["history"] == "Row 3: bad date"


async def test_created_reaches_started_at(sim: KpaFlexSimulator, kpa: KpaFlexProvider) -> None:
    sim.add_job(JOB, created_ms=1_772_432_100_000)
    assert (await kpa.poll(JOB)).started_at == datetime(2026, 3, 2, 6, 15, tzinfo=UTC)


async def test_token_travels_in_the_post_body_never_the_url(
    sim: KpaFlexSimulator, kpa: KpaFlexProvider
) -> None:
    sim.add_job(JOB)
    await kpa.poll(JOB)
    (seen,) = sim.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/dataload.info", "")
    assert sim.token not in seen.path
    assert seen.json == {"token": sim.token, "id": JOB}


async def test_wrong_token_is_refused_credentials(sim: KpaFlexSimulator) -> None:
    sim.add_job(JOB)
    kpa = await provider_for(sim, token="not-the-token")
    async with kpa.client:
        failure = await poll_failure(kpa)
    assert failure.kind is FailureKind.AUTH
    assert "token_invalid" in failure.reason


async def test_unknown_job_is_not_found(kpa: KpaFlexProvider) -> None:
    assert (await poll_failure(kpa, "no-such-load")).kind is FailureKind.NOT_FOUND


async def test_rate_limit_throttles_for_at_least_60_seconds() -> None:
    with KpaFlexSimulator(rate_limit=2) as sim:
        sim.add_job(JOB)
        kpa = await provider_for(sim)
        async with kpa.client:
            await kpa.poll(JOB)
            await kpa.poll(JOB)
            with pytest.raises(Throttled) as throttled:
                await kpa.poll(JOB)
    assert throttled.value.retry_after is not None
    assert throttled.value.retry_after >= 60


async def test_credentials_check_accepts_a_working_token(kpa: KpaFlexProvider) -> None:
    assert "token accepted" in await kpa.check_credentials()


async def test_credentials_check_raises_on_a_refused_token(sim: KpaFlexSimulator) -> None:
    kpa = await provider_for(sim, token="not-the-token")
    async with kpa.client:
        with pytest.raises(PollFailure) as failure:
            await kpa.check_credentials()
    assert failure.value.kind is FailureKind.AUTH


async def test_gateway_error_page_is_a_server_error_then_polls_recover(
    sim: KpaFlexSimulator, kpa: KpaFlexProvider
) -> None:
    sim.add_job(JOB)
    sim.inject(HttpError(502))
    assert (await poll_failure(kpa)).kind is FailureKind.SERVER_ERROR
    assert (await kpa.poll(JOB)).state is State.PENDING


async def test_simulator_refuses_get(sim: KpaFlexSimulator) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{sim.url}/dataload.info")
    assert response.status_code == 405
