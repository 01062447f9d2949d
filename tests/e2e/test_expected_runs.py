"""Expected runs end to end: a discovery watch with `expect:` sees no new job
by its deadline and sends `missing` (Apprise failure); when the simulator then
creates the job, discovery finds it and `recovered` follows, for the same
missed deadline. With Comestri and Rocket.Chat, SQLite and PostgreSQL.

Deadlines are every 2 s so the test is quick; the deadline after the
recovery may be missed again, so the assertions follow the first one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from monitor.simulators.comestri import ComestriSimulator
from monitor.simulators.comestri import success_script as comestri_success
from monitor.simulators.rocketchat import RocketChatSimulator
from monitor.simulators.rocketchat import success_script as chat_success
from monitor.store.expectations import missing_watches
from tests.harness import FAST_POLL, FAST_RETRY, running, write_config
from tests.receivers import JsonReceiver

TOKEN = "comestri-expect-token-77aa"
USER_ID = "expect-user"
AUTH_TOKEN = "rocketchat-expect-token-1b2c"
WATCH = "nightly-import"


@pytest.fixture
def comestri() -> Iterator[ComestriSimulator]:
    with ComestriSimulator(token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def chat() -> Iterator[RocketChatSimulator]:
    with RocketChatSimulator(user_id=USER_ID, auth_token=AUTH_TOKEN, rate_limit=None) as simulator:
        yield simulator


def expecting(tmp_path, database_url, receiver, provider_block: str, discover: str):
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          source: {provider_block}
        notifiers:
          team: {{urls: ["{receiver.url}"], retry: {FAST_RETRY}}}
        watches:
          - name: {WATCH}
            provider: source
            discover: {discover}
            discover_every: 0.1s
            expect: {{every: 2s}}
        """,
    )


def recovered_sent(store) -> bool:
    return any(n.event == "recovered" and n.status == "sent" for n in store.notifications_of())


async def missing_then_recovered(config, receiver: JsonReceiver, create: Callable[[], object]):
    async with running(config) as daemon:
        (missing,) = await asyncio.to_thread(receiver.wait_for, 1, 20)
        status = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "monitor", "status", "-c", str(config.path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert f"missing: {WATCH} (no new job by " in status.stdout
        create()
        assert await daemon.wait_until(recovered_sent, 20)
    messages = receiver.messages
    assert (missing["title"], missing["type"]) == (f"{WATCH} missing", "failure")
    assert "no new job since" in missing["message"]
    key = next(line for line in missing["message"].splitlines() if line.startswith("key: "))
    recovered = [m for m in messages if m["title"] == f"{WATCH} recovered"]
    assert len(recovered) == 1, [m["title"] for m in messages]
    assert recovered[0]["type"] == "info"
    assert f"{key}:recovered" in recovered[0]["message"]
    assert "a new job was found at" in recovered[0]["message"]


async def test_comestri_load_that_never_came_is_missing_then_recovered(
    tmp_path, database_url, comestri, json_receiver
):
    block = f"{{type: comestri, base_url: {comestri.url}, token: {TOKEN}}}"
    config = expecting(tmp_path, database_url, json_receiver, block, "{created_by: etl@x}")
    await missing_then_recovered(
        config,
        json_receiver,
        lambda: comestri.add_job("901", comestri_success(), created_by="etl@x"),
    )


async def test_rocketchat_import_that_never_came_is_missing_then_recovered(
    tmp_path, database_url, chat, json_receiver
):
    block = (
        f"{{type: rocketchat, base_url: {chat.url}, user_id: {USER_ID},"
        f" auth_token: {AUTH_TOKEN}, max_rps: 200}}"
    )
    config = expecting(tmp_path, database_url, json_receiver, block, "{}")
    await missing_then_recovered(
        config, json_receiver, lambda: chat.start_operation(chat_success())
    )


async def test_dropping_expect_from_the_config_forgets_the_missing_run(
    tmp_path, database_url, comestri, json_receiver
):
    block = f"{{type: comestri, base_url: {comestri.url}, token: {TOKEN}}}"
    config = expecting(tmp_path, database_url, json_receiver, block, "{created_by: etl@x}")
    async with running(config) as daemon:
        await asyncio.to_thread(json_receiver.wait_for, 1, 20)  # missing
        assert missing_watches(daemon.store.engine)
        config.path.write_text(config.path.read_text().replace("expect: {every: 2s}", ""))
        assert await daemon.reload("test")
        assert await daemon.expectations.check() == 0
        assert missing_watches(daemon.store.engine) == {}
