"""What the daemon writes to stderr, as journald would read it: one line per
transition and per delivery, text or JSON, and never a secret."""

from __future__ import annotations

import json
import re
import signal

import pytest

from monitor.simulators.base import HttpError
from monitor.simulators.kpa_flex import success_script
from tests.service.conftest import JOB, KPA_TOKEN, service_config
from tests.service.processes import daemon_log, daemon_process

HOOK_PASSWORD = "hook-secret-password-3a7c"


def run_to_the_end(tmp_path, kpa, json_receiver, *args: str) -> str:
    """Run the daemon until the job has been announced; its stderr."""
    kpa.add_job(JOB, success_script())
    # The vendor echoes the token back in an error: the daemon must not.
    echo = json.dumps({"message": f"gateway refused token {KPA_TOKEN}"})
    kpa.inject(HttpError(502, echo), times=1)
    hook = json_receiver.url.replace("json://", f"json://hookuser:{HOOK_PASSWORD}@")
    config = service_config(tmp_path, f"sqlite:///{tmp_path / 'lw.db'}", kpa, hook)
    with daemon_process(config, "--log-level", "debug", *args) as daemon:
        json_receiver.wait_for(1, timeout=20)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0
    return daemon_log(config)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_logs_hold_no_secret(tmp_path, kpa, json_receiver, log_format):
    output = run_to_the_end(tmp_path, kpa, json_receiver, "--log-format", log_format)

    assert "gateway refused token ***" in output  # the echo was logged, masked
    assert KPA_TOKEN not in output
    assert HOOK_PASSWORD not in output


def test_text_logs_have_one_line_per_transition_and_per_delivery(tmp_path, kpa, json_receiver):
    lines = run_to_the_end(tmp_path, kpa, json_receiver).splitlines()

    transitions = [line for line in lines if re.search(rf"hr-nightly/{JOB}: \w+ -> \w+", line)]
    deliveries = [line for line in lines if "delivered" in line]
    assert [line.split(": ", 2)[-1].split(" (")[0] for line in transitions] == [
        "unknown -> pending",
        "pending -> running",
        "running -> succeeded",
    ]
    assert len(deliveries) == 1


def test_json_logs_are_one_object_per_line(tmp_path, kpa, json_receiver):
    output = run_to_the_end(tmp_path, kpa, json_receiver, "--log-format", "json")

    entries = [json.loads(line) for line in output.splitlines()]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    messages = [entry["message"] for entry in entries]
    assert sum(1 for m in messages if re.search(rf"hr-nightly/{JOB}: \w+ -> \w+", m)) == 3
