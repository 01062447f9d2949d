"""The daemon end to end with Incorta: a load plan execution through every
outcome, the failed tables named in the message; on the real simulator, a real
json:// receiver, and SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.domain import State
from monitor.simulators.incorta import (
    IncortaSimulator,
    failure_script,
    partial_script,
    plan_script,
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

TOKEN = "incorta-e2e-secret-token-5e0d"
TENANT = "Acme"
WATCH = "bi-nightly"
FAILING = ["OnlineStore.productmodel", "Sales.order_lines"]


@pytest.fixture
def incorta() -> Iterator[IncortaSimulator]:
    with IncortaSimulator(tenant=TENANT, token=TOKEN) as simulator:
        yield simulator


def incorta_config(
    tmp_path: Path, database_url: str, incorta: IncortaSimulator, receiver: str, job: str
):
    # status_map makes Incorta's queued plan `pending` (the built-in rules call
    # every plan in Load State running).
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          bi:
            type: incorta
            base_url: {incorta.url}
            tenant: {TENANT}
            token: {TOKEN}
            status_map:
              In Queue: pending
        notifiers:
          team:
            urls: ["{receiver}"]
            retry: {FAST_RETRY}
        watches:
          - name: {WATCH}
            provider: bi
            job: "{job}"
        """,
    )


async def run_plan(tmp_path, database_url, incorta, receiver, script) -> str:
    execution = incorta.add_execution(script)
    config = incorta_config(tmp_path, database_url, incorta, receiver, execution)
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)
    return execution


async def test_success_is_recorded_pending_running_succeeded(
    tmp_path, database_url, incorta, json_receiver
):
    await run_plan(tmp_path, database_url, incorta, json_receiver.url, success_script())
    assert recorded_moves(database_url) == [
        ("unknown", "pending", "In Queue"),
        ("pending", "running", "In Progress"),
        ("running", "succeeded", "Succeeded"),
    ]


async def test_success_sends_one_success_notification(
    tmp_path, database_url, incorta, json_receiver
):
    execution = await run_plan(tmp_path, database_url, incorta, json_receiver.url, success_script())
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("success", f"{WATCH} succeeded")
    assert f"job: {execution}" in message["message"]
    assert "did not succeed" not in message["message"]


async def test_finished_with_errors_sends_one_partial_warning_naming_the_failed_tables(
    tmp_path, database_url, incorta, json_receiver
):
    await run_plan(tmp_path, database_url, incorta, json_receiver.url, partial_script(FAILING))
    assert recorded_moves(database_url)[-1] == ("running", "partial", "Finished with Errors")
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("warning", f"{WATCH} partial")
    assert "Group 1 / OnlineStore / OnlineStore.productmodel: Failed" in message["message"]
    assert "Group 2 / Sales / Sales.order_lines: Failed" in message["message"]
    assert "OnlineStore.customers" not in message["message"]


async def test_failed_tables_are_kept_on_the_job(tmp_path, database_url, incorta, json_receiver):
    await run_plan(tmp_path, database_url, incorta, json_receiver.url, partial_script(FAILING))
    (job,) = Store(database_url).all_jobs()
    assert (job.state, job.children) == (
        State.PARTIAL,
        [
            "Group 1 / OnlineStore / OnlineStore.productmodel: Failed",
            "Group 2 / Sales / Sales.order_lines: Failed",
        ],
    )


async def test_aborted_plan_sends_one_failure_naming_the_failed_table(
    tmp_path, database_url, incorta, json_receiver
):
    await run_plan(tmp_path, database_url, incorta, json_receiver.url, failure_script("Aborted"))
    assert recorded_moves(database_url)[-1] == ("running", "failed", "Aborted")
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("failure", f"{WATCH} failed")
    assert "Group 1 / OnlineStore / OnlineStore.customers: Failed" in message["message"]


async def test_canceled_plan_sends_one_canceled_warning(
    tmp_path, database_url, incorta, json_receiver
):
    script = plan_script(failing=["Sales.orders"], outcome="Canceled")
    await run_plan(tmp_path, database_url, incorta, json_receiver.url, script)
    assert recorded_moves(database_url)[-1] == ("running", "canceled", "Canceled")
    (message,) = json_receiver.messages
    assert (message["type"], message["title"]) == ("warning", f"{WATCH} canceled")


async def test_polls_ask_for_level_4_under_the_tenant(
    tmp_path, database_url, incorta, json_receiver
):
    execution = await run_plan(tmp_path, database_url, incorta, json_receiver.url, success_script())
    paths = {(r.path, r.query) for r in incorta.requests}
    assert paths == {(f"/incorta/api/v2/{TENANT}/load-plan/status/{execution}", "level=4")}


async def test_token_never_reaches_logs_database_or_messages(
    tmp_path, database_url, incorta, json_receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    await run_plan(tmp_path, database_url, incorta, json_receiver.url, partial_script(FAILING))
    assert json_receiver.messages
    assert TOKEN not in str(json_receiver.messages)
    assert TOKEN not in caplog.text
    assert TOKEN not in dump_database(database_url)
