"""Real deliveries from the running daemon: json:// to a local HTTP receiver,
mailto:// to a local SMTP server, mqtt:// to the local Mosquitto; per-URL
retries; templates that try to escape their sandbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from monitor.simulators.kpa_flex import KpaFlexSimulator, failure_script, success_script
from monitor.store.store import Store
from tests.harness import jobs_ended, running
from tests.notify.daemon_config import kpa_simulator, notify_config
from tests.receivers import JsonReceiver

JOB = "5804f0f30ef50473af5870c6"
WATCH = [("hr-nightly", JOB)]


@pytest.fixture
def kpa() -> Iterator[KpaFlexSimulator]:
    with kpa_simulator() as simulator:
        yield simulator


async def run_until_settled(config) -> None:
    async with running(config) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=30)


async def test_a_failed_job_is_mailed_once_with_the_title_as_subject(
    tmp_path, database_url, kpa, smtp_receiver
):
    kpa.add_job(JOB, failure_script(history="Row 12: 'hired_on' is not a date"))
    team = {"team": {"urls": [smtp_receiver.url]}}
    await run_until_settled(notify_config(tmp_path, database_url, kpa, team, WATCH))

    (mail,) = smtp_receiver.messages
    assert mail["Subject"] == "hr-nightly failed"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Row 12: 'hired_on' is not a date" in text
    assert f"key: hr-nightly/{JOB}:failed" in text


async def test_a_finished_job_is_posted_once_to_a_json_webhook(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, success_script())
    team = {"team": {"urls": [json_receiver.url]}}
    await run_until_settled(notify_config(tmp_path, database_url, kpa, team, WATCH))

    (message,) = json_receiver.messages
    assert (message["title"], message["type"]) == ("hr-nightly succeeded", "success")
    assert json_receiver.headers[0]["Idempotency-Key"] == f"hr-nightly/{JOB}:succeeded"


async def test_a_finished_job_is_published_once_over_mqtt(
    tmp_path, database_url, kpa, mqtt_receiver
):
    kpa.add_job(JOB, success_script())
    team = {"team": {"urls": [mqtt_receiver.url]}}
    await run_until_settled(notify_config(tmp_path, database_url, kpa, team, WATCH))

    (payload,) = await asyncio.to_thread(mqtt_receiver.wait_for, 1, 10)
    assert f"hr-nightly/{JOB}:succeeded" in payload


async def test_a_receiver_down_at_first_gets_the_message_once_and_the_other_url_at_once(
    tmp_path, database_url, kpa, json_receiver
):
    down_first = JsonReceiver(fail_first=3)
    try:
        kpa.add_job(JOB, failure_script())
        team = {"team": {"urls": [down_first.url, json_receiver.url]}}
        await run_until_settled(notify_config(tmp_path, database_url, kpa, team, WATCH))
    finally:
        down_first.close()

    assert (down_first.requests, len(down_first.messages)) == (4, 1)
    assert (json_receiver.requests, len(json_receiver.messages)) == (1, 1)
    attempts = {row.url_display: row.attempts for row in Store(database_url).notifications_of()}
    assert attempts == {down_first.url: 4, json_receiver.url: 1}  # the healthy URL: first try


@pytest.mark.parametrize(
    "escape",
    [
        "{% include '/etc/passwd' %}",
        "{{ lipsum.__globals__.os.popen('id').read() }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.__builtins__.open('/etc/passwd').read() }}",
    ],
)
async def test_a_template_reaching_outside_its_context_sends_the_default_message(
    tmp_path, database_url, kpa, json_receiver, caplog, escape
):
    kpa.add_job(JOB, failure_script())
    team = {"team": {"urls": [json_receiver.url], "title": escape, "body": escape}}
    with caplog.at_level(logging.WARNING, logger="monitor.notify"):
        await run_until_settled(notify_config(tmp_path, database_url, kpa, team, WATCH))

    (message,) = json_receiver.messages
    assert message["title"] == "hr-nightly failed"
    assert message["message"].startswith("provider: hr (kpa_flex)\njob: " + JOB)
    assert "root:" not in message["message"] and "uid=" not in message["message"]
    assert "template unusable for hr-nightly failed" in caplog.text
