"""The daemon end to end with Comestri: job watches through every outcome, and
discovery watches that track new jobs from the paged list, on the real
simulator, a real json:// receiver, and SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.domain import State
from monitor.simulators.base import Step
from monitor.simulators.comestri import (
    ComestriSimulator,
    canceled_script,
    failure_script,
    partial_script,
    success_script,
)
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

TOKEN = "comestri-e2e-secret-token-8d2c"
JOB = "102938"


@pytest.fixture
def comestri() -> Iterator[ComestriSimulator]:
    with ComestriSimulator(token=TOKEN) as simulator:
        yield simulator


def job_config(tmp_path: Path, database_url: str, comestri: ComestriSimulator, receiver: str):
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          catalog:
            type: comestri
            base_url: {comestri.url}
            token: {TOKEN}
        notifiers:
          team:
            urls: ["{receiver}"]
            retry: {FAST_RETRY}
        watches:
          - name: catalog-nightly
            provider: catalog
            job: "{JOB}"
        """,
    )


async def run_to_the_end(config) -> None:
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)


# --- one job through each outcome ---------------------------------------------------


async def test_comestri_success_is_recorded_pending_running_succeeded(
    tmp_path, database_url, comestri, json_receiver
):
    comestri.add_job(JOB, success_script())
    await run_to_the_end(job_config(tmp_path, database_url, comestri, json_receiver.url))
    assert recorded_moves(database_url) == [
        ("unknown", "pending", "request_received"),
        ("pending", "running", "processing"),
        ("running", "succeeded", "complete"),
    ]


async def test_comestri_success_sends_one_success_message_with_progress(
    tmp_path, database_url, comestri, json_receiver
):
    comestri.add_job(JOB, success_script())
    await run_to_the_end(job_config(tmp_path, database_url, comestri, json_receiver.url))
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("success", "catalog-nightly succeeded")
    assert f"job: {JOB}" in message["message"]
    assert "progress: 100%" in message["message"]


async def test_comestri_complete_with_errors_sends_one_partial_warning(
    tmp_path, database_url, comestri, json_receiver
):
    comestri.add_job(JOB, partial_script(errors=3, result="Failure"))
    await run_to_the_end(job_config(tmp_path, database_url, comestri, json_receiver.url))
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("warning", "catalog-nightly partial")
    assert "status: complete (partial)" in message["message"]
    assert "errors 3" in message["message"]
    assert "completed with result 'Failure' and 3 errors" in message["message"]


async def test_comestri_fail_to_process_sends_one_failure(
    tmp_path, database_url, comestri, json_receiver
):
    comestri.add_job(JOB, failure_script(status="fail_to_process"))
    await run_to_the_end(job_config(tmp_path, database_url, comestri, json_receiver.url))
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("failure", "catalog-nightly failed")
    assert "status: fail_to_process (failed)" in message["message"]


async def test_comestri_canceled_sends_one_canceled_warning(
    tmp_path, database_url, comestri, json_receiver
):
    comestri.add_job(JOB, canceled_script())
    await run_to_the_end(job_config(tmp_path, database_url, comestri, json_receiver.url))
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("warning", "catalog-nightly canceled")


async def test_comestri_token_never_appears_in_logs_database_or_messages(
    tmp_path, database_url, comestri, json_receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    # A vendor that echoes the request's credentials back in its result text.
    comestri.add_job(
        JOB,
        [
            Step({"status": "processing", "percent_completed": 0.5}),
            Step({"status": "complete", "result": f"Bearer {TOKEN} rejected", "error_count": 1}),
        ],
    )
    await run_to_the_end(job_config(tmp_path, database_url, comestri, json_receiver.url))
    assert "rejected" in json_receiver.messages[0]["message"]
    assert TOKEN not in str(json_receiver.messages)
    assert TOKEN not in caplog.text
    assert TOKEN not in dump_database(database_url)


# --- discovery ------------------------------------------------------------------


def discovery_config(tmp_path: Path, database_url: str, comestri: ComestriSimulator, receiver):
    # per_page: 1 makes every discovery round walk one page per job.
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          catalog:
            type: comestri
            base_url: {comestri.url}
            token: {TOKEN}
        notifiers:
          team:
            urls: ["{receiver}"]
            retry: {FAST_RETRY}
        watches:
          - name: catalog-imports
            provider: catalog
            discover: {{created_by: etl@example.com, per_page: 1}}
            discover_every: 0.1s
        """,
    )


def two_jobs_ended(store: Store) -> bool:
    return len(store.all_jobs()) == 2 and jobs_ended(store)


async def discover_two_new_jobs(config, comestri: ComestriSimulator) -> None:
    """Run the daemon; once it is watching, two jobs appear in the list; wait
    until both ended, were announced, and a few more rounds found nothing new."""
    async with running(config) as daemon:
        comestri.add_job("501", success_script())
        comestri.add_job("502", partial_script(errors=2))
        assert await daemon.wait_until(two_jobs_ended, timeout=20)
        rounds_later = comestri.list_requests + 3 * 2  # three more rounds of two pages
        assert await asyncio.to_thread(comestri.wait_for_list_requests, rounds_later, 20)


async def test_discovered_jobs_are_each_tracked_and_announced_once(
    tmp_path, database_url, comestri, json_receiver
):
    await discover_two_new_jobs(
        discovery_config(tmp_path, database_url, comestri, json_receiver.url), comestri
    )
    store = Store(database_url)
    states = {job.job_id: job.state for job in store.all_jobs("catalog-imports")}
    store.close()
    assert states == {"501": State.SUCCEEDED, "502": State.PARTIAL}
    titles = sorted(m["title"] for m in json_receiver.messages)
    assert titles == ["catalog-imports partial", "catalog-imports succeeded"]
    assert any("job: 501" in m["message"] for m in json_receiver.messages)
    assert any("job: 502" in m["message"] for m in json_receiver.messages)


async def test_discovery_walks_past_the_first_page(tmp_path, database_url, comestri, json_receiver):
    await discover_two_new_jobs(
        discovery_config(tmp_path, database_url, comestri, json_receiver.url), comestri
    )
    lists = [r for r in comestri.requests if r.path == "/api/v2/jobs"]
    assert {r.params["page"][0] for r in lists} == {"1", "2"}
    assert all(r.params["per_page"] == ["1"] for r in lists)


async def test_job_created_before_the_watch_began_is_not_tracked(
    tmp_path, database_url, comestri, json_receiver
):
    comestri.add_job("400", success_script(), created_time=datetime.now(UTC) - timedelta(days=1))
    await discover_two_new_jobs(
        discovery_config(tmp_path, database_url, comestri, json_receiver.url), comestri
    )
    store = Store(database_url)
    assert sorted(job.job_id for job in store.all_jobs()) == ["501", "502"]
    store.close()
    assert not any("job: 400" in m["message"] for m in json_receiver.messages)


async def test_discovered_jobs_are_not_announced_again_after_restart(
    tmp_path, database_url, comestri, json_receiver
):
    config = discovery_config(tmp_path, database_url, comestri, json_receiver.url)
    await discover_two_new_jobs(config, comestri)
    async with running(config):
        listed = comestri.list_requests
        assert await asyncio.to_thread(comestri.wait_for_list_requests, listed + 4, 20)
    assert len(json_receiver.messages) == 2


async def test_discovery_through_a_refused_token_keeps_the_daemon_running(
    tmp_path, database_url, comestri, json_receiver, caplog
):
    comestri.token = "a-rotated-token"  # the config's token is refused from now on
    config = discovery_config(tmp_path, database_url, comestri, json_receiver.url)
    with caplog.at_level(logging.WARNING):
        async with running(config) as daemon:
            assert await asyncio.to_thread(comestri.wait_for_list_requests, 3, 20)
            comestri.token = TOKEN  # the token is accepted again: discovery resumes
            comestri.add_job("501", success_script())
            assert await daemon.wait_until(jobs_ended, timeout=20)
    assert "discovery for catalog-imports failed: credentials refused (HTTP 401)" in caplog.text
    assert [m["title"] for m in json_receiver.messages] == ["catalog-imports succeeded"]
