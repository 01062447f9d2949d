"""Benchmark: three daemons on one PostgreSQL sharing 3,000 jobs, then one killed.

    python -m bench.ha --database postgresql+psycopg://postgres@127.0.0.1/test
    python -m bench.ha --jobs 3000 --seconds 30

The fake server (bench/fakeserver.py) answers after 20 ms, so two polls of one
job in flight at once would overlap there and be counted. Over the window it
reports the same figures as bench/scale.py summed over the instances, plus
polls per job per interval (one poller means 1.0) and overlaps. Then it
SIGKILLs the instance holding the most jobs and times how long its jobs take
to be polled again by the others (SPEC: within one lease plus one interval).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.fakeserver import FakeServer
from bench.scale import (
    PERIOD,
    _metrics,
    _proc,
    _quantile,
    config_text,
    daemon,
    pg_schema,
    prepare,
    spread,
)

INSTANCES = 3


def _held(database: str) -> dict[str, str]:
    """job id -> the instance holding its lease now."""
    from sqlalchemy import select

    from monitor.store.store import Store
    from monitor.store.tables import jobs

    store = Store(database)
    try:
        with store.engine.connect() as db:
            rows = db.execute(select(jobs.c.job_id, jobs.c.lease_owner, jobs.c.lease_until))
            return {job: owner for job, owner, until in rows if until is not None and owner}
    finally:
        store.close()


def run(database: str, jobs: int, seconds: float, warmup: float) -> dict[str, Any]:
    ports = [19000 + random.randrange(900) + n for n in range(INSTANCES)]
    with FakeServer(delay=0.02) as server, tempfile.TemporaryDirectory() as folder:
        configs = []
        for number, port in enumerate(ports):
            path = Path(folder) / f"instance-{number}.yaml"
            path.write_text(config_text(database, server.url, jobs, port))
            configs.append(path)
        prepare(configs[0], jobs)
        with ExitStack() as stack:
            processes = [
                stack.enter_context(daemon(c, p)) for c, p in zip(configs, ports, strict=True)
            ]
            time.sleep(3)  # start-up's condition checks
            spread(configs[0])
            time.sleep(warmup)
            before = server.stats()
            metrics = [_metrics(port) for port in ports]
            cpu = [_proc(p.pid)[0] for p in processes]
            started = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - started
            after = server.stats()
            metrics_after = [_metrics(port) for port in ports]
            cpu_after, peaks = zip(*[_proc(p.pid) for p in processes], strict=True)
            moved = _kill_one(server, database, processes)
    polls = after["requests"] - before["requests"]
    intervals = elapsed / PERIOD
    per_job = [
        (after["per_job"].get(job, 0) - before["per_job"].get(job, 0)) / intervals
        for job in after["per_job"]
    ]
    lateness = [
        (_quantile(b, a, 0.5), _quantile(b, a, 0.99))
        for b, a in zip(metrics, metrics_after, strict=True)
    ]
    statements = sum(
        a.get("loadwatch_sql_statements_total", 0) - b.get("loadwatch_sql_statements_total", 0)
        for b, a in zip(metrics, metrics_after, strict=True)
    )
    return {
        "jobs": jobs,
        "instances": INSTANCES,
        "polls_per_s": polls / elapsed,
        "polls_per_job_per_interval_mean": statistics.mean(per_job),
        "polls_per_job_per_interval_max": max(per_job),
        "overlapping_polls": after["overlaps"],
        "cpu_per_poll_us": (sum(cpu_after) - sum(cpu)) / max(polls, 1) * 1e6,
        "lateness_p50_worst": max(p50 for p50, _ in lateness),
        "lateness_p99_worst": max(p99 for _, p99 in lateness),
        "peak_rss_mib_max": max(peaks),
        "sql_per_poll": statements / max(polls, 1),
        **moved,
    }


def _kill_one(server: FakeServer, database: str, processes: list[Any]) -> dict[str, Any]:
    held = _held(database)
    counts: dict[str, int] = {}
    for owner in held.values():
        counts[owner] = counts.get(owner, 0) + 1
    victim = max(counts, key=lambda name: counts[name])
    pid = int(victim.rsplit(":", 1)[1])
    orphans = [job for job, owner in held.items() if owner == victim]
    before = server.stats()["per_job"]
    os.kill(pid, signal.SIGKILL)
    killed = time.time()
    moved: dict[str, float] = {}
    deadline = killed + 120
    while len(moved) < len(orphans) and time.time() < deadline:
        time.sleep(0.25)
        stats = server.stats()
        for job in orphans:
            if job not in moved and stats["per_job"].get(job, 0) > before.get(job, 0):
                moved[job] = stats["last_at"][job] - killed
    waits = sorted(moved.values())
    return {
        "killed_instance_jobs_held": len(orphans),
        "moved": f"{len(moved)}/{len(orphans)}",
        "move_seconds_p50": statistics.median(waits) if waits else float("nan"),
        "move_seconds_max": waits[-1] if waits else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1/test")
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=25.0)
    args = parser.parse_args()
    with pg_schema(args.database) as url:
        print(json.dumps(run(url, args.jobs, args.seconds, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
