"""`group_wait` end to end: a hundred jobs ending within the window reach each
notifier URL as one message listing every job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from monitor.clock import Clock
from monitor.simulators.kpa_flex import KpaFlexSimulator, failure_script, success_script
from monitor.store.store import Store
from tests.harness import jobs_ended, running
from tests.notify.daemon_config import kpa_simulator, notify_config

GROUP_WAIT = 300.0
FAILED = {7, 23, 42}


class ShiftedClock(Clock):
    """Real time plus what the test adds: the daemon runs as usual, and the
    test jumps past group_wait instead of waiting it out (and can look at
    the outbox before the window closes)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return super().now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def kpa() -> Iterator[KpaFlexSimulator]:
    with kpa_simulator() as simulator:
        yield simulator


def hundred_jobs(kpa: KpaFlexSimulator) -> list[tuple[str, str]]:
    """A hundred loads that wait, run and end at their third poll, three failing."""
    watches = []
    for n in range(100):
        kpa.add_job(f"load-{n:03d}", failure_script() if n in FAILED else success_script())
        watches.append((f"nightly-{n:03d}", f"load-{n:03d}"))
    return watches


def all_ended_and_held(store: Store) -> bool:
    jobs = store.all_jobs()
    held = store.notification_counts()["pending"] == 200
    return len(jobs) == 100 and all(job.state.terminal for job in jobs) and held


async def test_a_hundred_jobs_ending_within_group_wait_make_one_message_per_notifier_url(
    tmp_path, database_url, kpa, json_receiver, smtp_receiver
):
    notifiers = {
        "team": {"urls": [json_receiver.url], "group_wait": GROUP_WAIT},
        "ops": {"urls": [smtp_receiver.url], "group_wait": GROUP_WAIT},
    }
    config = notify_config(tmp_path, database_url, kpa, notifiers, hundred_jobs(kpa))
    clock = ShiftedClock()

    async with running(config, clock) as daemon:
        assert await daemon.wait_until(all_ended_and_held, timeout=60)
        assert json_receiver.messages == [] and smtp_receiver.messages == []
        clock.advance(GROUP_WAIT)
        daemon.outbox.wake()
        assert await daemon.wait_until(jobs_ended, timeout=60)

    (message,) = json_receiver.messages
    (mail,) = smtp_receiver.messages
    assert message["title"] == mail["Subject"] == "100 jobs: 97 succeeded, 3 failed"
    assert message["type"] == "failure"
    lines = message["message"].splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [
        f"nightly-{n:03d}/load-{n:03d}" for n in range(100)
    ]
    assert [line.split(" · ")[0] for line in lines[:3]] == [
        f"nightly-{n:03d}/load-{n:03d}:failed" for n in sorted(FAILED)
    ]
    store = Store(database_url)
    assert store.notification_counts() == {"sent": 200, "pending": 0, "dead": 0}
    store.close()
