"""Several daemons on one database (SPEC §6): on PostgreSQL each job is polled
by one instance at a time and a dead instance's jobs move to the others; on
SQLite a second daemon refuses to start.

The daemons are real `python -m monitor run` processes, so one can be killed."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import ProgrammingError

from monitor.simulators.base import Step
from monitor.simulators.kpa_flex import KpaFlexSimulator
from monitor.store.store import Store
from monitor.store.tables import jobs
from tests.service.processes import daemon_log, daemon_process

TOKEN = "kpa-token-instances"
JOBS = 60
INTERVAL = 0.5
LEASE = 2.0
pytestmark = pytest.mark.timeout(120)


def job_ids() -> list[str]:
    return [f"{number:024x}" for number in range(1, JOBS + 1)]


def write_config(folder: Path, database: str, url: str, receiver: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    watches = "".join(
        f"  - {{name: load-{number}, provider: hr, job: '{job}'}}\n"
        for number, job in enumerate(job_ids())
    )
    text = textwrap.dedent(f"""\
        database: "{database}"
        lease: {LEASE}s
        defaults:
          poll: {{initial: {INTERVAL}s, factor: 1, max: {INTERVAL}s, jitter: 0}}
          notify: [hook]
          on: [succeeded, failed]
        notifiers:
          hook:
            urls: ["{receiver}"]
        providers:
          hr:
            type: kpa_flex
            base_url: {url}
            token: {TOKEN}
            max_rps: 1000/s
            max_concurrency: 30
        watches:
        """)
    path = folder / "config.yaml"
    path.write_text(text + watches)
    return path


@pytest.fixture
def kpa() -> Iterator[KpaFlexSimulator]:
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as simulator:
        simulator.latency = 0.05  # polls in flight long enough to catch two at once
        yield simulator


def running_then_done(polls: int) -> list[Step]:
    return [Step({"status": "dataloading"}, polls=polls), Step({"status": "dataloaded"})]


def polls_by_job(kpa: KpaFlexSimulator) -> dict[str, list[float]]:
    found: dict[str, list[float]] = defaultdict(list)
    for request in kpa.requests:
        if isinstance(request.json, dict) and request.path.endswith("dataload.info"):
            found[request.json.get("id", "")].append(request.at)
    return found


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def all_ended(database: str) -> bool:
    store = Store(database)
    try:
        found = store.all_jobs()
    except ProgrammingError:  # not migrated yet
        return False
    finally:
        store.close()
    return len(found) == JOBS and all(job.state.terminal for job in found)


def holders(database: str) -> dict[str, str | None]:
    store = Store(database)
    try:
        with store.engine.connect() as db:
            rows = db.execute(select(jobs.c.job_id, jobs.c.lease_owner, jobs.c.lease_until))
            return {job: owner for job, owner, until in rows if until is not None}
    except ProgrammingError:  # not migrated yet
        return {}
    finally:
        store.close()


def start_three(stack: ExitStack, tmp_path: Path, database: str, kpa, receiver) -> list:
    processes = []
    for number in range(3):
        config = write_config(tmp_path / f"instance-{number}", database, kpa.url, receiver.url)
        processes.append((config, stack.enter_context(daemon_process(config))))
    return processes


def test_three_instances_poll_each_job_once_at_a_time_and_announce_each_end_once(
    tmp_path, postgres_url, kpa, json_receiver
):
    for job in job_ids():  # ten polls running, then done: each job ~5 s
        kpa.add_job(
            job, [Step({"status": "dataloading"}, polls=10), Step({"status": "dataloaded"})]
        )
    with ExitStack() as stack:
        processes = start_three(stack, tmp_path, postgres_url, kpa, json_receiver)
        assert wait_until(lambda: all_ended(postgres_url), timeout=60)
        messages = json_receiver.wait_for(JOBS, timeout=20)
        assert all(process.poll() is None for _, process in processes)
    for config, _ in processes:  # no instance crashed, deadlocked or stumbled
        assert "Traceback" not in daemon_log(config)
        assert " ERROR " not in daemon_log(config)
        assert "unavailable" not in daemon_log(config)

    assert kpa.overlaps == 0  # never two polls of one job in flight at once
    for job, times in polls_by_job(kpa).items():
        assert len(times) == 11, job  # ten running answers and the end: no extra polls
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert min(gaps) >= INTERVAL * 0.8, (job, gaps)  # as one poller would
    time.sleep(1.5)  # a late duplicate would have arrived by now
    assert len(json_receiver.messages) == JOBS == len(messages)
    bodies = [message["message"] for message in json_receiver.messages]
    for job in job_ids():
        assert sum(job in body for body in bodies) == 1, job


def test_a_killed_instances_jobs_finish_and_are_announced_by_the_others(
    tmp_path, postgres_url, kpa, json_receiver
):
    for job in job_ids():  # about 12 s of running each
        kpa.add_job(
            job, [Step({"status": "dataloading"}, polls=24), Step({"status": "dataloaded"})]
        )
    with ExitStack() as stack:
        processes = start_three(stack, tmp_path, postgres_url, kpa, json_receiver)
        # Leases are held only from claim to record, so keep the one reading
        # that found several: a second read may catch every poll recorded.
        snapshot: dict[str, str | None] = {}

        def several_held() -> bool:
            snapshot.clear()
            snapshot.update(holders(postgres_url))
            return len(snapshot) >= 5

        assert wait_until(several_held, timeout=20)
        # Kill the instance holding the most jobs right now, mid-poll.
        held = dict(snapshot)
        counts: dict[str, int] = defaultdict(int)
        for owner in held.values():
            counts[owner or ""] += 1
        victim_name = max(counts, key=lambda name: counts[name])
        victim_pid = int(victim_name.rsplit(":", 1)[1])
        victim_jobs = [job for job, owner in held.items() if owner == victim_name]
        os.kill(victim_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        survivors = [p for _, p in processes if p.pid != victim_pid]
        assert wait_until(lambda: all_ended(postgres_url), timeout=60), [
            daemon_log(config) for config, _ in processes
        ]
        json_receiver.wait_for(JOBS, timeout=20)
        assert all(process.poll() is None for process in survivors)

    assert victim_jobs
    polls = polls_by_job(kpa)
    for job in victim_jobs:
        after = [at for at in polls[job] if at > killed_at]
        assert after, job
        # Its lease ran out and another instance took it: within lease + interval.
        assert after[0] - killed_at <= LEASE + INTERVAL + 1.5, (job, after[0] - killed_at)
    time.sleep(1.5)
    bodies = [message["message"] for message in json_receiver.messages]
    for job in job_ids():
        assert sum(job in body for body in bodies) == 1, job
    assert kpa.overlaps == 0


def test_a_second_daemon_on_one_sqlite_file_refuses_to_start_and_polls_nothing(
    tmp_path, kpa, json_receiver
):
    database = f"sqlite:///{tmp_path / 'loadwatch.db'}"
    kpa.add_job(job_ids()[0], [Step({"status": "dataloading"}, polls=10_000)])
    first = write_config(tmp_path / "first", database, kpa.url, json_receiver.url)
    second = write_config(tmp_path / "second", database, kpa.url, json_receiver.url)
    with daemon_process(first) as running:
        assert wait_until(lambda: len(kpa.requests) > 0, timeout=20), daemon_log(first)
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "-c", str(second)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert running.poll() is None
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"loadwatch: another loadwatch daemon (pid {running.pid}) is running on "
        f"{(tmp_path / 'loadwatch.db').resolve()}; one daemon per SQLite file "
        "(use PostgreSQL to run several)"
    ]
    assert "Traceback" not in result.stderr
