"""Hot reload end to end: the running daemon follows edits of its config file
(in place, by rename, and on SIGHUP) and refuses broken ones."""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from monitor.simulators.base import Step
from monitor.simulators.kpa_flex import KpaFlexSimulator, success_script
from tests.e2e.engine_config import RUNNING, SOURCE, TOKEN, config_text, polls_of
from tests.harness import jobs_ended, running, write_config

KEEP, OTHER = "a" * 24, "b" * 24


@pytest.fixture
def kpa():
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as simulator:
        for job in (KEEP, OTHER):
            simulator.add_job(job, [Step(RUNNING, polls=100_000)])
        yield simulator


async def more_polls(daemon, kpa, job: str, count: int) -> None:
    """Wait until `job` has been polled `count` more times."""
    target = polls_of(kpa, job) + count
    assert await daemon.wait_until(lambda _: polls_of(kpa, job) >= target, timeout=30)


async def test_a_watch_added_to_the_file_starts(tmp_path, database_url, kpa):
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}))
    async with running(config) as daemon:
        await more_polls(daemon, kpa, KEEP, 1)
        config.path.write_text(config_text(database_url, kpa, {"keep": KEEP, "new": OTHER}))
        await more_polls(daemon, kpa, OTHER, 1)
        assert [w.name for w in daemon.config.watches] == ["keep", "new"]


async def test_a_watch_removed_from_the_file_stops(tmp_path, database_url, kpa):
    both = {"keep": KEEP, "gone": OTHER}
    config = write_config(tmp_path, config_text(database_url, kpa, both))
    async with running(config) as daemon:
        await more_polls(daemon, kpa, OTHER, 1)
        config.path.write_text(config_text(database_url, kpa, {"keep": KEEP}))
        assert await daemon.wait_until(lambda _: daemon.live.reloads == 1, timeout=30)
        await more_polls(daemon, kpa, KEEP, 2)  # a poll in flight at the reload has landed
        stopped_at = polls_of(kpa, OTHER)
        await more_polls(daemon, kpa, KEEP, 5)
        assert polls_of(kpa, OTHER) == stopped_at
        assert [w.name for w in daemon.store.active_watches()] == ["keep"]


async def test_a_broken_edit_is_refused_and_polling_goes_on(tmp_path, database_url, kpa, caplog):
    caplog.set_level(logging.ERROR)
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}))
    async with running(config) as daemon:
        broken = config_text(database_url, kpa, {"keep": KEEP, "new": OTHER})
        config.path.write_text(broken.replace("provider: hr", "provider: nowhere", 1))
        assert await daemon.wait_until(lambda _: daemon.live.refusals == 1, timeout=30)
        await more_polls(daemon, kpa, KEEP, 3)
        assert [w.name for w in daemon.config.watches] == ["keep"]
    assert polls_of(kpa, OTHER) == 0
    assert f"{config.path}:7: " in caplog.text  # FILE:LINE of the bad watch
    assert "nowhere" in caplog.text


async def test_a_file_replaced_by_rename_is_reloaded(tmp_path, database_url, kpa):
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}))
    async with running(config) as daemon:
        await more_polls(daemon, kpa, KEEP, 1)
        saved = tmp_path / ".config.yaml.tmp"
        saved.write_text(config_text(database_url, kpa, {"keep": KEEP, "new": OTHER}))
        os.replace(saved, config.path)
        await more_polls(daemon, kpa, OTHER, 1)


async def test_a_changed_watch_keeps_its_history_and_sent_notifications(
    tmp_path, database_url, json_receiver
):
    notify = f'  notify: [team]\nnotifiers:\n  team: {{urls: ["{json_receiver.url}"]}}\n'
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa:
        kpa.add_job(KEEP, success_script())
        kpa.add_job(OTHER, success_script())
        text = config_text(database_url, kpa, {"nightly": KEEP}, notify=notify)
        config = write_config(tmp_path, text)
        async with running(config) as daemon:
            assert await daemon.wait_until(jobs_ended, timeout=30)
            config.path.write_text(text.replace(KEEP, OTHER))
            assert await daemon.wait_until(
                lambda store: len(store.all_jobs()) == 2 and jobs_ended(store), timeout=30
            )
            notifications = daemon.store.notifications_of("nightly")
    assert [n.dedupe_key for n in notifications] == [
        f"nightly/{KEEP}:succeeded",
        f"nightly/{OTHER}:succeeded",
    ]
    assert len(json_receiver.messages) == 2
    assert polls_of(kpa, KEEP) == 3  # the finished job was not asked again


async def test_a_corrected_job_id_stops_polling_the_wrong_one(tmp_path, database_url, kpa):
    typo = "c" * 24  # not a job KPA knows: every poll fails
    config = write_config(tmp_path, config_text(database_url, kpa, {"nightly": typo}))
    async with running(config) as daemon:
        await more_polls(daemon, kpa, typo, 2)
        config.path.write_text(config_text(database_url, kpa, {"nightly": KEEP}))
        await more_polls(daemon, kpa, KEEP, 2)
        stopped_at = polls_of(kpa, typo)
        await more_polls(daemon, kpa, KEEP, 5)
        assert polls_of(kpa, typo) == stopped_at
        jobs = {job.job_id: job for job in daemon.store.all_jobs("nightly")}
    assert jobs[typo].retired_at is not None and jobs[KEEP].retired_at is None


async def test_changed_poll_settings_take_effect_at_once(tmp_path, database_url, kpa):
    hourly = "{initial: 1h, max: 1h}"
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}, poll=hourly))
    async with running(config) as daemon:
        await more_polls(daemon, kpa, KEEP, 1)
        config.path.write_text(config_text(database_url, kpa, {"keep": KEEP}))
        await more_polls(daemon, kpa, KEEP, 3)


def test_sighup_reloads_the_config(tmp_path, database_url, kpa):
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADWATCH_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(config.path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONPATH": SOURCE},
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()

    def wait_for(text: str) -> None:
        while text not in lines.get(timeout=30):
            pass

    try:
        wait_for("loadwatch running")
        process.send_signal(signal.SIGHUP)
        wait_for("config applied (SIGHUP)")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
