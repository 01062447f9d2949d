"""The daemon under a systemd stand-in: a real subprocess, a notify socket
bound in a temporary folder, the KPA simulator and a json:// receiver."""

from __future__ import annotations

import re
import signal
import time

from monitor.simulators.kpa_flex import success_script
from tests.service.conftest import JOB, service_config
from tests.service.processes import daemon_log, daemon_process, has

STATE_COUNTS = r"(: (\d+ (unknown|pending|running|waiting)(, )?)+)?"
STATUS = re.compile(rf"^\d+ jobs{STATE_COUNTS}; \d+ undelivered$")


def test_ready_comes_with_a_status_of_job_counts(tmp_path, kpa, json_receiver, notify_socket):
    kpa.add_job(JOB, success_script(polls=1000))  # stays pending: the count is stable
    config = service_config(tmp_path, f"sqlite:///{tmp_path / 'lw.db'}", kpa, json_receiver.url)

    with daemon_process(config, env={"NOTIFY_SOCKET": notify_socket.path}):
        ready = notify_socket.wait_for(has("READY", "1"))

    assert STATUS.match(ready["STATUS"]), ready
    assert ready["STATUS"].startswith("1 jobs: 1 ")


def test_status_follows_the_jobs(tmp_path, kpa, json_receiver, notify_socket):
    kpa.add_job(JOB, success_script())
    config = service_config(tmp_path, f"sqlite:///{tmp_path / 'lw.db'}", kpa, json_receiver.url)

    with daemon_process(config, env={"NOTIFY_SOCKET": notify_socket.path}):
        json_receiver.wait_for(1, timeout=20)  # the job ended and was announced
        notify_socket.wait_for(has("STATUS", "0 jobs; 0 undelivered"), timeout=20)


def test_watchdog_is_pinged_at_half_of_watchdog_usec(tmp_path, kpa, json_receiver, notify_socket):
    kpa.add_job(JOB, success_script(polls=1000))
    config = service_config(tmp_path, f"sqlite:///{tmp_path / 'lw.db'}", kpa, json_receiver.url)
    env = {"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "200000"}  # ping every 0.1 s

    with daemon_process(config, env=env):
        notify_socket.wait_for(has("READY", "1"))
        notify_socket.wait_for(lambda _: pings(notify_socket.messages) >= 3)


def pings(messages):
    return sum(1 for message in messages if message.get("WATCHDOG") == "1")


def test_sigterm_sends_stopping_and_exits_zero_within_ten_seconds(
    tmp_path, kpa, json_receiver, notify_socket
):
    kpa.add_job(JOB, success_script(polls=1000))
    config = service_config(tmp_path, f"sqlite:///{tmp_path / 'lw.db'}", kpa, json_receiver.url)

    with daemon_process(config, env={"NOTIFY_SOCKET": notify_socket.path}) as daemon:
        notify_socket.wait_for(has("READY", "1"))
        asked = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        notify_socket.wait_for(has("STOPPING", "1"), timeout=10)
        code = daemon.wait(timeout=10)
        took = time.monotonic() - asked

    assert code == 0, daemon_log(config)
    assert took < 10


def test_sighup_reload_is_framed_by_reloading_and_ready(
    tmp_path, kpa, json_receiver, notify_socket
):
    kpa.add_job(JOB, success_script(polls=1000))
    config = service_config(tmp_path, f"sqlite:///{tmp_path / 'lw.db'}", kpa, json_receiver.url)

    with daemon_process(config, env={"NOTIFY_SOCKET": notify_socket.path}) as daemon:
        started = notify_socket.wait_for(has("READY", "1"))
        daemon.send_signal(signal.SIGHUP)
        reloading = notify_socket.wait_for(has("RELOADING", "1"))
        again = notify_socket.wait_for(lambda m: m is not started and has("READY", "1")(m))
        assert daemon.poll() is None  # still running

    order = [id(message) for message in notify_socket.messages]  # by identity: READYs are equal
    assert order.index(id(started)) < order.index(id(reloading)) < order.index(id(again))
    assert int(reloading["MONOTONIC_USEC"]) > 0
