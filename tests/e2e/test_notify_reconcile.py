"""Reconciling at start (SPEC §2): what was detected but not sent is sent,
nothing sent is sent again, and a job that ended while the daemon was down
is announced once, at its next poll."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from monitor.domain import State
from monitor.simulators.base import Step
from monitor.simulators.kpa_flex import KpaFlexSimulator, failure_script, success_script
from monitor.store.store import Store
from tests.harness import jobs_ended, running
from tests.notify.daemon_config import kpa_simulator, notify_config
from tests.receivers import JsonReceiver

JOB = "5804f0f30ef50473af5870c6"
WATCH = [("hr-nightly", JOB)]


@pytest.fixture
def kpa() -> Iterator[KpaFlexSimulator]:
    with kpa_simulator() as simulator:
        yield simulator


def polls_of(kpa: KpaFlexSimulator) -> int:
    return sum(1 for request in kpa.requests if request.json and request.json.get("id") == JOB)


async def test_a_notification_detected_but_unsent_before_a_stop_is_sent_after_restart(
    tmp_path, database_url, kpa
):
    receiver = JsonReceiver(fail_first=1_000_000)
    try:
        kpa.add_job(JOB, failure_script())
        config = notify_config(
            tmp_path, database_url, kpa, {"team": {"urls": [receiver.url]}}, WATCH
        )
        async with running(config) as daemon:
            assert await daemon.wait_until(lambda store: receiver.requests >= 1, timeout=30)
        assert receiver.messages == []

        receiver.fail_first = 0  # the receiver recovers while the daemon is down
        async with running(config) as daemon:
            assert await daemon.wait_until(jobs_ended, timeout=30)
    finally:
        receiver.close()
    assert [message["title"] for message in receiver.messages] == ["hr-nightly failed"]
    assert polls_of(kpa) == 3  # delivered from the outbox, not by asking the provider again


async def test_nothing_sent_is_sent_again_after_a_restart(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, success_script())
    config = notify_config(
        tmp_path, database_url, kpa, {"team": {"urls": [json_receiver.url]}}, WATCH
    )
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=30)

    async with running(config) as daemon:
        assert await daemon.outbox.drain_once() == 0  # nothing left to claim
    assert len(json_receiver.messages) == 1
    assert polls_of(kpa) == 3


async def test_a_job_that_ended_while_the_daemon_was_down_is_announced_once(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, [Step({"status": "dataload"}), Step({"status": "dataloading"}, polls=10**9)])
    config = notify_config(
        tmp_path, database_url, kpa, {"team": {"urls": [json_receiver.url]}}, WATCH
    )

    def running_job(store: Store) -> bool:
        return [job.state for job in store.all_jobs()] == [State.RUNNING]

    async with running(config) as daemon:
        assert await daemon.wait_until(running_job, timeout=30)
    kpa.add_job(JOB, [Step({"status": "dataloaded", "history": "Loaded 250 rows"})])

    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=30)
    async with running(config) as daemon:
        assert await daemon.outbox.drain_once() == 0

    (message,) = await asyncio.to_thread(json_receiver.wait_for, 1)
    assert message["title"] == "hr-nightly succeeded"
    assert len(json_receiver.messages) == 1
