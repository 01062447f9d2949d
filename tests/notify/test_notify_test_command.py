"""`loadwatch notify-test` as a person runs it: a line per URL, exit status 1
when any URL failed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import monitor
from tests.receivers import JsonReceiver

SOURCE = str(Path(monitor.__file__).resolve().parent.parent)


def notify_test(folder: Path, notifiers: dict[str, list[str]], *args: str):
    path = folder / "config.yaml"
    blocks = {name: {"urls": urls} for name, urls in notifiers.items()}
    path.write_text(json.dumps({"notifiers": blocks}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor", "notify-test", "-c", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "PYTHONPATH": SOURCE},
        cwd=folder,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_each_url_gets_its_own_line_and_a_failure_makes_the_exit_status_1(tmp_path, json_receiver):
    dead = f"json://127.0.0.1:{closed_port()}/hook"
    result = notify_test(tmp_path, {"team": [json_receiver.url, dead]})

    assert result.returncode == 1
    ok, failed = result.stdout.splitlines()
    assert ok == f"team {json_receiver.url}: ok"
    assert failed.startswith(f"team {dead}: FAILED: ")
    assert json_receiver.messages[0]["title"] == "loadwatch test message"


def test_every_notifier_is_tried_and_all_ok_exits_0(tmp_path, json_receiver, smtp_receiver):
    result = notify_test(tmp_path, {"chat": [json_receiver.url], "mail": [smtp_receiver.url]})

    assert result.returncode == 0, result.stderr
    assert [line.split(" ")[0] for line in result.stdout.splitlines()] == ["chat", "mail"]
    assert all(line.endswith(": ok") for line in result.stdout.splitlines())
    assert len(json_receiver.messages) == len(smtp_receiver.messages) == 1


def test_naming_a_notifier_tests_only_that_one(tmp_path, json_receiver):
    other = JsonReceiver()
    try:
        result = notify_test(tmp_path, {"chat": [json_receiver.url], "ops": [other.url]}, "ops")
    finally:
        other.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"ops {other.url}: ok"]
    assert json_receiver.messages == []


def test_an_unknown_notifier_is_an_error(tmp_path, json_receiver):
    result = notify_test(tmp_path, {"chat": [json_receiver.url]}, "nope")
    assert result.returncode == 1
    assert "no notifier named 'nope'" in result.stderr and result.stdout == ""


def test_the_password_in_a_url_is_not_printed(tmp_path, json_receiver):
    url = f"json://user:s3cr3t-pass-9f@127.0.0.1:{json_receiver.port}/hook"
    result = notify_test(tmp_path, {"chat": [url]})
    assert result.returncode == 0, result.stderr
    assert "s3cr3t-pass-9f" not in result.stdout + result.stderr
    assert result.stdout.startswith("chat json://") and ":****@127.0.0.1:" in result.stdout
