"""A running daemon whose SQLite database fills up: /healthz and
`loadwatch_database_up` say so while writes fail, and both recover once
space is freed (a full disk simulated with `PRAGMA max_page_count`)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event

from monitor.config import load_config
from monitor.simulators.base import Step
from monitor.store import write_health as write_health_module
from monitor.store.store import Store
from monitor.store.write_health import write_health
from tests.harness import running
from tests.service.conftest import JOB, service_config


class DiskSpace:
    """Every connection the daemon's engine hands out is capped at `pages`
    (None: no cap), as a disk that is full would cap it."""

    def __init__(self, store: Store) -> None:
        self.pages: int | None = None
        for engine in {store.engine, store.writer}:  # SQLite writes on an engine of their own
            event.listen(engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        limit = 1073741823 if self.pages is None else self.pages
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit}")


async def test_healthz_and_database_up_follow_whether_writes_succeed(
    tmp_path, kpa, json_receiver, monkeypatch
):
    # Failed polls are retried every 2 s; a 3 s window keeps "failing" steady.
    monkeypatch.setattr(write_health_module, "FAILING_FOR", 3.0)
    # A load that flips between queued and loading at every poll: each poll
    # records a transition, so each write needs room.
    flips = [Step({"status": "dataload" if n % 2 else "dataloading", "history": "h" * 3000})
             for n in range(2000)]  # fmt: skip
    kpa.add_job(JOB, flips)
    database = f"sqlite:///{tmp_path / 'loadwatch.db'}"
    extra = "http:\n  listen: 127.0.0.1:0\n"
    config = load_config(
        service_config(tmp_path, database, kpa, json_receiver.url, extra=extra), environ={}
    )

    async with running(config) as daemon:
        store = daemon.store
        tracker = write_health(store.engine)
        disk = DiskSpace(store)
        async with httpx.AsyncClient(base_url=daemon.service.http.url, timeout=20) as client:
            assert (await client.get("/healthz")).status_code == 200

            with store.engine.connect() as db:
                disk.pages = int(db.exec_driver_sql("PRAGMA page_count").scalar() or 0)
            store.engine.dispose()  # every new connection sees the full disk
            assert await daemon.wait_until(lambda _: tracker.verdict() != "ok", timeout=20)
            unhealthy = await client.get("/healthz")
            metrics = (await client.get("/metrics")).text

            disk.pages = None  # space freed
            store.engine.dispose()
            recovered = await daemon.wait_until(lambda _: tracker.verdict() == "ok", timeout=20)
            assert recovered, (tracker.verdict(), tracker.failures, disk.pages)
            healthy = await client.get("/healthz")
            metrics_after = (await client.get("/metrics")).text

    assert unhealthy.status_code == 503
    assert "writes failing" in unhealthy.json()["checks"]["database"]
    assert "database or disk is full" in unhealthy.json()["checks"]["database"]
    assert "loadwatch_database_up 0.0" in metrics
    assert healthy.status_code == 200
    assert "loadwatch_database_up 1.0" in metrics_after
