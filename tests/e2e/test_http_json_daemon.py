"""The daemon end to end with an http_json provider: a small Airbyte-shaped job
API on loopback, the block that maps it, SQLite and PostgreSQL, and a real
json:// receiver."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from monitor.config import Config
from monitor.domain import State
from monitor.simulators.base import RecordedRequest, Reply, ScriptedJob, Simulator, Step
from monitor.store.store import Store
from tests.harness import (
    FAST_POLL,
    FAST_RETRY,
    dump_database,
    jobs_ended,
    recorded_moves,
    running,
    write_config,
)

TOKEN = "airbyte-e2e-secret-token-5d21"
JOB = "4242"


class AirbyteSimulator(Simulator):
    """Airbyte's public job API as far as a poll sees it: `GET /v1/jobs/{jobId}`
    with a bearer token, answering a JobResponse; problem+json errors."""

    base_path = "/v1"

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self._jobs: dict[str, ScriptedJob] = {}
        self._lock = threading.Lock()

    def add_job(self, job_id: str, steps: list[Step]) -> None:
        with self._lock:
            self._jobs[job_id] = ScriptedJob(steps)

    def handle(self, request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _problem(401, "unauthorized", "Invalid or expired access token")
        prefix = f"{self.base_path}/jobs/"
        job_id = request.path.removeprefix(prefix)
        with self._lock:
            job = self._jobs.get(job_id) if request.path.startswith(prefix) else None
        if request.method != "GET" or job is None:
            return _problem(404, "resource-not-found", f"Could not find job with id: {job_id}")
        fields = job.answer()
        return Reply.json({"jobId": int(job_id), "jobType": "sync", **fields})


def _problem(status: int, title: str, detail: str) -> Reply:
    body = {"type": "https://reference.airbyte.com/reference/errors", "title": title}
    return Reply.json({**body, "status": status, "detail": detail}, status)


def sync_script() -> list[Step]:
    started = {"startTime": "2026-03-02T06:15:00Z", "connectionId": "9a8b7c6d"}
    return [
        Step({**started, "status": "pending", "rowsSynced": 0}),
        Step({**started, "status": "running", "rowsSynced": 18000}),
        Step({**started, "status": "succeeded", "rowsSynced": 54000, "duration": "PT6M12S"}),
    ]


@pytest.fixture
def airbyte() -> AirbyteSimulator:
    with AirbyteSimulator(TOKEN) as simulator:
        yield simulator


def airbyte_config(
    tmp_path: Path, database_url: str, airbyte: AirbyteSimulator, receiver_url: str
) -> Config:
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          airbyte:
            type: http_json
            base_url: {airbyte.url}
            request:
              url: /jobs/{{job}}
              headers: {{Authorization: "Bearer {TOKEN}"}}
            status: status
            rules:
              - {{when: "status == 'pending'", state: pending}}
              - {{when: "contains(['running', 'incomplete'], status)", state: running}}
              - {{when: "status == 'succeeded'", state: succeeded}}
              - {{when: "status == 'failed'", state: failed}}
              - {{when: "status == 'cancelled'", state: canceled}}
            counts: {{processed: rowsSynced}}
            started_at: startTime
        notifiers:
          team:
            urls: ["{receiver_url}"]
            retry: {FAST_RETRY}
        watches:
          - name: warehouse-sync
            provider: airbyte
            job: "{JOB}"
        """,
    )


async def test_http_json_job_is_recorded_pending_running_succeeded(
    tmp_path, database_url, airbyte, json_receiver
):
    airbyte.add_job(JOB, sync_script())
    config = airbyte_config(tmp_path, database_url, airbyte, json_receiver.url)

    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)

    moves = recorded_moves(database_url)
    store = Store(database_url)
    assert moves == [
        ("unknown", "pending", "pending"),
        ("pending", "running", "running"),
        ("running", "succeeded", "succeeded"),
    ]
    (job,) = store.all_jobs()
    assert (job.state, job.processed) == (State.SUCCEEDED, 54000)
    store.close()


async def test_http_json_success_sends_exactly_one_success_notification(
    tmp_path, database_url, airbyte, json_receiver
):
    airbyte.add_job(JOB, sync_script())
    config = airbyte_config(tmp_path, database_url, airbyte, json_receiver.url)

    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)

    assert len(json_receiver.messages) == 1
    message = json_receiver.messages[0]
    assert (message["type"], message["title"]) == ("success", "warehouse-sync succeeded")
    assert JOB in message["message"]


async def test_http_json_header_token_never_appears_in_logs_database_or_messages(
    tmp_path, database_url, airbyte, json_receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    airbyte.add_job(JOB, sync_script())
    config = airbyte_config(tmp_path, database_url, airbyte, json_receiver.url)

    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)

    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in airbyte.requests)
    assert json_receiver.messages, "the success must have been delivered"
    assert TOKEN not in str(json_receiver.messages)
    assert TOKEN not in caplog.text
    assert TOKEN not in dump_database(database_url)
