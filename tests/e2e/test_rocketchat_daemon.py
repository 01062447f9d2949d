"""The daemon end to end with Rocket.Chat: `job: current` through every outcome,
an operation superseded by a newer one, and `discover: {}` tracking successive
operations; on the real simulator, a real json:// receiver, and SQLite and
PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.domain import State
from monitor.simulators.rocketchat import (
    CURRENT_OPERATION,
    RocketChatSimulator,
    cancelled_script,
    failure_script,
    partial_script,
    success_script,
    waiting_script,
)
from monitor.store.records import JobRecord
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

USER_ID = "rcE2eUserQ8wX3kLm"
AUTH_TOKEN = "rc-e2e-secret-auth-token-71b3"
WATCH = "chat-import"


@pytest.fixture
def chat() -> Iterator[RocketChatSimulator]:
    with RocketChatSimulator(user_id=USER_ID, auth_token=AUTH_TOKEN, rate_limit=None) as simulator:
        yield simulator


def chat_config(
    tmp_path: Path, database_url: str, chat: RocketChatSimulator, receiver: str, watch: str
):
    # max_rps is raised from the 4/min default so the test runs at FAST_POLL.
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          chat:
            type: rocketchat
            base_url: {chat.url}
            user_id: {USER_ID}
            auth_token: {AUTH_TOKEN}
            max_rps: 200
        notifiers:
          team:
            urls: ["{receiver}"]
            retry: {FAST_RETRY}
        watches:
          - name: {WATCH}
            provider: chat
            {watch}
        """,
    )


def current_config(tmp_path, database_url, chat, receiver):
    return chat_config(tmp_path, database_url, chat, receiver, "job: current")


def the_job(database_url: str) -> JobRecord:
    store = Store(database_url)
    try:
        (job,) = store.all_jobs()
        return job
    finally:
        store.close()


async def run_to_the_end(config) -> None:
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)


# --- job: current through each outcome ------------------------------------------------


async def test_current_is_tracked_under_the_operation_id(
    tmp_path, database_url, chat, json_receiver
):
    operation = chat.start_operation(success_script())
    await run_to_the_end(current_config(tmp_path, database_url, chat, json_receiver.url))
    job = the_job(database_url)
    assert (job.job_id, job.state) == (operation, State.SUCCEEDED)


async def test_success_is_recorded_pending_running_succeeded(
    tmp_path, database_url, chat, json_receiver
):
    chat.start_operation(success_script())
    await run_to_the_end(current_config(tmp_path, database_url, chat, json_receiver.url))
    assert recorded_moves(database_url) == [
        ("unknown", "pending", "importer_new"),
        ("pending", "running", "importer_importing_messages"),
        ("running", "succeeded", "importer_done"),
    ]


async def test_success_sends_one_success_notification_naming_the_operation(
    tmp_path, database_url, chat, json_receiver
):
    operation = chat.start_operation(success_script(total=120))
    await run_to_the_end(current_config(tmp_path, database_url, chat, json_receiver.url))
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("success", f"{WATCH} succeeded")
    assert f"job: {operation}" in message["message"]
    assert "processed 120" in message["message"]


async def test_done_with_errors_sends_one_partial_warning_with_the_error_count(
    tmp_path, database_url, chat, json_receiver
):
    chat.start_operation(partial_script(total=120, errors=3))
    await run_to_the_end(current_config(tmp_path, database_url, chat, json_receiver.url))
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("warning", f"{WATCH} partial")
    assert "errors 3" in message["message"]
    assert "import done with 3 records in error" in message["message"]


async def test_import_failed_sends_one_failure_notification(
    tmp_path, database_url, chat, json_receiver
):
    chat.start_operation(failure_script())
    await run_to_the_end(current_config(tmp_path, database_url, chat, json_receiver.url))
    assert recorded_moves(database_url)[-1] == ("running", "failed", "importer_import_failed")
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("failure", f"{WATCH} failed")
    assert "importer_import_failed" in message["message"]


async def test_cancelled_import_sends_one_canceled_warning_after_waiting(
    tmp_path, database_url, chat, json_receiver
):
    chat.start_operation(cancelled_script())
    await run_to_the_end(current_config(tmp_path, database_url, chat, json_receiver.url))
    assert recorded_moves(database_url) == [
        ("unknown", "pending", "importer_new"),
        ("pending", "waiting", "importer_user_selection"),
        ("waiting", "canceled", "importer_import_cancelled"),
    ]
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("warning", f"{WATCH} canceled")


async def test_user_selection_is_recorded_as_waiting_and_notifies_nothing_yet(
    tmp_path, database_url, chat, json_receiver
):
    chat.start_operation(waiting_script())

    def waiting(store: Store) -> bool:
        return any(job.state is State.WAITING for job in store.all_jobs())

    async with running(current_config(tmp_path, database_url, chat, json_receiver.url)) as daemon:
        assert await daemon.wait_until(waiting, timeout=20)
    job = the_job(database_url)
    assert (job.raw_status, job.next_poll_at is not None) == ("importer_user_selection", True)
    assert "admin" in (job.message or "")
    assert json_receiver.messages == []  # the `waiting` event comes after stall_after


async def test_get_import_file_data_is_never_called(tmp_path, database_url, chat, json_receiver):
    chat.start_operation(success_script())
    await run_to_the_end(current_config(tmp_path, database_url, chat, json_receiver.url))
    assert chat.file_data_calls == 0
    assert {request.path for request in chat.requests} == {CURRENT_OPERATION}


async def test_restart_keeps_tracking_the_same_operation_not_a_new_current(
    tmp_path, database_url, chat, json_receiver
):
    first = chat.start_operation(success_script())
    config = current_config(tmp_path, database_url, chat, json_receiver.url)
    await run_to_the_end(config)
    chat.start_operation(success_script())  # a later import: not this watch's job
    polls = len(chat.requests)

    async with running(config) as daemon:
        assert scheduled_polls(daemon.store) == 0
    assert [job.job_id for job in Store(database_url).all_jobs()] == [first]
    assert len(chat.requests) == polls
    assert len(json_receiver.messages) == 1


# --- superseded --------------------------------------------------------------------------


async def test_operation_replaced_by_a_newer_one_stays_waiting_marked_superseded(
    tmp_path, database_url, chat, json_receiver
):
    first = chat.start_operation(waiting_script())

    def waiting(store: Store) -> bool:
        return any(job.state is State.WAITING for job in store.all_jobs())

    def superseded(store: Store) -> bool:
        return any("superseded_by" in job.details for job in store.all_jobs())

    async with running(current_config(tmp_path, database_url, chat, json_receiver.url)) as daemon:
        assert await daemon.wait_until(waiting, timeout=20)
        second = chat.start_operation(success_script())
        assert await daemon.wait_until(superseded, timeout=20)
    job = the_job(database_url)
    assert (job.job_id, job.state, job.raw_status) == (
        first,
        State.WAITING,
        "importer_user_selection",
    )
    assert job.details["superseded_by"] == second
    assert job.message == f"superseded by import operation {second}"
    assert job.next_poll_at is None
    assert json_receiver.messages == []


# --- secrets ----------------------------------------------------------------------------------


async def test_user_id_and_token_never_reach_logs_database_or_messages(
    tmp_path, database_url, chat, json_receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    chat.start_operation(partial_script())
    await run_to_the_end(current_config(tmp_path, database_url, chat, json_receiver.url))
    assert json_receiver.messages
    for secret in (USER_ID, AUTH_TOKEN):
        assert secret not in str(json_receiver.messages)
        assert secret not in caplog.text
        assert secret not in dump_database(database_url)


# --- discover: {} -------------------------------------------------------------------------------


def two_jobs_ended(store: Store) -> bool:
    return len(store.all_jobs()) == 2 and jobs_ended(store)


def one_job_ended(store: Store) -> bool:
    return len(store.all_jobs()) == 1 and jobs_ended(store)


async def test_discover_tracks_two_successive_operations(
    tmp_path, database_url, chat, json_receiver
):
    config = chat_config(
        tmp_path,
        database_url,
        chat,
        json_receiver.url,
        "discover: {}\n            discover_every: 0.1s",
    )
    async with running(config) as daemon:
        first = chat.start_operation(success_script())
        assert await daemon.wait_until(one_job_ended, timeout=20)
        second = chat.start_operation(partial_script(errors=2))
        assert await daemon.wait_until(two_jobs_ended, timeout=20)
    store = Store(database_url)
    states = {job.job_id: job.state for job in store.all_jobs(WATCH)}
    store.close()
    assert states == {first: State.SUCCEEDED, second: State.PARTIAL}
    titles = sorted(m["title"] for m in json_receiver.messages)
    assert titles == [f"{WATCH} partial", f"{WATCH} succeeded"]
    assert chat.file_data_calls == 0
