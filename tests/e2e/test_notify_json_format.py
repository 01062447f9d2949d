"""`format: json` notifiers end to end: the daemon posts each event to a real
json:// receiver with a JSON document as the message body, one per event,
and one document listing every job for a grouped message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from monitor.config import ConfigError
from monitor.simulators.kpa_flex import KpaFlexSimulator, failure_script, success_script
from tests.harness import jobs_ended, running
from tests.notify.daemon_config import TOKEN, kpa_simulator, notify_config

JOB = "5804f0f30ef50473af5870c6"


@pytest.fixture
def kpa() -> Iterator[KpaFlexSimulator]:
    with kpa_simulator() as simulator:
        yield simulator


async def run_until_settled(config) -> None:
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=30)


async def test_a_failed_job_reaches_a_json_notifier_as_a_json_document(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, failure_script(history="Row 12: 'hired_on' is not a date"))
    team = {"team": {"urls": [json_receiver.url], "format": "json"}}
    await run_until_settled(notify_config(tmp_path, database_url, kpa, team, [("hr", JOB)]))

    (message,) = json_receiver.messages
    assert (message["title"], message["type"]) == ("hr failed", "failure")
    document = json.loads(message["message"])
    assert document["version"] == 1
    assert document["type"] == "failure"
    assert (document["event"], document["watch"], document["provider"]) == ("failed", "hr", "hr")
    assert (document["job"], document["state"], document["raw_status"]) == (JOB, "failed", "error")
    assert document["key"] == f"hr/{JOB}:failed"
    assert document["provider_type"] == "kpa_flex"
    assert isinstance(document["duration"], float)
    assert set(document) >= {"progress", "counts", "message", "children", "reason"}
    assert TOKEN not in message["message"]


async def test_a_grouped_json_message_lists_every_job(tmp_path, database_url, kpa, json_receiver):
    jobs = [(f"load-{n}", f"J{n}") for n in range(3)]
    for _, job in jobs:
        kpa.add_job(job, success_script())
    team = {"team": {"urls": [json_receiver.url], "format": "json", "group_wait": "1s"}}
    await run_until_settled(notify_config(tmp_path, database_url, kpa, team, jobs))

    documents = [json.loads(message["message"]) for message in json_receiver.messages]
    members = [job for document in documents for job in document.get("jobs", [document])]
    assert sorted(member["job"] for member in members) == ["J0", "J1", "J2"]
    assert all(member["event"] == "succeeded" for member in members)
    grouped = [document for document in documents if "jobs" in document]
    assert grouped and all(document["key"].startswith("group:") for document in grouped)


def test_format_json_with_a_body_template_is_a_config_error(tmp_path, kpa):
    team = {"team": {"urls": ["json://127.0.0.1:9/x"], "format": "json", "body": "{{ job }}"}}
    with pytest.raises(ConfigError, match="format: json writes the body itself"):
        notify_config(tmp_path, "sqlite:///x.db", kpa, team, [("hr", JOB)])


def test_an_unknown_format_is_a_config_error(tmp_path, kpa):
    team = {"team": {"urls": ["json://127.0.0.1:9/x"], "format": "yaml"}}
    with pytest.raises(ConfigError, match="format"):
        notify_config(tmp_path, "sqlite:///x.db", kpa, team, [("hr", JOB)])


def test_notify_test_sends_a_json_document_to_a_json_notifier(tmp_path, json_receiver):
    path = tmp_path / "config.yaml"
    path.write_text(
        json.dumps({"notifiers": {"hooks": {"urls": [json_receiver.url], "format": "json"}}})
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOADWATCH_")}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "notify-test", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    (message,) = json_receiver.messages
    assert json.loads(message["message"])["event"] == "test"
