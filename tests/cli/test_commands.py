"""The `loadwatch` command as a user runs it: a real subprocess, a real config
file, the KPA Flex simulator and a json:// receiver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from monitor.simulators.kpa_flex import KpaFlexSimulator, failure_script, success_script

TOKEN = "kpa-cli-secret-token-77c1"


def loadwatch(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def kpa():
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as simulator:
        yield simulator


def write_config(tmp_path: Path, database_url: str, kpa_url: str, receiver_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            database: "{database_url}"
            defaults:
              poll: {{initial: 0.05s, factor: 1, max: 0.05s, jitter: 0}}
              notify: [team]
            providers:
              hr:
                type: kpa_flex
                base_url: {kpa_url}
                token: ${{KPA_TOKEN}}
                max_rps: 1000
            notifiers:
              team:
                urls: ["{receiver_url}"]
            watches:
              - name: hr-nightly
                provider: hr
                job: "J1"
              - name: hr-incidents
                provider: hr
                job: "J2"
            """
        )
    )
    return path


def test_check_accepts_a_good_config(tmp_path, kpa, json_receiver):
    config = write_config(tmp_path, "sqlite:///x.db", kpa.url, json_receiver.url)
    result = loadwatch("check", "-c", str(config), env={"KPA_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert "OK (2 watches, 1 providers, 1 notifiers)" in result.stdout


def test_check_reports_every_error_as_file_line_and_exits_1(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            providers:
              hr:
                type: kpa_flex
                token: t0ken-value
                max_rps: fast
            watches:
              - name: a
                provider: nowhere
                job: "1"
                pol: {initial: 1s}
            """
        )
    )
    result = loadwatch("check", "-c", str(config))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"{config}:5: ") and "max_rps" in line for line in lines)
    assert any(line.startswith(f"{config}:8: ") and "nowhere" in line for line in lines)
    assert any(line.startswith(f"{config}:10: ") and "pol" in line for line in lines)


def test_check_names_a_missing_environment_variable(tmp_path, kpa, json_receiver):
    config = write_config(tmp_path, "sqlite:///x.db", kpa.url, json_receiver.url)
    env = {k: v for k, v in os.environ.items() if k != "KPA_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{config}:9: " in result.stderr and "KPA_TOKEN" in result.stderr


def test_config_is_found_through_loadwatch_config(tmp_path, kpa, json_receiver):
    config = write_config(tmp_path, "sqlite:///x.db", kpa.url, json_receiver.url)
    result = loadwatch("check", env={"KPA_TOKEN": TOKEN, "LOADWATCH_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr


def test_run_status_and_history_as_a_user_would(tmp_path, database_url, kpa, json_receiver):
    kpa.add_job("J1", success_script())
    kpa.add_job("J2", failure_script(history="Row 9: bad site code"))
    config = write_config(tmp_path, database_url, kpa.url, json_receiver.url)
    env = {"KPA_TOKEN": TOKEN}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(config)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        assert json_receiver.wait_for(2, timeout=30), "both jobs should be announced"
    finally:
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=10)
        stopped_in = time.monotonic() - started
    assert daemon.returncode == 0, stderr
    assert stopped_in < 10
    assert TOKEN not in stderr

    status = loadwatch("status", "--json", "-c", str(config), env=env)
    assert status.returncode == 0, status.stderr
    rows = {row["watch"]: row for row in json.loads(status.stdout)}
    required = {
        "watch",
        "provider",
        "job",
        "state",
        "raw_status",
        "progress",
        "last_poll",
        "next_poll",
        "conditions",
        "polls",
    }
    assert required <= set(rows["hr-nightly"])
    assert rows["hr-nightly"]["state"] == "succeeded"
    assert rows["hr-incidents"]["state"] == "failed"
    assert rows["hr-incidents"]["raw_status"] == "error"

    history = loadwatch("history", "hr-incidents", "--json", "-c", str(config), env=env)
    assert history.returncode == 0, history.stderr
    entries = json.loads(history.stdout)
    moves = [(e["from"], e["to"]) for e in entries if e["kind"] == "transition"]
    assert moves == [("unknown", "pending"), ("pending", "running"), ("running", "failed")]
    sent = [e for e in entries if e["kind"] == "notification"]
    assert [(e["event"], e["status"]) for e in sent] == [("failed", "sent")]
    assert all(e["watch"] == "hr-incidents" for e in entries)
    assert all(e["job"] == "J2" for e in entries)


def test_history_columns_say_what_they_hold(tmp_path, kpa, json_receiver):
    kpa.add_job("J2", failure_script())
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/c.db", kpa.url, json_receiver.url)
    env = {"KPA_TOKEN": TOKEN}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(config)],
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    try:
        assert json_receiver.wait_for(1, timeout=30)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)
    history = loadwatch("history", "hr-incidents", "-c", str(config), env=env)
    header, *lines = history.stdout.splitlines()
    assert header.split() == ["TIME", "WATCH", "JOB", "WHAT", "DETAIL"]
    (failed,) = [line for line in lines if "running -> failed" in line]
    assert failed.split()[1:3] == ["hr-incidents", "J2"]
    assert failed.rstrip().endswith("provider said error")
    (sent,) = [line for line in lines if "notify failed" in line]
    assert sent.split()[1:3] == ["hr-incidents", "J2"]  # the job, not the idempotency key
    assert sent.rstrip().endswith(": sent")


def test_history_of_an_unknown_watch_is_an_error(tmp_path, kpa, json_receiver):
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/h.db", kpa.url, json_receiver.url)
    assert loadwatch("db", "upgrade", "-c", str(config)).returncode == 0
    result = loadwatch("history", "nope", "-c", str(config), env={"KPA_TOKEN": TOKEN})
    assert result.returncode == 1
    assert "no watch named 'nope'" in result.stderr


def test_db_upgrade_reports_the_revision(tmp_path, kpa, json_receiver):
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/u.db", kpa.url, json_receiver.url)
    first = loadwatch("db", "upgrade", "-c", str(config), env={"KPA_TOKEN": TOKEN})
    again = loadwatch("db", "upgrade", "-c", str(config), env={"KPA_TOKEN": TOKEN})
    assert first.returncode == 0 and "(was empty)" in first.stdout
    assert again.returncode == 0 and "was" not in again.stdout


def test_notify_test_reports_each_url(tmp_path, kpa, json_receiver):
    config = write_config(tmp_path, "sqlite:///x.db", kpa.url, json_receiver.url)
    result = loadwatch("notify-test", "-c", str(config), env={"KPA_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("team json://127.0.0.1:")
    assert result.stdout.strip().endswith(": ok")
    assert json_receiver.messages[0]["title"] == "loadwatch test message"


def test_options_may_stand_before_or_after_the_command(tmp_path, kpa, json_receiver):
    config = write_config(tmp_path, "sqlite:///x.db", kpa.url, json_receiver.url)
    before = loadwatch("-c", str(config), "check", env={"KPA_TOKEN": TOKEN})
    after = loadwatch("check", "-c", str(config), env={"KPA_TOKEN": TOKEN})
    assert before.returncode == 0, before.stderr
    assert after.returncode == 0, after.stderr
