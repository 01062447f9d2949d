"""Chaos: a real `python3 -m monitor run` is SIGKILLed at random moments
while jobs on the simulator finish, then started again, over and over.
No terminal notification is lost; a message is repeated only when the
daemon that sent it died before marking it sent (the documented
at-least-once window), and a repeat carries the same idempotency key.

Sized to stay fast: 20 jobs finishing over ~10 s; each run is killed
0.1-1.5 s after it starts, or at a random halt point of a notification's
life (monitor/notify/halt.py) when one comes sooner, so the send-to-mark
window is hit too. The seed is printed so a failure can be replayed."""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import random
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.notify import halt
from monitor.simulators.kpa_flex import failure_script, success_script
from monitor.store.store import Store
from monitor.store.tables import notifications
from tests.e2e.test_notify_crash import DaemonProcess
from tests.notify.daemon_config import kpa_simulator, notify_config

JOBS = 20
TIMELINE = 10.0  # seconds over which the jobs end
CHAOS_SECONDS = 12.0  # kills stop after this; then one run to the end
SETTLE = 45.0

pytestmark = pytest.mark.timeout(180)


def outbox_status(database_url: str) -> dict[str, str]:
    """Each outbox row's dedupe key and status."""
    store = Store(database_url)
    try:
        with store.engine.connect() as db:
            rows = db.execute(select(notifications.c.dedupe_key, notifications.c.status))
            return {key: status for key, status in rows}
    finally:
        store.close()


def line_within(daemon: DaemonProcess, text: str, seconds: float) -> bool:
    """Whether a stderr line with `text` comes within `seconds`."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            if text in daemon.lines.get(timeout=left):
                return True
        except queue.Empty:
            return False
    return False


def settled(receiver, database_url: str, expected: set[str]) -> bool:
    """Wait until every expected key has arrived and no row is pending."""
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        keys = {headers["Idempotency-Key"] for headers in receiver.headers}
        pending = "pending" in outbox_status(database_url).values()
        if expected <= keys and not pending:
            return True
        with contextlib.suppress(AssertionError):  # nothing new yet: look at the outbox again
            receiver.wait_for(len(receiver.messages) + 1, timeout=0.5)
    return False


def test_sigkills_at_random_moments_lose_nothing(tmp_path: Path, database_url, json_receiver):
    seed = int(os.environ.get("LOADWATCH_CHAOS_SEED", random.randrange(2**32)))
    print(f"chaos seed {seed} (replay with LOADWATCH_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    with kpa_simulator() as kpa:
        expected: set[str] = set()
        for index in range(JOBS):
            job = f"job{index:03d}"
            # Three steps each `step` seconds long: the job ends at 2 * step.
            step = 0.25 + (TIMELINE / 2) * index / JOBS
            succeeds = index % 2 == 0
            script = success_script(seconds=step) if succeeds else failure_script(seconds=step)
            kpa.add_job(job, script)
            expected.add(f"w{index}/{job}:{'succeeded' if succeeds else 'failed'}")
        team = {"team": {"urls": [json_receiver.url]}}
        watches = [(f"w{index}", f"job{index:03d}") for index in range(JOBS)]
        config = notify_config(tmp_path, database_url, kpa, team, watches).path

        kills: list[tuple[int, dict[str, str]]] = []  # (messages so far, outbox after the kill)
        started = time.monotonic()
        while time.monotonic() - started < CHAOS_SECONDS:
            # Half the runs die at a random moment; the others at a random point of
            # a notification's life (after its commit, its claim or its send), if
            # one comes within a second and a half.
            point = rng.choice([None, *halt.POINTS])
            environment = {halt.LEASE_VARIABLE: "1"}
            if point is not None:
                environment[halt.HALT_VARIABLE] = point
            daemon = DaemonProcess(config, **environment)
            try:
                daemon.wait_for_line("loadwatch running")
                moment = rng.uniform(0.1, 1.5)
                if point is None or not line_within(daemon, halt.MARKER, moment):
                    time.sleep(moment)  # the random moment, not a synchronisation
            finally:
                daemon.kill()
            kills.append((len(json_receiver.messages), outbox_status(database_url)))

        last = DaemonProcess(config, **{halt.LEASE_VARIABLE: "1"})
        try:
            last.wait_for_line("loadwatch running")
            assert settled(json_receiver, database_url, expected), f"not settled (seed {seed})"
        finally:
            assert last.stop() == 0, "".join(last.log)

    keys = [headers["Idempotency-Key"] for headers in json_receiver.headers]
    counts = collections.Counter(keys)
    lost = expected - set(counts)
    repeated = {key: count for key, count in counts.items() if count > 1}
    print(f"chaos: {len(kills)} kills, {len(keys)} messages, lost {len(lost)}, repeats {repeated}")
    assert len(kills) >= 3
    assert not lost, f"lost {sorted(lost)} (seed {seed})"
    assert set(counts) == expected  # nothing but the terminal events
    for key in repeated:
        copies = [index for index, sent in enumerate(keys) if sent == key]
        for copy in copies[:-1]:
            # Every copy but the last came from a daemon killed before it marked it sent.
            killed_after = next(outbox for seen, outbox in kills if seen > copy)
            assert killed_after.get(key) == "pending", (key, copy, seed)
        titles = {json_receiver.messages[index]["title"] for index in copies}
        assert len(titles) == 1  # the same message, under the same key
    assert set(outbox_status(database_url).values()) == {"sent"}
