"""Whether writes succeed (for /healthz and `loadwatch_database_up`), which
write errors are a lost connection, and a full SQLite disk that recovers once
space is freed (simulated with `PRAGMA max_page_count`, no root needed)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, insert, text, update
from sqlalchemy.exc import DBAPIError

from monitor.service.health import HealthCheck, Heartbeat
from monitor.service.metrics import Metrics
from monitor.store.database import is_connection_loss, open_engine, writer
from monitor.store.records import PollWrite
from monitor.store.store import Store
from monitor.store.tables import jobs, watches
from monitor.store.write_health import FAILING_FOR, write_health
from tests.conftest import _postgres_url
from tests.notify.helpers import track

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def error_of(engine: Any, statement: Any, **values: Any) -> BaseException:
    with pytest.raises(Exception) as raised, writer(engine).begin() as db:
        db.execute(statement, values) if values else db.execute(statement)
    return raised.value


# --- which errors are a lost connection ----------------------------------------------


def test_a_value_that_does_not_fit_is_not_a_lost_connection(store: Store) -> None:
    job = track(store, "nightly", "job-1", NOW)
    problems = [
        update(jobs).where(jobs.c.id == job.id).values(raw_status="x" * 600),
        update(jobs).where(jobs.c.id == job.id).values(processed=2**40),
        update(jobs).where(jobs.c.id == job.id).values(message="nul \x00 byte"),
        insert(watches).values(name=None, provider="p", source="config", active=True),
    ]
    failed = 0
    for statement in problems:
        try:
            with writer(store.engine).begin() as db:
                db.execute(statement)
        except Exception as error:
            failed += 1
            assert not is_connection_loss(error), error
    assert failed >= 1  # SQLite takes long text and big numbers; PostgreSQL none of these


@pytest.mark.postgres
def test_a_refused_connection_is_a_lost_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none")
    with pytest.raises(DBAPIError) as raised:
        engine.connect()
    assert is_connection_loss(raised.value)


@pytest.mark.postgres
def test_a_connection_the_server_ended_is_a_lost_connection() -> None:
    engine = open_engine(_postgres_url())
    with engine.connect() as first:
        pid = first.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as killer:
            killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as raised:
            first.execute(text("SELECT 1"))
    engine.dispose()
    assert is_connection_loss(raised.value)


def test_a_locked_sqlite_database_is_a_lost_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    engine = create_engine(url, connect_args={"timeout": 0})
    with engine.begin() as db:
        db.execute(text("CREATE TABLE t (x)"))
    holder = create_engine(url, connect_args={"timeout": 0})
    with holder.connect() as held:
        held.exec_driver_sql("BEGIN EXCLUSIVE")
        with pytest.raises(DBAPIError) as raised, engine.begin() as db:
            db.execute(text("INSERT INTO t VALUES (1)"))
        held.rollback()
    assert is_connection_loss(raised.value)


def test_anything_but_a_database_error_is_not_a_lost_connection() -> None:
    assert not is_connection_loss(OverflowError("Python int too large to convert"))


# --- a full SQLite disk ----------------------------------------------------------------


class PageLimit:
    """`PRAGMA max_page_count` on every connection the engine hands out:
    SQLite's own way to make a database "full" without a tiny filesystem."""

    def __init__(self, store: Store) -> None:
        self.pages: int | None = None
        for engine in {store.engine, store.writer}:  # SQLite writes on an engine of their own
            event.listen(engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if self.pages is not None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {self.pages}")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'loadwatch.db'}")
    store.upgrade()
    yield store
    store.close()


def fill_until_full(store: Store, job_pk: int) -> BaseException:
    for step in range(1000):
        try:
            store.save_poll(PollWrite(job_pk, {"message": os.urandom(2000).hex()}), NOW)
            with writer(store.engine).begin() as db:
                db.execute(insert(watches).values(
                    name=f"filler-{step}", provider="p", source="config", active=True,
                    created_at=NOW, settings={"pad": os.urandom(3000).hex()},
                ))  # fmt: skip
        except DBAPIError as error:
            return error
    raise AssertionError("the database never filled up")


def test_a_full_disk_is_reported_and_recovers_once_space_is_freed(
    sqlite_store: Store, tmp_path: Path
) -> None:
    job = track(sqlite_store, "nightly", "job-1", NOW)
    limit = PageLimit(sqlite_store)
    with sqlite_store.engine.connect() as db:
        pages = db.exec_driver_sql("PRAGMA page_count").scalar()
    limit.pages = int(pages or 0) + 8
    tracker = write_health(sqlite_store.engine)
    clock = [1000.0]
    tracker._clock = lambda: clock[0]  # the failing window passes when the test says
    health = HealthCheck(Heartbeat(), lambda: True, lambda: False, sqlite_store.ping,
                         writes=tracker.verdict)  # fmt: skip
    metrics = Metrics(sqlite_store, loop_lag=lambda: 0.0)

    error = fill_until_full(sqlite_store, job.id)

    assert "full" in str(error)
    assert not is_connection_loss(error)
    assert tracker.verdict().startswith("writes failing (")
    assert "database or disk is full" in health.database_verdict()
    assert not health.report().healthy
    assert b"loadwatch_database_up 0.0" in metrics.exposition()
    assert tracker.wal_to_truncate

    limit.pages = None  # space freed
    with sqlite_store.engine.connect() as db:
        db.exec_driver_sql("PRAGMA max_page_count = 1073741823")
    sqlite_store.engine.dispose()  # connections made while full keep their limit (the test's)
    sqlite_store.save_poll(PollWrite(job.id, {"message": "recovered"}), NOW)
    assert tracker.verdict().startswith("writes failing")  # within the window still
    clock[0] += FAILING_FOR + 1
    sqlite_store.save_poll(PollWrite(job.id, {"message": "recovered"}), NOW)

    assert tracker.verdict() == "ok"
    assert health.report().healthy
    assert b"loadwatch_database_up 1.0" in metrics.exposition()
    assert not tracker.wal_to_truncate
    stored = sqlite_store.get_job(job.id)
    assert stored is not None and stored.message == "recovered"
