"""The daemon end to end with FullStory batch imports: every outcome with its
counts in the message, and the vendor's 429 rate limit, on the real simulator,
a real json:// receiver, and SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.domain import State
from monitor.simulators.fullstory import (
    FullStorySimulator,
    RateLimited,
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

API_KEY = "fullstory-e2e-secret-key-31b7"
JOB = "abd123="


@pytest.fixture
def fullstory() -> Iterator[FullStorySimulator]:
    with FullStorySimulator(api_key=API_KEY, rate_limit=None) as simulator:
        yield simulator


def fullstory_config(tmp_path: Path, database_url: str, fullstory: FullStorySimulator, receiver):
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          analytics:
            type: fullstory
            base_url: {fullstory.url}
            api_key: {API_KEY}
            kind: users
        notifiers:
          team:
            urls: ["{receiver}"]
            retry: {FAST_RETRY}
        watches:
          - name: user-import
            provider: analytics
            job: "{JOB}"
        """,
    )


async def run_to_the_end(config) -> None:
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)


def the_job(database_url: str):
    store = Store(database_url)
    try:
        (job,) = store.all_jobs()
        return job
    finally:
        store.close()


async def test_fullstory_success_is_recorded_running_then_succeeded(
    tmp_path, database_url, fullstory, json_receiver
):
    fullstory.add_job(JOB, success_script(), kind="users")
    await run_to_the_end(fullstory_config(tmp_path, database_url, fullstory, json_receiver.url))
    moves = recorded_moves(database_url)
    assert moves == [
        ("unknown", "running", "PROCESSING"),
        ("running", "succeeded", "COMPLETED"),
    ]


async def test_fullstory_success_sends_one_success_message_with_its_counts(
    tmp_path, database_url, fullstory, json_receiver
):
    fullstory.add_job(JOB, success_script(imports=1200), kind="users")
    await run_to_the_end(fullstory_config(tmp_path, database_url, fullstory, json_receiver.url))
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("success", "user-import succeeded")
    assert "processed 1,200" in message["message"]
    assert "errors 0" in message["message"]


async def test_fullstory_failed_with_imports_sends_one_partial_warning_with_counts(
    tmp_path, database_url, fullstory, json_receiver
):
    fullstory.add_job(JOB, partial_script(imports=42, errors=2), kind="users")
    await run_to_the_end(fullstory_config(tmp_path, database_url, fullstory, json_receiver.url))
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("warning", "user-import partial")
    assert "status: FAILED (partial)" in message["message"]
    assert "processed 42" in message["message"]
    assert "errors 2" in message["message"]


async def test_fullstory_failed_with_nothing_imported_sends_one_failure(
    tmp_path, database_url, fullstory, json_receiver
):
    fullstory.add_job(JOB, failure_script(errors=17), kind="users")
    await run_to_the_end(fullstory_config(tmp_path, database_url, fullstory, json_receiver.url))
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("failure", "user-import failed")
    assert "errors 17" in message["message"]


async def test_fullstory_job_without_id_in_answers_is_tracked_by_its_watched_id(
    tmp_path, database_url, fullstory, json_receiver
):
    fullstory.add_job(JOB, success_script(), kind="users", with_id=False)
    await run_to_the_end(fullstory_config(tmp_path, database_url, fullstory, json_receiver.url))
    job = the_job(database_url)
    assert (job.job_id, job.state) == (JOB, State.SUCCEEDED)


async def test_fullstory_429_is_waited_out_without_a_failed_poll(
    tmp_path, database_url, fullstory, json_receiver
):
    script = fullstory.add_job(JOB, success_script(), kind="users")
    fullstory.inject(RateLimited(retry_after=1))  # the first poll is answered 429
    await run_to_the_end(fullstory_config(tmp_path, database_url, fullstory, json_receiver.url))
    job = the_job(database_url)
    assert (job.state, job.failed_polls) == (State.SUCCEEDED, 0)
    assert len(fullstory.requests) - script.polls == 1  # one answered 429, then waited out
    assert [m["type"] for m in json_receiver.messages] == ["success"]


async def test_fullstory_key_never_appears_in_logs_database_or_messages(
    tmp_path, database_url, fullstory, json_receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    fullstory.add_job(JOB, partial_script(), kind="users")
    await run_to_the_end(fullstory_config(tmp_path, database_url, fullstory, json_receiver.url))
    assert json_receiver.messages
    assert API_KEY not in str(json_receiver.messages)
    assert API_KEY not in caplog.text
    assert API_KEY not in dump_database(database_url)
