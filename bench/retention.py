"""Benchmark: pruning with `retention:`: how long a round takes and, what
matters to the poll path, how long each batch holds the write lock.

Fills a database with JOBS finished jobs older than the retention (each with
4 transitions and 2 delivered notifications) plus as many recent ones, then
runs one retention round and reports rows removed, the round's time, and the
longest and median batch.

    python -m bench.retention --jobs 20000
    python -m bench.retention --database postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from monitor.clock import Clock
from monitor.engine import retention
from monitor.store.store import Store
from monitor.store.tables import jobs, notifications, transitions, watches

DAY = 86400.0


def fill(store: Store, count: int) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=120), now - timedelta(days=1)
    with store.engine.begin() as db:
        watch = {"name": "bench", "provider": "p", "discover": {}, "source": "config"}
        key = db.execute(
            insert(watches).values(**watch, active=True, created_at=old)
        ).inserted_primary_key
        assert key is not None
        watch_id = key[0]
        for batch_start in range(0, 2 * count, 1000):
            rows = []
            for number in range(batch_start, min(batch_start + 1000, 2 * count)):
                moment = old if number < count else recent
                rows.append(_job(watch_id, f"job-{number}", moment))
            ids = db.execute(insert(jobs).returning(jobs.c.id), rows).scalars().all()
            db.execute(insert(transitions), [_transition(pk, r) for pk in ids for r in range(4)])
            db.execute(insert(notifications), [_note(pk, r) for pk in ids for r in range(2)])


def _job(watch_id: int, job_id: str, moment: datetime) -> dict[str, object]:
    return {
        "watch_id": watch_id, "job_id": job_id, "state": "succeeded", "first_seen_at": moment,
        "terminal_at": moment, "polls": 3, "failed_polls": 0, "consecutive_failures": 0,
        "backoff_step": 0, "children": [], "details": {},
    }  # fmt: skip


def _transition(job_pk: int, step: int) -> dict[str, object]:
    return {"job_pk": job_pk, "from_state": "running", "to_state": "succeeded", "at": _when(job_pk)}


def _note(job_pk: int, url: int) -> dict[str, object]:
    when = _when(job_pk)
    return {
        "job_pk": job_pk, "watch": "bench", "event": "succeeded", "dedupe_key": f"{job_pk}",
        "notifier": "team", "url_key": f"u{url}", "url_display": "json://x", "title": "t",
        "body": "b", "notify_type": "success", "status": "sent", "attempts": 1,
        "created_at": when, "next_attempt_at": when, "sent_at": when,
    }  # fmt: skip


def _when(job_pk: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=120)


async def measure(store: Store) -> dict[str, object]:
    batches: list[float] = []
    real = retention.prune_batch

    def timed(*args: object) -> retention.Pruned:
        started = time.perf_counter()
        result = real(*args)  # type: ignore[arg-type]
        batches.append(time.perf_counter() - started)
        return result

    retention.prune_batch = timed  # type: ignore[assignment]
    started = time.perf_counter()
    pruned = await retention.RetentionSweep(store, Clock(), lambda: 90 * DAY).prune()
    elapsed = time.perf_counter() - started
    return {
        "removed": vars(pruned),
        "round_seconds": round(elapsed, 2),
        "batches": len(batches),
        "batch_ms_median": round(statistics.median(batches) * 1000, 1),
        "batch_ms_max": round(max(batches) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--database", help="a PostgreSQL URL (a throwaway schema is used)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, schema = args.database, None
        if url:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(url)
            with admin.begin() as db:
                db.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
            url = url.render_as_string(hide_password=False)
        store = Store(url or f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            store.upgrade()
            fill(store, args.jobs)
            print(json.dumps({"jobs_old": args.jobs, **asyncio.run(measure(store))}, indent=2))
        finally:
            store.close()
            if schema:
                with admin.begin() as db:
                    db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
