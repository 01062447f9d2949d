"""Retention on both databases: rows of finished jobs older than `retention:`
go, a batch at a time; an undelivered notification, an open condition and
the job a watch still names stay. The rows come from the real daemon
(Comestri discovery, a receiver that works and one that is down); the prune
runs on a clock 91 days on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from monitor.clock import FakeClock
from monitor.engine.retention import RetentionSweep, listed_since
from monitor.simulators.comestri import ComestriSimulator, success_script
from monitor.store.store import Store
from monitor.store.tables import conditions, jobs
from tests.harness import FAST_POLL, FAST_RETRY, jobs_ended, running, write_config
from tests.receivers import JsonReceiver

TOKEN = "comestri-retention-token-41aa"
DAY = 86400.0


@pytest.fixture
def comestri() -> Iterator[ComestriSimulator]:
    with ComestriSimulator(token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def down() -> Iterator[JsonReceiver]:
    receiver = JsonReceiver(fail_first=1_000)
    yield receiver
    receiver.close()


async def three_finished_jobs(tmp_path, database_url, comestri, good, down) -> Store:
    """`kept` names job K1; `delivered` discovered D1 and D2 (told `good`);
    `undelivered` discovered U1 (told `down`, dead). All ended; returns the store."""
    config = write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          discover_every: 0.1s
        providers:
          catalog: {{type: comestri, base_url: {comestri.url}, token: {TOKEN}}}
        notifiers:
          good: {{urls: ["{good.url}"], retry: {FAST_RETRY}}}
          down: {{urls: ["{down.url}"], retry: {FAST_RETRY}, notify_retry_for: 0.01s}}
        watches:
          - {{name: kept, provider: catalog, job: K1, notify: [good]}}
          - {{name: delivered, provider: catalog, discover: {{created_by: d@x}}, notify: [good]}}
          - {{name: undelivered, provider: catalog, discover: {{created_by: u@x}}, notify: [down]}}
        """,
    )
    comestri.add_job("K1", success_script())
    async with running(config) as daemon:
        comestri.add_job("D1", success_script(), created_by="d@x")
        comestri.add_job("D2", success_script(), created_by="d@x")
        comestri.add_job("U1", success_script(), created_by="u@x")
        assert await daemon.wait_until(lambda s: len(s.all_jobs()) == 4 and jobs_ended(s), 20)
    return Store(database_url)


def job_ids(store: Store) -> set[str]:
    return {job.job_id for job in store.all_jobs()}


async def prune_after(store: Store, days: float) -> None:
    clock = FakeClock(datetime.now(UTC) + timedelta(days=days))
    await RetentionSweep(store, clock, lambda: 90 * DAY).prune()


async def test_old_rows_go_and_undelivered_ones_stay(
    tmp_path, database_url, comestri, json_receiver, down
):
    store = await three_finished_jobs(tmp_path, database_url, comestri, json_receiver, down)
    await prune_after(store, 89)
    assert job_ids(store) == {"K1", "D1", "D2", "U1"}  # nothing is old enough yet

    await prune_after(store, 91)
    assert job_ids(store) == {"K1", "U1"}
    assert {t["job_id"] for t in store.transitions_of()} == {"K1", "U1"}
    notifications = {(n.watch, n.status) for n in store.notifications_of()}
    assert ("undelivered", "dead") in notifications  # undelivered: never pruned
    assert not any(watch == "delivered" for watch, _ in notifications)
    # The job `kept` names stays (it would be tracked and announced again);
    # its delivered notification is old and goes.
    assert ("kept", "sent") not in notifications
    store.close()


async def test_a_job_with_an_open_condition_stays_until_it_clears(
    tmp_path, database_url, comestri, json_receiver, down
):
    store = await three_finished_jobs(tmp_path, database_url, comestri, json_receiver, down)
    (d1,) = [job.id for job in store.all_jobs() if job.job_id == "D1"]
    with store.engine.begin() as db:
        values = {"job_pk": d1, "kind": "stalled", "opened_at": datetime.now(UTC), "sequence": 1}
        condition = db.execute(
            insert(conditions).values(**values, reminders=0)
        ).inserted_primary_key
    await prune_after(store, 91)
    assert "D1" in job_ids(store)

    with store.engine.begin() as db:
        db.execute(
            update(conditions)
            .where(conditions.c.id == condition[0])
            .values(cleared_at=datetime.now(UTC))
        )
    await prune_after(store, 91)
    assert "D1" not in job_ids(store)
    store.close()


async def test_pruning_goes_in_batches(
    tmp_path, database_url, comestri, json_receiver, down, monkeypatch
):
    from monitor.engine import retention

    store = await three_finished_jobs(tmp_path, database_url, comestri, json_receiver, down)
    monkeypatch.setattr(retention, "BATCH_SIZE", 1)
    batches = []
    real = retention.prune_batch

    def recording(*args):
        batches.append(real(*args))
        return batches[-1]

    monkeypatch.setattr(retention, "prune_batch", recording)
    await prune_after(store, 91)
    assert [batch.jobs for batch in batches] == [1, 1, 0]  # D1, D2, then nothing left
    with store.engine.connect() as db:
        assert db.execute(select(jobs.c.job_id).order_by(jobs.c.job_id)).scalars().all() == [
            "K1",
            "U1",
        ]
    store.close()


async def test_retention_zero_keeps_everything(
    tmp_path, database_url, comestri, json_receiver, down
):
    store = await three_finished_jobs(tmp_path, database_url, comestri, json_receiver, down)
    clock = FakeClock(datetime.now(UTC) + timedelta(days=1000))
    pruned = await RetentionSweep(store, clock, lambda: 0.0).prune()
    assert pruned.total == 0 and len(job_ids(store)) == 4
    store.close()


def test_discovery_never_lists_jobs_from_before_the_retention_window():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    began = now - timedelta(days=400)
    since = listed_since(began, 90 * DAY, now)
    assert since == now - timedelta(days=89)  # 90 days, less a day for clock skew
    assert listed_since(now - timedelta(days=3), 90 * DAY, now) == now - timedelta(days=3)
    assert listed_since(began, 0.0, now) == began
