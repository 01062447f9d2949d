"""The health verdicts behind /healthz and the watchdog, and the STATUS= line."""

from __future__ import annotations

import threading
import time

from monitor.clock import Clock
from monitor.redact import add_secret
from monitor.service import health
from monitor.service.health import HealthCheck, Heartbeat
from monitor.service.runtime import status_text
from monitor.store.records import PollWrite
from monitor.store.store import Store, WatchSpec


def check(
    heartbeat: Heartbeat | None = None,
    scheduler_running: bool = True,
    stopping: bool = False,
    ping=lambda: None,
) -> HealthCheck:
    return HealthCheck(heartbeat or Heartbeat(), lambda: scheduler_running, lambda: stopping, ping)


def test_fresh_heartbeat_running_scheduler_and_answering_database_are_healthy():
    report = check().report()

    assert report.healthy
    assert report.checks == {"loop": "ok", "database": "ok"}


def test_a_silent_heartbeat_means_the_loop_is_stuck():
    heartbeat = Heartbeat()
    heartbeat.last_beat = time.monotonic() - health.LOOP_SILENT_AFTER - 5

    assert check(heartbeat).loop_verdict().startswith("event loop has not run for 1")


def test_a_stopped_scheduler_is_unhealthy_though_the_loop_runs():
    assert check(scheduler_running=False).loop_verdict() == (
        "poll loop is not running (claiming or recording stopped)"
    )


def test_a_stopping_daemon_is_not_healthy():
    assert check(stopping=True).loop_verdict() == "stopping"


def test_a_failing_database_is_reported_without_its_password():
    add_secret("db-password-91ce")

    def refuse() -> None:
        raise ConnectionError("connection to postgresql://lw:db-password-91ce@db failed\nmore")

    verdict = check(ping=refuse).database_verdict()

    assert verdict == "database unreachable: connection to postgresql://lw:***@db failed"


def test_a_hanging_database_is_unhealthy_after_the_timeout(monkeypatch):
    monkeypatch.setattr(health, "DATABASE_TIMEOUT", 0.1)
    release = threading.Event()
    hanging = check(ping=lambda: release.wait(10))
    try:
        assert hanging.database_verdict().startswith("database did not answer in")
    finally:
        release.set()
        hanging.close()


def test_status_counts_jobs_not_yet_ended_and_undelivered_notifications(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'lw.db'}")
    store.upgrade()
    now = Clock().now()
    specs = [WatchSpec(name=f"w{n}", provider="hr", job=f"J{n}") for n in range(4)]
    store.sync_config_watches(specs, now)
    first, second, *_ = store.all_jobs()
    store.save_poll(PollWrite(first.id, {"state": "running"}), now)
    store.save_poll(PollWrite(second.id, {"state": "succeeded"}), now)

    assert status_text(store) == "3 jobs: 2 unknown, 1 running; 0 undelivered"
    store.close()


def test_status_of_an_empty_database(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'lw.db'}")
    store.upgrade()

    assert status_text(store) == "0 jobs; 0 undelivered"
    store.close()
