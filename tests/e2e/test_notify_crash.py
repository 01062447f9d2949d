"""Crash safety: the daemon, a real process, is SIGKILLed at chosen points of
a notification's life and started again. Nothing is lost at any point; only
a kill between the send and its mark repeats the message (at-least-once in
that window, with the same idempotency key both times).

The halt points are the test-only hooks of monitor/notify/halt.py; the lease
is shortened to a second so the restarted daemon takes over a dead claim
quickly.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import monitor
from monitor.notify import halt
from monitor.simulators.kpa_flex import KpaFlexSimulator, success_script
from monitor.store.store import Store
from monitor.store.tables import notifications
from tests.notify.daemon_config import kpa_simulator, notify_config
from tests.receivers import JsonReceiver

JOB = "5804f0f30ef50473af5870c6"
KEY = f"hr-nightly/{JOB}:succeeded"
LEASE = "1"
WAIT = 30.0  # generous: a loaded machine starts Python slowly
SOURCE = str(Path(monitor.__file__).resolve().parent.parent)  # the checkout, for -m monitor

pytestmark = pytest.mark.timeout(4 * WAIT)


class DaemonProcess:
    """`python -m monitor run` as a child process, its stderr read line by line."""

    def __init__(self, config: Path, **environment: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOADWATCH_")}
        env.update(environment, PYTHONPATH=SOURCE)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=config.parent,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            self.lines.put(line)

    def wait_for_line(self, text: str) -> None:
        """Block until a stderr line contains `text` (the log so far if not)."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no {text!r} in {WAIT}s:\n{''.join(self.log)}") from None
            if text in line:
                return

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=WAIT)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=WAIT)


@pytest.fixture
def kpa() -> Iterator[KpaFlexSimulator]:
    with kpa_simulator() as simulator:
        simulator.add_job(JOB, success_script())
        yield simulator


def crash_at(config: Path, point: str) -> None:
    """Run the daemon until it halts at `point`, and SIGKILL it there."""
    first = DaemonProcess(config, **{halt.HALT_VARIABLE: point, halt.LEASE_VARIABLE: LEASE})
    try:
        first.wait_for_line(f"{halt.MARKER} {point}")
    finally:
        first.kill()


def restart_until(config: Path, receiver: JsonReceiver, messages: int) -> None:
    """Run the daemon again until `messages` have arrived; stop it cleanly."""
    second = DaemonProcess(config, **{halt.LEASE_VARIABLE: LEASE})
    try:
        receiver.wait_for(messages, timeout=WAIT)
    finally:
        assert second.stop() == 0, "".join(second.log)


def outbox(database_url: str) -> list[tuple[str, str, bool, int]]:
    """(key, status, claimed, attempts) of every outbox row."""
    store = Store(database_url)
    try:
        with store.engine.connect() as db:
            rows = db.execute(
                select(
                    notifications.c.dedupe_key,
                    notifications.c.status,
                    notifications.c.claimed_by.is_not(None),
                    notifications.c.attempts,
                )
            )
            return [
                (key, status, bool(claimed), attempts) for key, status, claimed, attempts in rows
            ]
    finally:
        store.close()


@pytest.fixture
def config(tmp_path, database_url, kpa, json_receiver) -> Path:
    team = {"team": {"urls": [json_receiver.url]}}
    return notify_config(tmp_path, database_url, kpa, team, [("hr-nightly", JOB)]).path


def test_a_kill_after_the_commit_loses_nothing_and_repeats_nothing(
    config, database_url, json_receiver
):
    crash_at(config, "after-commit")
    assert outbox(database_url) == [(KEY, "pending", False, 0)]  # queued, never claimed

    restart_until(config, json_receiver, messages=1)
    assert [message["title"] for message in json_receiver.messages] == ["hr-nightly succeeded"]
    assert outbox(database_url) == [(KEY, "sent", False, 1)]


def test_a_kill_after_the_claim_loses_nothing_and_repeats_nothing(
    config, database_url, json_receiver
):
    crash_at(config, "after-claim")
    assert outbox(database_url) == [(KEY, "pending", True, 0)]  # claimed by the dead daemon
    assert json_receiver.requests == 0

    restart_until(config, json_receiver, messages=1)  # after the dead claim's lease
    assert [message["title"] for message in json_receiver.messages] == ["hr-nightly succeeded"]
    assert outbox(database_url) == [(KEY, "sent", False, 1)]


def test_a_kill_between_send_and_mark_repeats_the_message_once_with_the_same_key(
    config, database_url, json_receiver
):
    crash_at(config, "after-send")
    json_receiver.wait_for(1)
    assert outbox(database_url) == [(KEY, "pending", True, 0)]  # sent, but not marked

    restart_until(config, json_receiver, messages=2)
    assert [message["title"] for message in json_receiver.messages] == ["hr-nightly succeeded"] * 2
    assert [headers["Idempotency-Key"] for headers in json_receiver.headers] == [KEY, KEY]
    assert outbox(database_url) == [(KEY, "sent", False, 1)]


def test_the_halt_hooks_do_nothing_unless_asked(monkeypatch):
    monkeypatch.delenv(halt.HALT_VARIABLE, raising=False)
    monkeypatch.delenv(halt.LEASE_VARIABLE, raising=False)
    for point in halt.POINTS:
        halt.reached(point)  # returns at once
    assert halt.lease_seconds(120.0) == 120.0
