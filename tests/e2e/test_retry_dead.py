"""`loadwatch retry` with the daemon running: a delivery that died while its
receiver was down goes out once when the receiver is back and the operator
re-queues it; the healthy URL is not sent to again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

from monitor.simulators.kpa_flex import KpaFlexSimulator, failure_script
from monitor.store.store import Store
from tests.harness import jobs_ended, running
from tests.notify.daemon_config import kpa_simulator, notify_config
from tests.receivers import JsonReceiver

JOB = "5804f0f30ef50473af5870c6"


@pytest.fixture
def kpa() -> Iterator[KpaFlexSimulator]:
    with kpa_simulator() as simulator:
        yield simulator


@pytest.fixture
def flaky() -> Iterator[JsonReceiver]:
    """Down for the first request, then back: with notify_retry_for below one
    retry's wait, that one failure is enough to make the delivery dead."""
    receiver = JsonReceiver(fail_first=1)
    yield receiver
    receiver.close()


async def retry(config, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "monitor", "retry", "-c", str(config.path), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, stdout.decode(), stderr.decode()


def statuses(store: Store) -> dict[str, str]:
    return {row.url_display: row.status for row in store.notifications_of()}


async def test_retry_redelivers_a_dead_message_once_to_the_receiver_that_came_back(
    tmp_path, database_url, kpa, flaky, json_receiver
):
    kpa.add_job(JOB, failure_script())
    team = {"team": {"urls": [flaky.url, json_receiver.url], "notify_retry_for": "0.01s"}}
    config = notify_config(tmp_path, database_url, kpa, team, [("hr", JOB)])
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)
        assert statuses(daemon.store) == {flaky.url: "dead", json_receiver.url: "sent"}

        code, out, _ = await retry(config)
        assert code == 0
        assert f"re-queued 1 to team {flaky.url}" in out
        assert await daemon.wait_until(lambda s: statuses(s)[flaky.url] == "sent", timeout=20)

        code, out, _ = await retry(config)  # nothing dead: nothing goes again
        assert (code, out.strip()) == (0, "no dead deliveries")
        await daemon.outbox.drain_once()

    assert (flaky.requests, len(flaky.messages)) == (2, 1)
    assert flaky.headers[0]["Idempotency-Key"] == f"hr/{JOB}:failed"  # the key it always had
    assert len(json_receiver.messages) == 1


async def test_retry_only_touches_the_named_notifier_and_watch(tmp_path, database_url, kpa):
    down = JsonReceiver(fail_first=1000)
    try:
        for job in ("J1", "J2"):
            kpa.add_job(job, failure_script())
        notifiers = {
            "team": {"urls": [down.url], "notify_retry_for": "0.1s"},
            "ops": {"urls": [down.url + "/ops"], "notify_retry_for": "0.1s"},
        }
        jobs = [("first", "J1"), ("second", "J2")]
        config = notify_config(tmp_path, database_url, kpa, notifiers, jobs)
        async with running(config) as daemon:
            assert await daemon.wait_until(jobs_ended, timeout=20)
        code, out, _ = await retry(config, "team", "--watch", "second")
        assert code == 0 and "re-queued 1 dead deliveries (notifier team, watch second)" in out
        store = Store(database_url)
        pending = [(r.notifier, r.watch) for r in store.notifications_of() if r.status == "pending"]
        store.close()
        assert pending == [("team", "second")]
    finally:
        down.close()


async def test_retry_refuses_an_unknown_notifier(tmp_path, kpa):
    config = notify_config(tmp_path, f"sqlite:///{tmp_path}/x.db", kpa, {}, [])
    code, _, err = await retry(config, "nobody")
    assert code == 1
    assert "no notifier named 'nobody'" in err
