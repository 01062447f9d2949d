"""The shared simulator framework: scripted jobs, rate limits, faults, the request log."""

from __future__ import annotations

import httpx
import pytest

from monitor.simulators.base import (
    Drop,
    HttpError,
    RateLimit,
    RecordedRequest,
    Reply,
    ScriptedJob,
    Simulator,
    Step,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Echo(Simulator):
    base_path = "/api"

    def handle(self, request: RecordedRequest) -> Reply:
        return Reply.json({"method": request.method, "json": request.json})


def test_scripted_job_answers_each_step_for_its_polls_and_holds_the_last() -> None:
    job = ScriptedJob([({"s": "a"}, 2), ({"s": "b"}, 1), ({"s": "c"}, 1)])
    assert [job.answer()["s"] for _ in range(6)] == ["a", "a", "b", "c", "c", "c"]
    assert job.polls == 6


def test_timed_steps_follow_the_clock_not_the_polls() -> None:
    clock = Clock()
    job = ScriptedJob(
        [Step({"s": "a"}, seconds=10), Step({"s": "b"}, seconds=10), Step({"s": "c"})], clock=clock
    )
    assert job.answer()["s"] == "a"
    clock.now += 25  # past both timed steps in one go
    assert job.answer()["s"] == "c"


def test_rate_limit_locks_out_then_lets_through() -> None:
    clock = Clock()
    limit = RateLimit(2, window=60, lockout=30, clock=clock)
    assert [limit.hit(), limit.hit(), limit.hit()] == [None, None, 30]
    clock.now += 29
    assert limit.hit() == pytest.approx(1)
    clock.now += 1
    assert limit.hit() is None


def test_rate_limit_without_lockout_waits_for_the_window() -> None:
    clock = Clock()
    limit = RateLimit(1, window=10, clock=clock)
    limit.hit()
    clock.now += 4
    assert limit.hit() == pytest.approx(6)


async def test_faults_answer_the_next_requests_then_the_simulator_does() -> None:
    with Echo() as sim:
        sim.inject(HttpError(503), times=2)
        sim.inject(Drop())
        async with httpx.AsyncClient() as client:
            statuses = [(await client.get(sim.url)).status_code for _ in range(2)]
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(sim.url)
            last = await client.post(f"{sim.url}/x?a=1", json={"k": 1})
    assert statuses == [503, 503]
    assert last.json() == {"method": "POST", "json": {"k": 1}}
    logged = sim.requests
    assert len(logged) == 4
    assert (logged[-1].path, logged[-1].params) == ("/api/x", {"a": ["1"]})
    assert logged[0].at <= logged[-1].at


async def test_stopped_simulator_hangs_up_kept_alive_connections() -> None:
    sim = Echo().start()
    url = sim.url
    async with httpx.AsyncClient() as client:
        await client.get(url)
        sim.stop()
        with pytest.raises(httpx.TransportError):
            await client.get(url)
