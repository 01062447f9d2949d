"""The Rocket.Chat simulator: the vendor's answers over real HTTP, and the
provider polling it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure, Throttled
from monitor.providers.http import make_client
from monitor.providers.rocketchat import RocketChatProvider, RocketChatSettings
from monitor.simulators.rocketchat import (
    CURRENT_OPERATION,
    FILE_DATA,
    RocketChatSimulator,
    cancelled_script,
    failure_script,
    partial_script,
    success_script,
    waiting_script,
)

WALL = 1_772_432_100.0  # a fixed wall clock: 2026-03-02T06:15:00Z


class Ticker:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[RocketChatSimulator]:
    with RocketChatSimulator(rate_limit=None) as simulator:
        yield simulator


@pytest.fixture
async def chat(sim: RocketChatSimulator) -> AsyncIterator[RocketChatProvider]:
    settings = RocketChatSettings(
        base_url=sim.url, user_id=sim.user_id, auth_token=sim.auth_token, timeout=2
    )
    provider = RocketChatProvider("chat", settings, make_client(settings))
    async with provider.client:
        yield provider


def get(sim: RocketChatSimulator, path: str, **headers: str) -> httpx.Response:
    auth = {"X-User-Id": sim.user_id, "X-Auth-Token": sim.auth_token}
    return httpx.get(f"{sim.url}{path}", headers={**auth, **headers}, timeout=5)


async def states(chat: RocketChatProvider, job: str, polls: int) -> list[State]:
    return [(await chat.poll(job)).state for _ in range(polls)]


async def test_success_goes_pending_running_succeeded(
    sim: RocketChatSimulator, chat: RocketChatProvider
) -> None:
    job = sim.start_operation(success_script())
    assert (
        await states(chat, job, 5) == [State.PENDING] * 2 + [State.RUNNING] + [State.SUCCEEDED] * 2
    )


async def test_partial_ends_done_with_its_error_count(
    sim: RocketChatSimulator, chat: RocketChatProvider
) -> None:
    job = sim.start_operation(partial_script(errors=4))
    last = [await chat.poll(job) for _ in range(3)][-1]
    assert (last.state, last.raw_status, last.errors) == (State.PARTIAL, "importer_done", 4)


async def test_failure_ends_import_failed(
    sim: RocketChatSimulator, chat: RocketChatProvider
) -> None:
    job = sim.start_operation(failure_script())
    assert (await states(chat, job, 3))[-1] is State.FAILED


async def test_cancelled_ends_canceled(sim: RocketChatSimulator, chat: RocketChatProvider) -> None:
    job = sim.start_operation(cancelled_script())
    assert await states(chat, job, 3) == [State.PENDING, State.WAITING, State.CANCELED]


async def test_waiting_holds_at_user_selection(
    sim: RocketChatSimulator, chat: RocketChatProvider
) -> None:
    job = sim.start_operation(waiting_script())
    assert (await states(chat, job, 6))[2:] == [State.WAITING] * 4


async def test_waiting_with_hold_goes_on_once_an_admin_selected(
    sim: RocketChatSimulator, chat: RocketChatProvider
) -> None:
    job = sim.start_operation(waiting_script(hold=2))
    assert await states(chat, job, 6) == [
        State.PENDING,
        State.RUNNING,  # preparing
        State.WAITING,
        State.WAITING,
        State.RUNNING,  # importing
        State.SUCCEEDED,
    ]


async def test_current_tracks_the_operation_under_its_id(
    sim: RocketChatSimulator, chat: RocketChatProvider
) -> None:
    job = sim.start_operation(success_script())
    assert (await chat.poll("current")).job_id == job


async def test_new_operation_supersedes_the_tracked_one(
    sim: RocketChatSimulator, chat: RocketChatProvider
) -> None:
    first = sim.start_operation(waiting_script())
    await chat.poll(first)
    second = sim.start_operation(success_script())
    assert (await chat.poll(first)).superseded_by == second
    assert sim.current_id == second


def test_no_operation_answers_success_without_an_operation_key(sim: RocketChatSimulator) -> None:
    response = get(sim, CURRENT_OPERATION)
    assert (response.status_code, response.json()) == (200, {"success": True})


def test_operation_has_the_documented_fields(sim: RocketChatSimulator) -> None:
    job = sim.start_operation(success_script(), importer="CSV", importer_key="csv")
    operation = get(sim, CURRENT_OPERATION).json()["operation"]
    assert set(operation) >= {"_id", "type", "importerKey", "ts", "status", "valid", "user"}
    assert (operation["_id"], operation["type"], operation["importerKey"]) == (job, "CSV", "csv")
    assert operation["ts"].isdigit()  # epoch ms as text, as the doc example shows


def test_wrong_token_is_401_with_the_documented_body(sim: RocketChatSimulator) -> None:
    response = get(sim, CURRENT_OPERATION, **{"X-Auth-Token": "nope"})
    assert response.status_code == 401
    assert response.json() == {"status": "error", "message": "You must be logged in to do this."}


async def test_provider_sees_a_wrong_token_as_refused_credentials(
    sim: RocketChatSimulator,
) -> None:
    settings = RocketChatSettings(base_url=sim.url, user_id=sim.user_id, auth_token="wrong")
    provider = RocketChatProvider("chat", settings, make_client(settings))
    async with provider.client:
        with pytest.raises(PollFailure) as failure:
            await provider.poll("current")
    assert failure.value.kind is FailureKind.AUTH


async def test_user_without_run_import_is_refused_credentials(
    sim: RocketChatSimulator, chat: RocketChatProvider
) -> None:
    sim.can_import = False
    sim.start_operation()
    with pytest.raises(PollFailure) as failure:
        await chat.poll("current")
    assert failure.value.kind is FailureKind.AUTH
    assert "[error-unauthorized]" in failure.value.reason


def test_unknown_endpoint_is_404(sim: RocketChatSimulator) -> None:
    assert get(sim, "/api/v1/getImportProgres").status_code == 404


def test_get_import_file_data_is_counted(sim: RocketChatSimulator) -> None:
    sim.start_operation(success_script())
    get(sim, CURRENT_OPERATION)  # importer_new
    assert get(sim, FILE_DATA).json() == {"waiting": True, "success": True}
    assert sim.file_data_calls == 1


async def test_provider_never_calls_get_import_file_data(
    sim: RocketChatSimulator, chat: RocketChatProvider
) -> None:
    job = sim.start_operation(success_script())
    await states(chat, job, 5)
    assert sim.file_data_calls == 0
    assert {request.path for request in sim.requests} == {CURRENT_OPERATION}


# --- rate limit ------------------------------------------------------------------------------


def limited(ticker: Ticker, limit: int = 10) -> RocketChatSimulator:
    return RocketChatSimulator(rate_limit=limit, clock=ticker, wall_clock=lambda: WALL).start()


def test_eleventh_call_in_a_minute_is_429_with_reset_in_epoch_ms() -> None:
    ticker = Ticker()
    sim = limited(ticker)
    try:
        answers = [get(sim, CURRENT_OPERATION) for _ in range(11)]
    finally:
        sim.stop()
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    refused = answers[-1]
    assert refused.headers["X-RateLimit-Reset"] == str(int((WALL + 60) * 1000))
    assert refused.headers["X-RateLimit-Limit"] == "10"
    assert "[error-too-many-requests]" in refused.json()["error"]


def test_rate_limit_counts_each_endpoint_on_its_own() -> None:
    sim = limited(Ticker(), limit=1)
    try:
        codes = [get(sim, path).status_code for path in (CURRENT_OPERATION, FILE_DATA)]
    finally:
        sim.stop()
    assert codes == [200, 200]


def test_rate_limit_lifts_when_the_window_ends() -> None:
    ticker = Ticker()
    sim = limited(ticker, limit=1)
    try:
        get(sim, CURRENT_OPERATION)
        refused = get(sim, CURRENT_OPERATION).status_code
        ticker.now = 60.0
        allowed = get(sim, CURRENT_OPERATION).status_code
    finally:
        sim.stop()
    assert (refused, allowed) == (429, 200)


async def test_provider_is_throttled_until_the_reset_time() -> None:
    sim = RocketChatSimulator(rate_limit=1, clock=Ticker()).start()  # the real wall clock
    settings = RocketChatSettings(base_url=sim.url, user_id=sim.user_id, auth_token=sim.auth_token)
    provider = RocketChatProvider("chat", settings, make_client(settings))
    try:
        sim.start_operation()
        async with provider.client:
            await provider.poll("current")
            with pytest.raises(Throttled) as throttled:
                await provider.poll("current")
    finally:
        sim.stop()
    assert throttled.value.retry_after == pytest.approx(60, abs=5)


# --- time-based steps (the demo) ---------------------------------------------------------------


async def test_seconds_steps_move_with_the_clock_not_the_polls() -> None:
    ticker = Ticker()
    with RocketChatSimulator(rate_limit=None, clock=ticker) as sim:
        settings = RocketChatSettings(
            base_url=sim.url, user_id=sim.user_id, auth_token=sim.auth_token
        )
        provider = RocketChatProvider("chat", settings, make_client(settings))
        job = sim.start_operation(success_script(seconds=2.0))
        async with provider.client:
            early = [(await provider.poll(job)).raw_status for _ in range(3)]
            ticker.now = 4.5
            later = (await provider.poll(job)).raw_status
    assert early == ["importer_new"] * 3
    assert later == "importer_importing_messages"
