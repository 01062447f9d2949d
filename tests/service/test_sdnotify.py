"""sd_notify messages reach a real unix datagram socket, as systemd would read them."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from monitor.service.sdnotify import SystemdNotifier, watchdog_interval
from tests.service.processes import NotifySocket, has


@pytest.fixture
def notify_socket():
    receiver = NotifySocket()
    yield receiver
    receiver.close()


def test_ready_with_status_reaches_the_socket_at_notify_socket(notify_socket):
    notifier = SystemdNotifier({"NOTIFY_SOCKET": notify_socket.path})

    notifier.ready("3 jobs: 3 running; 0 undelivered")

    message = notify_socket.wait_for(has("READY", "1"), timeout=5)
    assert message["STATUS"] == "3 jobs: 3 running; 0 undelivered"


def test_notify_socket_starting_with_at_is_in_the_abstract_namespace():
    name = f"loadwatch-test-{uuid.uuid4().hex}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    receiver.settimeout(5)
    try:
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert receiver.recv(1024).decode().splitlines()[0] == "STOPPING=1"
    finally:
        receiver.close()


def test_reloading_carries_the_monotonic_time(notify_socket):
    SystemdNotifier({"NOTIFY_SOCKET": notify_socket.path}).reloading()

    message = notify_socket.wait_for(has("RELOADING", "1"), timeout=5)
    assert int(message["MONOTONIC_USEC"]) > 0


def test_without_notify_socket_nothing_is_sent():
    notifier = SystemdNotifier({})

    assert not notifier.enabled
    assert notifier.send("READY=1") is False


def test_a_vanished_socket_is_reported_not_raised(tmp_path, caplog):
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})

    assert notifier.send("WATCHDOG=1") is False
    assert notifier.send("WATCHDOG=1") is False
    assert len([r for r in caplog.records if "could not notify systemd" in r.message]) == 1


def test_watchdog_pings_at_half_of_watchdog_usec():
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0


def test_watchdog_meant_for_another_process_is_not_ours():
    other = str(os.getpid() + 1)
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": other}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})


def test_no_watchdog_without_watchdog_usec():
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
