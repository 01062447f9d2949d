"""The daemon end to end with KPA Flex: config → poll → database → Apprise, on
the real simulator, a real json:// receiver, and SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from monitor.domain import State
from monitor.simulators.kpa_flex import KpaFlexSimulator, failure_script, success_script
from monitor.store.store import Store
from tests.harness import (
    FAST_POLL,
    FAST_RETRY,
    dump_database,
    jobs_ended,
    recorded_moves,
    running,
    scheduled_polls,
    write_config,
)
from tests.receivers import JsonReceiver

TOKEN = "kpa-e2e-secret-token-4f9a"
JOB = "5804f0f30ef50473af5870c6"


@pytest.fixture
def kpa() -> KpaFlexSimulator:
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as simulator:
        yield simulator


def kpa_config(tmp_path: Path, database_url: str, kpa: KpaFlexSimulator, receiver_url: str):
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          hr:
            type: kpa_flex
            base_url: {kpa.url}
            token: {TOKEN}
            max_rps: 1000
        notifiers:
          team:
            urls: ["{receiver_url}"]
            retry: {FAST_RETRY}
        watches:
          - name: hr-nightly
            provider: hr
            job: "{JOB}"
        """,
    )


def polls_of(simulator: KpaFlexSimulator, job_id: str) -> int:
    return sum(1 for r in simulator.requests if r.json and r.json.get("id") == job_id)


async def test_kpa_success_is_recorded_pending_running_succeeded(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, success_script())
    config = kpa_config(tmp_path, database_url, kpa, json_receiver.url)

    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)

    moves = recorded_moves(database_url)
    store = Store(database_url)
    assert moves == [
        ("unknown", "pending", "dataload"),
        ("pending", "running", "dataloading"),
        ("running", "succeeded", "dataloaded"),
    ]
    (job,) = store.all_jobs()
    assert job.state == State.SUCCEEDED and job.next_poll_at is None
    store.close()


async def test_kpa_success_sends_exactly_one_success_notification(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, success_script())
    config = kpa_config(tmp_path, database_url, kpa, json_receiver.url)

    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)

    assert len(json_receiver.messages) == 1
    message = json_receiver.messages[0]
    assert message["type"] == "success"
    assert message["title"] == "hr-nightly succeeded"
    assert JOB in message["message"]
    assert f"hr-nightly/{JOB}:succeeded" in message["message"]


async def test_kpa_error_sends_one_failure_notification_with_history(
    tmp_path, database_url, kpa, json_receiver
):
    history = "Queued\nRow 12: 'hired_on' is not a date\nAborted"
    kpa.add_job(JOB, failure_script(history=history))
    config = kpa_config(tmp_path, database_url, kpa, json_receiver.url)

    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)

    assert len(json_receiver.messages) == 1
    message = json_receiver.messages[0]
    assert message["type"] == "failure"
    assert message["title"] == "hr-nightly failed"
    assert "Row 12: 'hired_on' is not a date" in message["message"]


async def test_terminal_job_is_never_polled_again_even_after_restart(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, success_script())
    config = kpa_config(tmp_path, database_url, kpa, json_receiver.url)
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)
        assert scheduled_polls(daemon.store) == 0
    assert polls_of(kpa, JOB) == 3

    async with running(config) as daemon:
        # The restarted daemon schedules nothing: the job is terminal in the database.
        assert scheduled_polls(daemon.store) == 0
        assert await daemon.wait_until(jobs_ended, timeout=5)
    assert polls_of(kpa, JOB) == 3
    assert len(json_receiver.messages) == 1


async def test_receiver_failing_twice_gets_the_message_once_after_retries(
    tmp_path, database_url, kpa
):
    receiver = JsonReceiver(fail_first=2)
    try:
        kpa.add_job(JOB, success_script())
        config = kpa_config(tmp_path, database_url, kpa, receiver.url)
        async with running(config) as daemon:
            assert await daemon.wait_until(jobs_ended, timeout=20)
        assert receiver.requests == 3
        assert len(receiver.messages) == 1
    finally:
        receiver.close()
    (notification,) = Store(database_url).notifications_of("hr-nightly")
    assert notification.status == "sent"
    assert notification.attempts == 3


async def test_token_never_appears_in_logs_database_or_messages(
    tmp_path, database_url, kpa, json_receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    # A vendor that echoes the request back into its free-text history.
    kpa.add_job(JOB, failure_script(history=f"request token={TOKEN} rejected row 3"))
    config = kpa_config(tmp_path, database_url, kpa, json_receiver.url)

    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)

    assert json_receiver.messages, "the failure must have been delivered"
    assert "rejected row 3" in json_receiver.messages[0]["message"]
    assert TOKEN not in str(json_receiver.messages)
    assert TOKEN not in caplog.text
    assert TOKEN not in dump_database(database_url)


async def test_unsent_notification_is_delivered_after_restart(tmp_path, database_url, kpa):
    receiver = JsonReceiver(fail_first=1_000_000)
    kpa.add_job(JOB, failure_script())
    config = kpa_config(tmp_path, database_url, kpa, receiver.url)
    try:
        async with running(config) as daemon:
            assert await daemon.wait_until(lambda store: receiver.requests >= 1, timeout=20)
        assert receiver.messages == []

        receiver.fail_first = 0  # the receiver comes back while the daemon is down
        async with running(config):
            assert await asyncio.to_thread(receiver.wait_for, 1, 10)
        assert [m["type"] for m in receiver.messages] == ["failure"]
    finally:
        receiver.close()
    assert polls_of(kpa, JOB) == 3
