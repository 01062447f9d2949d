"""Conditions end to end: the daemon, the KPA simulator, a real json://
receiver, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor import report
from monitor.simulators.base import HttpError, Step
from monitor.simulators.kpa_flex import KpaFlexSimulator
from monitor.store.conditions import ConditionStore
from monitor.store.store import Store
from tests.harness import FAST_POLL, FAST_RETRY, running, write_config

TOKEN = "kpa-conditions-secret-token-93ab"
RUNNING = {"status": "dataloading", "history": "Loading"}
DONE = {"status": "dataloaded", "history": "Loaded"}


def config_text(database_url: str, kpa: KpaFlexSimulator, receiver: str, jobs, *, token=TOKEN,
                policy: str = "") -> str:  # fmt: skip
    watches = "".join(
        f"""
          - name: load-{index}
            provider: hr
            job: "{job}\""""
        for index, job in enumerate(jobs)
    )
    return f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
          {policy}
        providers:
          hr:
            type: kpa_flex
            base_url: {kpa.url}
            token: {token}
            max_rps: 50
        notifiers:
          team:
            urls: ["{receiver}"]
            retry: {FAST_RETRY}
        watches:{watches}
        """


def job_ids(count: int) -> list[str]:
    return [f"{index:024x}" for index in range(1, count + 1)]


def settled(store: Store) -> bool:
    return store.notification_counts().get("pending", 0) == 0


async def test_three_5xx_give_one_unreachable_then_one_recovered(
    tmp_path: Path, database_url, json_receiver
):
    (job,) = job_ids(1)
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa:
        kpa.add_job(job, [Step(RUNNING, polls=5), Step(DONE)])
        kpa.inject(HttpError(503), times=3)
        text = config_text(
            database_url, kpa, json_receiver.url, [job], policy="unreachable_after: 3"
        )
        async with running(write_config(tmp_path, text)) as daemon:
            ended = await daemon.wait_until(
                lambda store: store.all_jobs()[0].state.terminal and settled(store), timeout=30
            )
            assert ended
    titles = [message["title"] for message in json_receiver.messages]
    assert titles == ["load-0 unreachable", "load-0 recovered", "load-0 succeeded"]
    assert "server error (HTTP 503)" in json_receiver.messages[0]["message"]


async def test_refused_credentials_on_ten_jobs_give_one_message_naming_all(
    tmp_path: Path, database_url, json_receiver
):
    jobs = job_ids(10)
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa:
        for job in jobs:
            kpa.add_job(job, [Step(RUNNING, polls=100_000)])
        text = config_text(
            database_url, kpa, json_receiver.url, jobs, token="wrong-token",
            policy="unreachable_after: 2",
        )  # fmt: skip
        async with running(write_config(tmp_path, text)) as daemon:
            conditions = ConditionStore(daemon.store.engine)

            def all_ten_unreachable(store: Store) -> bool:
                return len(conditions.open_by_job()) == 10 and settled(store)

            assert await daemon.wait_until(all_ten_unreachable, timeout=30)
            # Every job goes on failing: no job adds a message of its own.
            polls = sum(job.polls for job in daemon.store.all_jobs())
            assert await daemon.wait_until(
                lambda store: sum(j.polls for j in store.all_jobs()) >= polls + 20, timeout=30
            )
            assert await daemon.wait_until(settled, timeout=10)
            assert len(json_receiver.messages) == 1
    (message,) = json_receiver.messages
    assert message["title"] == "provider hr: 10 unreachable"
    assert all(job in message["message"] for job in jobs)
    assert "credentials refused" in message["message"]


async def test_credentials_accepted_again_give_one_recovered_for_the_provider(
    tmp_path: Path, database_url, json_receiver
):
    jobs = job_ids(3)
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa:
        for job in jobs:
            kpa.add_job(job, [Step(RUNNING, polls=100_000)])
        args = (database_url, kpa, json_receiver.url, jobs)
        config = write_config(
            tmp_path, config_text(*args, token="wrong-token", policy="unreachable_after: 1")
        )
        async with running(config) as daemon:
            conditions = ConditionStore(daemon.store.engine)
            assert await daemon.wait_until(lambda _: len(conditions.open_by_job()) == 3, 30)
            config.path.write_text(config_text(*args, policy="unreachable_after: 1"))
            assert await daemon.reload("test")

            def recovered(store: Store) -> bool:
                good = all(job.consecutive_failures == 0 for job in store.all_jobs())
                return good and not conditions.open_by_job() and settled(store)

            assert await daemon.wait_until(recovered, timeout=30)
    titles = [message["title"] for message in json_receiver.messages]
    assert titles == ["provider hr: 3 unreachable", "provider hr: 3 recovered"]
    assert all(job in json_receiver.messages[1]["message"] for job in jobs)


async def test_stalled_and_overdue_fire_between_polls_and_repeat(
    tmp_path: Path, database_url, json_receiver
):
    (job,) = job_ids(1)
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa:
        kpa.add_job(job, [Step(RUNNING, polls=100_000)])
        text = config_text(database_url, kpa, json_receiver.url, [job]).replace(
            f"poll: {FAST_POLL}",
            "poll: {initial: 1h, max: 1h}\n          stall_after: 1s\n"
            "          deadline: 2s\n          repeat: 1s",
        )
        async with running(write_config(tmp_path, text)) as daemon:
            await asyncio.to_thread(json_receiver.wait_for, 4, 20)
            rows = await asyncio.to_thread(report.status_rows, daemon.store)
            polls = len(kpa.requests)
    keys = [_key(message["message"]) for message in json_receiver.messages[:4]]
    prefix = f"load-0/{job}"
    assert keys[0] == f"{prefix}:stalled:1"
    assert set(keys[1:4]) >= {f"{prefix}:overdue:1", f"{prefix}:stalled:2"}
    assert polls == 1  # all of it between two polls an hour apart
    assert {c["kind"] for c in rows[0]["conditions"]} == {"stalled", "overdue"}


def _key(body: str) -> str:
    return next(line for line in body.splitlines() if line.startswith("key: ")).removeprefix(
        "key: "
    )


async def test_a_stalled_job_that_ends_sends_its_end_without_a_separate_recovered(
    tmp_path: Path, database_url, json_receiver
):
    (job,) = job_ids(1)
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa:
        kpa.add_job(job, [Step(RUNNING, polls=3), Step(DONE)])
        text = config_text(database_url, kpa, json_receiver.url, [job]).replace(
            f"poll: {FAST_POLL}",
            "poll: {initial: 1s, factor: 1, max: 1s, jitter: 0}\n          stall_after: 0.5s",
        )
        async with running(write_config(tmp_path, text)) as daemon:
            ended = await daemon.wait_until(
                lambda store: store.all_jobs()[0].state.terminal and settled(store), timeout=30
            )
            assert ended
            rows = await asyncio.to_thread(report.status_rows, daemon.store)
    keys = [_key(message["message"]) for message in json_receiver.messages]
    prefix = f"load-0/{job}"
    # The end says it all: the stall it cleared gets no message of its own.
    assert keys == [f"{prefix}:stalled:1", f"{prefix}:succeeded"]
    assert rows[0]["conditions"] == []
