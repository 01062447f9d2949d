"""The Incorta simulator: the vendor's answers over real HTTP, and the provider
polling it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure
from monitor.providers.http import make_client
from monitor.providers.incorta import IncortaProvider, IncortaSettings
from monitor.simulators.incorta import (
    DEFAULT_LAYOUT,
    IncortaError,
    IncortaSimulator,
    failure_script,
    partial_script,
    plan_script,
    success_script,
)


class Ticker:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[IncortaSimulator]:
    with IncortaSimulator(tenant="Acme") as simulator:
        yield simulator


def provider_for(sim: IncortaSimulator, **changes: Any) -> IncortaProvider:
    values: dict[str, Any] = {"tenant": sim.tenant, "token": sim.token, "timeout": 2}
    settings = IncortaSettings(base_url=sim.url, **{**values, **changes})
    return IncortaProvider("bi", settings, make_client(settings))


@pytest.fixture
async def incorta(sim: IncortaSimulator) -> AsyncIterator[IncortaProvider]:
    provider = provider_for(sim)
    async with provider.client:
        yield provider


def get(sim: IncortaSimulator, execution: str, query: str = "", **headers: str) -> httpx.Response:
    url = f"{sim.url}/api/v2/{sim.tenant}/load-plan/status/{execution}{query}"
    auth = {"Authorization": f"Bearer {sim.token}"}
    return httpx.get(url, headers={**auth, **headers}, timeout=5)


async def poll_failure(provider: IncortaProvider, execution: str) -> PollFailure:
    with pytest.raises(PollFailure) as failure:
        await provider.poll(execution)
    return failure.value


# --- scripts ---------------------------------------------------------------------------------


async def test_success_runs_with_rising_progress_then_succeeds(
    sim: IncortaSimulator, incorta: IncortaProvider
) -> None:
    execution = sim.add_execution(success_script())
    statuses = [await incorta.poll(execution) for _ in range(5)]
    assert [s.state for s in statuses] == [State.RUNNING] * 4 + [State.SUCCEEDED]
    assert [s.progress for s in statuses[:4]] == [0.0, 0.25, 0.5, 0.75]


async def test_partial_ends_finished_with_errors_naming_the_failed_table(
    sim: IncortaSimulator, incorta: IncortaProvider
) -> None:
    execution = sim.add_execution(partial_script())
    last = [await incorta.poll(execution) for _ in range(5)][-1]
    assert (last.state, last.raw_status) == (State.PARTIAL, "Finished with Errors")
    assert last.children == ("Group 1 / OnlineStore / OnlineStore.productmodel: Failed",)


async def test_failure_ends_aborted(sim: IncortaSimulator, incorta: IncortaProvider) -> None:
    execution = sim.add_execution(failure_script())
    last = [await incorta.poll(execution) for _ in range(5)][-1]
    assert (last.state, last.raw_status) == (State.FAILED, "Aborted")
    assert last.children == ("Group 1 / OnlineStore / OnlineStore.customers: Failed",)


async def test_a_failed_table_in_every_group_still_finishes_with_errors(
    sim: IncortaSimulator, incorta: IncortaProvider
) -> None:
    execution = sim.add_execution(partial_script(["OnlineStore.customers", "Sales.orders"]))
    last = [await incorta.poll(execution) for _ in range(5)][-1]
    assert (last.state, last.raw_status) == (State.PARTIAL, "Finished with Errors")


async def test_plan_whose_every_table_failed_is_failed(
    sim: IncortaSimulator, incorta: IncortaProvider
) -> None:
    tables = [t for schemas in DEFAULT_LAYOUT.values() for ts in schemas.values() for t in ts]
    execution = sim.add_execution(plan_script(failing=tables))
    last = [await incorta.poll(execution) for _ in range(5)][-1]
    assert (last.state, last.raw_status) == (State.FAILED, "Failed")
    assert len(last.children) == len(tables)


async def test_queued_plan_is_pending_with_a_status_map(sim: IncortaSimulator) -> None:
    provider = provider_for(sim, status_map={"In Queue": "pending"})
    execution = sim.add_execution(success_script())
    async with provider.client:
        first, second = [(await provider.poll(execution)).state for _ in range(2)]
    assert (first, second) == (State.PENDING, State.RUNNING)


def test_execution_ids_count_up(sim: IncortaSimulator) -> None:
    assert [sim.add_execution(), sim.add_execution()] == ["1", "2"]


# --- levels ------------------------------------------------------------------------------------


def depth(node: dict[str, Any]) -> int:
    children = node.get("childStatusDetails")
    return 1 + max((depth(child) for child in children), default=0) if children else 1


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_level_prunes_the_tree_to_that_depth(sim: IncortaSimulator, level: int) -> None:
    execution = sim.add_execution(success_script())
    assert depth(get(sim, execution, f"?level={level}").json()) == level


def test_level_defaults_to_the_plan_alone(sim: IncortaSimulator) -> None:
    execution = sim.add_execution(success_script())
    body = get(sim, execution).json()
    assert "childStatusDetails" not in body
    assert body["status"] == {"stateType": "Load State", "jobStatus": "In Queue"}


def test_invalid_level_is_400(sim: IncortaSimulator) -> None:
    execution = sim.add_execution(success_script())
    response = get(sim, execution, "?level=7")
    assert response.status_code == 400
    assert response.json()["message"].startswith("INC_")


# --- errors -----------------------------------------------------------------------------------


def test_wrong_token_is_401_with_an_inc_message(sim: IncortaSimulator) -> None:
    response = get(sim, sim.add_execution(), Authorization="Bearer nope")
    assert response.status_code == 401
    assert response.json()["message"].startswith("INC_")


async def test_provider_sees_a_wrong_token_as_refused_credentials(sim: IncortaSimulator) -> None:
    provider = provider_for(sim, token="wrong")
    async with provider.client:
        failure = await poll_failure(provider, sim.add_execution())
    assert failure.kind is FailureKind.AUTH


async def test_tenant_is_case_sensitive(sim: IncortaSimulator) -> None:
    provider = provider_for(sim, tenant="acme")
    async with provider.client:
        failure = await poll_failure(provider, sim.add_execution())
    assert failure.kind is FailureKind.REJECTED
    assert "Tenant [acme]" in failure.reason


async def test_unknown_execution_is_job_not_found(incorta: IncortaProvider) -> None:
    failure = await poll_failure(incorta, "99")
    assert failure.kind is FailureKind.NOT_FOUND
    assert "INC_" in failure.reason


async def test_non_integer_execution_id_is_rejected(incorta: IncortaProvider) -> None:
    failure = await poll_failure(incorta, "nightly")
    assert failure.kind is FailureKind.REJECTED


async def test_injected_500_reaches_the_provider_with_its_message(
    sim: IncortaSimulator, incorta: IncortaProvider
) -> None:
    sim.inject(IncortaError(500, "INC_00000001: Loader service unavailable"))
    failure = await poll_failure(incorta, sim.add_execution())
    assert failure.kind is FailureKind.SERVER_ERROR
    assert "INC_00000001: Loader service unavailable" in failure.reason


async def test_check_credentials_accepts_a_good_token(incorta: IncortaProvider) -> None:
    assert (await incorta.check_credentials()).startswith("token accepted")


# --- time-based steps (the demo) -----------------------------------------------------------------


async def test_seconds_steps_move_with_the_clock_not_the_polls() -> None:
    ticker = Ticker()
    with IncortaSimulator(clock=ticker) as sim:
        provider = provider_for(sim)
        execution = sim.add_execution(plan_script(per_step=2, seconds=1.0))
        async with provider.client:
            early = [(await provider.poll(execution)).progress for _ in range(3)]
            ticker.now = 10.0
            later = await provider.poll(execution)
    assert early == [0.0] * 3
    assert later.state is State.SUCCEEDED
