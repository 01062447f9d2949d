"""Benchmark: what per-job timers cost at 1,000 polls/s, with no HTTP and no
database: 10,000 jobs, each "polled" (a 50 ms sleep) every 10 s.

    python -m bench.scheduler_cost --jobs 10000 --seconds 20

Two ways to fire them, each in its own process:
- apscheduler: one DateTrigger job per job in APScheduler 3's AsyncIOScheduler,
  re-armed from EVENT_JOB_EXECUTED (the poll path before issue 10);
- heap: one heap and one loop that starts each poll as a task when due
  (engine/dispatch.py's structure).
Reports CPU per fire (µs) and lateness p50/p99 (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import json
import multiprocessing
import random
import resource
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

PERIOD = 10.0
POLL = 0.05


async def _apscheduler(jobs: int, seconds: float) -> list[float]:
    from apscheduler.events import EVENT_JOB_EXECUTED
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    late: list[float] = []
    due: dict[str, datetime] = {}
    scheduler = AsyncIOScheduler(
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        timezone="UTC",
    )

    async def poll(name: str) -> None:
        late.append((datetime.now(UTC) - due[name]).total_seconds())
        await asyncio.sleep(POLL)

    def arm(name: str, when: datetime) -> None:
        due[name] = when
        scheduler.add_job(poll, "date", run_date=when, args=[name], id=name, replace_existing=True)

    scheduler.add_listener(
        lambda event: arm(event.job_id, datetime.now(UTC) + timedelta(seconds=PERIOD)),
        EVENT_JOB_EXECUTED,
    )
    now = datetime.now(UTC)
    for number in range(jobs):
        arm(f"j{number}", now + timedelta(seconds=1 + random.random() * PERIOD))
    scheduler.start()
    await asyncio.sleep(seconds)
    scheduler.shutdown(wait=False)
    return late


async def _heap(jobs: int, seconds: float) -> list[float]:
    loop = asyncio.get_running_loop()
    late: list[float] = []
    heap = [(loop.time() + 1 + random.random() * PERIOD, n) for n in range(jobs)]
    heapq.heapify(heap)
    wake = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def poll(number: int, due: float) -> None:
        late.append(loop.time() - due)
        await asyncio.sleep(POLL)
        heapq.heappush(heap, (loop.time() + PERIOD, number))

    end = loop.time() + seconds
    while loop.time() < end:
        now = loop.time()
        while heap and heap[0][0] <= now:
            due, number = heapq.heappop(heap)
            task = asyncio.create_task(poll(number, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        wait = min(heap[0][0] - now, 0.25) if heap else 0.25
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), max(wait, 0))
    return late


def _measure(kind: str, jobs: int, seconds: float, out: Any) -> None:
    work = _apscheduler if kind == "apscheduler" else _heap
    before = resource.getrusage(resource.RUSAGE_SELF)
    late = asyncio.run(work(jobs, seconds))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    late.sort()
    out.put(
        {
            "kind": kind,
            "fires_per_s": len(late) / seconds,
            "cpu_percent": cpu / seconds * 100,
            "cpu_per_fire_us": cpu / max(len(late), 1) * 1e6,
            "lateness_p50_ms": statistics.median(late) * 1000,
            "lateness_p99_ms": late[int(len(late) * 0.99)] * 1000,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    for kind in ("apscheduler", "heap"):
        out: multiprocessing.Queue[dict[str, Any]] = multiprocessing.Queue()
        process = multiprocessing.Process(
            target=_measure, args=(kind, args.jobs, args.seconds, out)
        )
        process.start()
        print(json.dumps(out.get(timeout=args.seconds * 10 + 60)), flush=True)
        process.join()


if __name__ == "__main__":
    main()
