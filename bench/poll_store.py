"""Benchmark: the poll path's database work alone, per job: claiming due
jobs (one UPDATE ... RETURNING, rows decoded), reading their conditions, and
recording polls that changed only counters and the schedule, in batches.
No HTTP and no event loop: CPU microseconds per job, in this process.

    python -m bench.poll_store                       # SQLite, batches of 20
    python -m bench.poll_store --batch 5 20 200
    python -m bench.poll_store --database postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.scale import config_text, pg_schema, prepare

JOBS = 10000
CLAIM = 250  # about what one claim round takes at 1,000 polls/s


def measure(database: str, batch: int) -> dict[str, float]:
    from monitor.config import load_config
    from monitor.store import claims
    from monitor.store.conditions import ConditionStore
    from monitor.store.records import PollWrite
    from monitor.store.store import Store

    with _database(database) as (url, folder):
        config_path = Path(folder) / "config.yaml"
        config_path.write_text(config_text(url, "http://127.0.0.1:1", JOBS, 1))
        prepare(config_path, JOBS)
        store = Store(load_config(config_path, environ={}).database)
        names = {job.watch_id: job.watch for job in store.all_jobs()}
        conditions = ConditionStore(store.engine)
        gc.collect()
        gc.freeze()
        spent = {"claim": 0.0, "conditions": 0.0, "record": 0.0}
        done = 0
        start = datetime.now(UTC) + timedelta(hours=2)  # every job is due by then
        for round_number in range(JOBS // CLAIM):
            now = start + timedelta(seconds=round_number * 0.25)
            request = claims.ClaimRequest("hr", CLAIM, now + timedelta(seconds=0.5))
            a = time.process_time()
            jobs = claims.claim(
                store.writer, "bench", request, now, now + timedelta(seconds=30), names
            )
            b = time.process_time()
            conditions.held_many([job.id for job in jobs], "hr")
            c = time.process_time()
            later = now + timedelta(seconds=10)
            writes = [
                PollWrite(
                    job.id,
                    {
                        "last_poll_at": now,
                        "next_poll_at": later,
                        "due_at": later,
                        "next_check_at": None,
                        "polls": job.polls + 1,
                        "consecutive_failures": 0,
                    },
                )
                for job in jobs
            ]
            for first in range(0, len(writes), batch):
                claims.record(store.writer, "bench", writes[first : first + batch], now)
            d = time.process_time()
            spent["claim"] += b - a
            spent["conditions"] += c - b
            spent["record"] += d - c
            done += len(jobs)
        store.close()
    per_job = {f"{name}_us": seconds / max(done, 1) * 1e6 for name, seconds in spent.items()}
    return {"jobs": done, "batch": batch, **per_job}


@contextlib.contextmanager
def _database(database: str) -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as folder:
        if database == "sqlite":
            yield f"sqlite:///{folder}/loadwatch.db", folder
        else:
            with pg_schema(database) as url:
                yield url, folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
    parser.add_argument("--batch", type=int, nargs="+", default=[20], help="polls per transaction")
    args = parser.parse_args()
    for batch in args.batch:
        print(json.dumps(measure(args.database, batch)), flush=True)


if __name__ == "__main__":
    main()
