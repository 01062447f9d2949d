"""Run-time watches end to end: `loadwatch watch` / `unwatch` from a child
process, picked up by a running daemon; `Daemon.add_watch` (the HTTP API's
way in); reloads that leave them alone."""

from __future__ import annotations

import asyncio
import time

import pytest

from monitor.engine.runtime_watches import WatchRefused, default_name, runtime_spec
from monitor.simulators.base import Step
from monitor.simulators.kpa_flex import KpaFlexSimulator
from monitor.store.store import WatchSpec
from tests.e2e.engine_config import RUNNING, TOKEN, config_text, loadwatch, polls_of
from tests.harness import running, write_config

KEEP, ADDED = "a" * 24, "d" * 24
PICKUP = 15.0  # generous: SPEC promises 5 s, measured ~2 s; a loaded machine is slower


@pytest.fixture
def kpa():
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as simulator:
        for job in (KEEP, ADDED):
            simulator.add_job(job, [Step(RUNNING, polls=100_000)])
        yield simulator


async def cli(*args: str):
    return await asyncio.to_thread(loadwatch, *args)


async def test_watch_from_the_cli_is_polled_by_a_running_daemon(tmp_path, database_url, kpa):
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}))
    async with running(config) as daemon:
        done = await cli("watch", "hr", ADDED, "-c", str(config.path))
        assert done.returncode == 0, done.stderr
        added = time.monotonic()
        assert await daemon.wait_until(lambda _: polls_of(kpa, ADDED) >= 1, timeout=PICKUP)
        print(f"picked up and polled {time.monotonic() - added:.2f}s after `watch` returned")
        assert f"hr-{ADDED}" in daemon.live.wiring.watches


async def test_unwatch_from_the_cli_stops_polling(tmp_path, database_url, kpa):
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}))
    async with running(config) as daemon:
        assert await daemon.add_watch(WatchSpec(name="extra", provider="hr", job=ADDED))
        assert await daemon.wait_until(lambda _: polls_of(kpa, ADDED) >= 2, timeout=PICKUP)
        done = await cli("unwatch", "extra", "-c", str(config.path))
        assert done.returncode == 0, done.stderr
        assert await daemon.wait_until(
            lambda _: "extra" not in daemon.live.wiring.watches, timeout=PICKUP
        )
        keep = polls_of(kpa, KEEP)
        assert await daemon.wait_until(lambda _: polls_of(kpa, KEEP) >= keep + 2, 30)
        stopped_at = polls_of(kpa, ADDED)
        assert await daemon.wait_until(lambda _: polls_of(kpa, KEEP) >= keep + 7, 30)
        assert polls_of(kpa, ADDED) == stopped_at


async def test_daemon_add_watch_polls_at_once(tmp_path, database_url, kpa):
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}))
    async with running(config) as daemon:
        assert await daemon.add_watch(WatchSpec(name="api", provider="hr", job=ADDED))
        assert "api" in daemon.live.wiring.watches  # no waiting for the next look
        assert await daemon.wait_until(lambda _: polls_of(kpa, ADDED) >= 1, timeout=PICKUP)
        assert not await daemon.add_watch(WatchSpec(name="api", provider="hr", job=KEEP))


async def test_a_config_reload_never_removes_a_runtime_watch(tmp_path, database_url, kpa):
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}))
    async with running(config) as daemon:
        assert await daemon.add_watch(WatchSpec(name="extra", provider="hr", job=ADDED))
        config.path.write_text(config_text(database_url, kpa, {}))
        assert await daemon.reload("test")
        polled = polls_of(kpa, ADDED)
        assert await daemon.wait_until(lambda _: polls_of(kpa, ADDED) >= polled + 3, 30)
        assert [w.name for w in daemon.store.active_watches()] == ["extra"]


async def test_a_runtime_watch_takes_the_config_defaults_and_what_was_given(
    tmp_path, database_url, kpa, json_receiver
):
    notify = f'  repeat: 1h\nnotifiers:\n  team: {{urls: ["{json_receiver.url}"]}}\n'
    config = write_config(tmp_path, config_text(database_url, kpa, {}, notify=notify))
    done = await cli("watch", "hr", ADDED, "--notify", "team", "-c", str(config.path))
    assert done.returncode == 0, done.stderr
    async with running(config) as daemon:
        watch = daemon.live.wiring.watches[f"hr-{ADDED}"]
    assert watch.notify == ["team"]
    assert watch.repeat == 3600
    assert watch.poll == config.defaults.poll


def test_watch_refuses_an_unknown_provider_or_notifier(tmp_path, database_url, kpa):
    config = write_config(tmp_path, config_text(database_url, kpa, {"keep": KEEP}))
    with pytest.raises(WatchRefused, match="no provider named 'crm'"):
        runtime_spec(config, "crm", ADDED)
    with pytest.raises(WatchRefused, match="no notifier named 'pager'"):
        runtime_spec(config, "hr", ADDED, notify=["pager"])
    done = loadwatch("watch", "crm", ADDED, "-c", str(config.path))
    assert done.returncode == 1
    assert "no provider named 'crm'" in done.stderr


def test_a_default_name_is_provider_dash_job_made_fit_for_a_name():
    assert default_name("hr", "5804f0f30ef50473af5870c6") == "hr-5804f0f30ef50473af5870c6"
    assert default_name("crm", "imports/42 b") == "crm-imports-42-b"
