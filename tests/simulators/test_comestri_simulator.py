"""ComestriProvider polling and discovering on the Comestri simulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure
from monitor.providers.comestri import ComestriProvider, ComestriSettings
from monitor.providers.http import make_client
from monitor.simulators.base import HttpError
from monitor.simulators.comestri import (
    ComestriSimulator,
    canceled_script,
    failure_script,
    partial_script,
    success_script,
)

JOB = "102938"
SINCE = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[ComestriSimulator]:
    with ComestriSimulator(email="ops@example.com") as simulator:
        yield simulator


def provider_for(sim: ComestriSimulator, **settings: object) -> ComestriProvider:
    block = ComestriSettings.model_validate(
        {"base_url": sim.url, "token": sim.token, "timeout": 2, **settings}
    )
    return ComestriProvider("catalog", block, make_client(block))


@pytest.fixture
async def comestri(sim: ComestriSimulator) -> AsyncIterator[ComestriProvider]:
    provider = provider_for(sim)
    async with provider.client:
        yield provider


async def states(comestri: ComestriProvider, polls: int) -> list[State]:
    return [(await comestri.poll(JOB)).state for _ in range(polls)]


async def poll_failure(comestri: ComestriProvider, job: str = JOB) -> PollFailure:
    with pytest.raises(PollFailure) as failure:
        await comestri.poll(job)
    return failure.value


async def test_success_script_goes_pending_running_succeeded(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    sim.add_job(JOB, success_script())
    assert (
        await states(comestri, 5) == [State.PENDING] * 2 + [State.RUNNING] + [State.SUCCEEDED] * 2
    )


async def test_partial_script_ends_partial_with_its_errors(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    sim.add_job(JOB, partial_script(errors=7))
    last = [await comestri.poll(JOB) for _ in range(3)][-1]
    assert (last.state, last.errors) == (State.PARTIAL, 7)


async def test_failure_script_ends_failed(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    sim.add_job(JOB, failure_script())
    assert (await states(comestri, 3))[-1] is State.FAILED


async def test_canceled_script_ends_canceled(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    sim.add_job(JOB, canceled_script())
    assert await states(comestri, 2) == [State.PENDING, State.CANCELED]


async def test_finished_job_has_a_finished_at_after_its_start(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    sim.add_job(JOB, canceled_script())
    last = [await comestri.poll(JOB) for _ in range(2)][-1]
    assert last.started_at is not None and last.finished_at is not None
    assert last.finished_at >= last.started_at


async def test_legacy_token_with_email_is_accepted(sim: ComestriSimulator) -> None:
    sim.add_job(JOB)
    comestri = provider_for(sim, email="ops@example.com")
    async with comestri.client:
        assert (await comestri.poll(JOB)).state is State.PENDING


async def test_legacy_token_with_the_wrong_email_is_refused(sim: ComestriSimulator) -> None:
    sim.add_job(JOB)
    comestri = provider_for(sim, email="someone@example.com")
    async with comestri.client:
        assert (await poll_failure(comestri)).kind is FailureKind.AUTH


async def test_wrong_token_is_refused_credentials(sim: ComestriSimulator) -> None:
    sim.add_job(JOB)
    comestri = provider_for(sim, token="not-the-token")
    async with comestri.client:
        assert (await poll_failure(comestri)).kind is FailureKind.AUTH


async def test_unknown_job_is_not_found(comestri: ComestriProvider) -> None:
    assert (await poll_failure(comestri, "999999")).kind is FailureKind.NOT_FOUND


async def test_gateway_error_is_a_server_error_then_polls_recover(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    sim.add_job(JOB)
    sim.inject(HttpError(500))
    assert (await poll_failure(comestri)).kind is FailureKind.SERVER_ERROR
    assert (await comestri.poll(JOB)).state is State.PENDING


# --- the job list --------------------------------------------------------------


def add_jobs(
    sim: ComestriSimulator,
    count: int,
    created_by: str = "etl@example.com",
    entity: str = "products",
) -> list[str]:
    """`count` jobs created a minute apart, from a minute after SINCE."""
    ids = [f"2000{n}" for n in range(count)]
    for n, job_id in enumerate(ids):
        created = SINCE + timedelta(minutes=n + 1)
        sim.add_job(job_id, created_by=created_by, entity=entity, created_time=created)
    return ids


async def test_discovery_walks_pages_of_the_list(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    ids = add_jobs(sim, 5)
    assert await comestri.discover({"per_page": 2}, since=SINCE) == ids
    pages = [r.params["page"] for r in sim.requests]
    assert pages == [["1"], ["2"], ["3"]]


async def test_discovery_filters_by_created_by(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    mine = add_jobs(sim, 2, created_by="etl@example.com")
    sim.add_job("30001", created_by="someone@example.com", created_time=SINCE + timedelta(hours=1))
    assert await comestri.discover({"created_by": "etl@example.com"}, since=SINCE) == mine


async def test_discovery_filters_by_entity(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    sim.add_job("30001", entity="orders", created_time=SINCE + timedelta(hours=1))
    add_jobs(sim, 2, entity="products")
    assert await comestri.discover({"entity": "orders"}, since=SINCE) == ["30001"]


async def test_discovery_leaves_out_jobs_created_before_since(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    sim.add_job("10000", created_time=SINCE - timedelta(days=1))
    new = add_jobs(sim, 1)
    assert await comestri.discover({}, since=SINCE) == new


async def test_listing_does_not_move_a_job_on(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    job = sim.add_job(JOB, success_script(), created_time=SINCE + timedelta(minutes=1))
    await comestri.discover({}, since=SINCE)
    assert (job.polls, (await comestri.poll(JOB)).state) == (0, State.PENDING)


async def test_list_with_a_bad_time_is_a_422_with_the_error(sim: ComestriSimulator) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{sim.url}/jobs",
            params={"created_time_from": "yesterday"},
            headers={"Authorization": f"Bearer {sim.token}"},
        )
    assert response.status_code == 422
    assert response.json() == {"error": "created_time_from is not a valid time"}


async def test_credentials_check_accepts_a_working_token(
    sim: ComestriSimulator, comestri: ComestriProvider
) -> None:
    add_jobs(sim, 3)
    assert await comestri.check_credentials() == "token accepted (3 jobs listed)"


async def test_credentials_check_raises_on_a_refused_token(sim: ComestriSimulator) -> None:
    comestri = provider_for(sim, token="not-the-token")
    async with comestri.client:
        with pytest.raises(PollFailure) as failure:
            await comestri.check_credentials()
    assert failure.value.kind is FailureKind.AUTH
