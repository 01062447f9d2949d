"""A daemon with something on its status board, against the Comestri simulator:

- `catalog-imports` discovers six finished runs (four succeeded, one partial,
  one failed), with `deadline: auto`, so its chart has bars and a learned line;
  each run is announced to a working receiver and to a URL nobody listens on,
  whose deliveries end dead;
- `catalog-nightly` holds one job running at 40 % until the test ends it;
- `catalog-queued` holds one job that stays pending;
- `catalog-lost` names a job the provider does not know: unreachable.
"""

from __future__ import annotations

import socket
from pathlib import Path

from monitor.config import Config
from monitor.domain import State
from monitor.simulators.base import Step
from monitor.simulators.comestri import (
    ComestriSimulator,
    failure_script,
    partial_script,
    success_script,
)
from monitor.store.store import Store
from monitor.store.views import Views
from tests.harness import FAST_POLL, write_config

TOKEN = "comestri-board-secret-token-4f1a"
API_TOKEN = "api-board-secret-token-77c3"
READ_TOKEN = "read-board-secret-token-0b9e"
RECEIVER_PASSWORD = "receiver-board-password-91d4"
RUNNING_JOB = "900"
PENDING_JOB = "901"
LOST_JOB = "999"
RUNS = {
    "501": success_script(),
    "502": success_script(),
    "503": partial_script(errors=2),
    "504": success_script(),
    "505": failure_script(),
    "506": success_script(),
}
OTHER_CREATOR = "someone-else@example.com"  # jobs the discovery watch must not pick up


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def running_forever() -> list[Step]:
    return [Step({"status": "processing", "percent_completed": 0.4}, polls=10**9)]


def board_config(
    folder: Path, database_url: str, comestri: ComestriSimulator, receiver_url: str, http: str
) -> Config:
    """`http` is the body of the `http:` block (flow style)."""
    comestri.add_job(RUNNING_JOB, running_forever(), created_by=OTHER_CREATOR)
    pending = [Step({"status": "request_received", "percent_completed": 0}, polls=10**9)]
    comestri.add_job(PENDING_JOB, pending, created_by=OTHER_CREATOR)
    # A password in the URL nobody answers: it must never show on the page or in the API.
    nobody = f"json://loadwatch:{RECEIVER_PASSWORD}@127.0.0.1:{unused_port()}/hook"
    return write_config(
        folder,
        f"""
        database: "{database_url}"
        http: {http}
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          catalog:
            type: comestri
            base_url: {comestri.url}
            token: {TOKEN}
            max_rps: 1000
        notifiers:
          team:
            urls: ["{receiver_url}", "{nobody}"]
            retry: {{initial: 0.05s, factor: 1, max: 0.05s}}
            notify_retry_for: 0.2s
        watches:
          - name: catalog-imports
            provider: catalog
            discover: {{created_by: etl@example.com}}
            discover_every: 0.1s
            deadline: auto
          - name: catalog-nightly
            provider: catalog
            job: "{RUNNING_JOB}"
          - name: catalog-queued
            provider: catalog
            job: "{PENDING_JOB}"
          - name: catalog-lost
            provider: catalog
            job: "{LOST_JOB}"
            unreachable_after: 2
        """,
    )


def start_runs(comestri: ComestriSimulator) -> None:
    """The six loads the discovery watch finds (call once the daemon runs)."""
    for job_id, script in RUNS.items():
        comestri.add_job(job_id, script)


def finish_running_job(comestri: ComestriSimulator) -> None:
    comestri.add_job(
        RUNNING_JOB,
        [Step({"status": "complete", "percent_completed": 1, "result": "Success"})],
        created_by=OTHER_CREATOR,
    )


def board_is_full(store: Store) -> bool:
    """Every run ended and settled, the running job at 40 %, one pending, the
    lost one unreachable; every notification sent or dead."""
    jobs = {job.job_id: job for job in store.all_jobs()}
    runs = [jobs.get(job_id) for job_id in RUNS]
    if any(job is None or not job.state.terminal for job in runs):
        return False
    running, pending = jobs.get(RUNNING_JOB), jobs.get(PENDING_JOB)
    return (
        running is not None
        and running.state == State.RUNNING
        and running.progress == 0.4
        and pending is not None
        and pending.state == State.PENDING
        and LOST_JOB in {job.job_id for job in Views(store.engine).jobs() if job.conditions}
        and store.notification_counts().get("pending", 0) == 0
        and store.notification_counts().get("dead", 0) >= len(RUNS) + 1  # + unreachable
    )


def board_state(store: Store) -> str:
    """What the board holds, for the message of a test that waited in vain."""
    jobs = {
        job.job_id: (job.state.value, job.progress, len(job.conditions))
        for job in Views(store.engine).jobs()
    }
    return f"{jobs} {store.notification_counts()}"


def newest_run(store: Store) -> str:
    """The discovery watch's newest job: the one the now page shows for it."""
    return max((job for job in store.all_jobs() if job.job_id in RUNS), key=lambda j: j.id).job_id
