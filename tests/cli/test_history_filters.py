"""`loadwatch history --since --limit --state` on a database the daemon filled:
two Comestri jobs (one succeeded, one failed), a receiver that takes the
success and one that is down for the failure."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from monitor.simulators.comestri import ComestriSimulator, failure_script, success_script
from tests.harness import FAST_POLL, FAST_RETRY, jobs_ended, running, write_config
from tests.receivers import JsonReceiver

TOKEN = "comestri-history-token-9a0e"


@pytest.fixture
def comestri() -> Iterator[ComestriSimulator]:
    with ComestriSimulator(token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
async def config(tmp_path, database_url, comestri, json_receiver):
    down = JsonReceiver(fail_first=1000)
    comestri.add_job("OK1", success_script())
    comestri.add_job("BAD1", failure_script())
    loaded = write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
        providers:
          catalog: {{type: comestri, base_url: {comestri.url}, token: {TOKEN}}}
        notifiers:
          good: {{urls: ["{json_receiver.url}"], retry: {FAST_RETRY}}}
          down: {{urls: ["{down.url}"], retry: {FAST_RETRY}, notify_retry_for: 0.01s}}
        watches:
          - {{name: fine, provider: catalog, job: OK1, notify: [good]}}
          - {{name: broken, provider: catalog, job: BAD1, notify: [down]}}
        """,
    )
    try:
        async with running(loaded) as daemon:
            assert await daemon.wait_until(jobs_ended, timeout=20)
    finally:
        down.close()
    return loaded.path


def history(config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "history", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def entries(config, *args: str) -> list[dict]:
    result = history(config, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_state_picks_transitions_into_it_and_notifications_of_it(config):
    found = entries(config, "--state", "failed")
    assert {(e["kind"], e["watch"]) for e in found} == {
        ("transition", "broken"),
        ("notification", "broken"),
    }
    assert all(e.get("to", "failed") == "failed" for e in found)


def test_state_can_be_a_delivery_status(config):
    found = entries(config, "--state", "dead")
    assert [(e["watch"], e["event"], e["status"]) for e in found] == [("broken", "failed", "dead")]


def test_limit_keeps_the_newest_lines_oldest_first(config):
    everything = entries(config)
    newest = entries(config, "--limit", "2")
    assert newest == everything[-2:]
    assert len(everything) > 2


def test_since_a_time_ago_and_since_a_date(config):
    assert entries(config, "--since", "1h") == entries(config)
    assert entries(config, "--since", "2999-01-01") == []


def test_filters_combine_with_the_watch_name(config):
    found = entries(config, "fine", "--state", "succeeded")
    assert {(e["kind"], e["watch"]) for e in found} == {
        ("transition", "fine"),
        ("notification", "fine"),
    }


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--since", "soon"], "neither a time ago"),
        (["--limit", "0"], "not a whole number"),
        (["--state", "exploded"], "invalid choice"),
    ],
)
def test_bad_filters_are_usage_errors(config, args, complaint):
    result = history(config, *args)
    assert result.returncode == 2
    assert complaint in result.stderr
