"""Benchmark: how many jobs one daemon polls, and at what cost.

Starts the KPA Flex simulator in its own process with JOBS data loads that stay
`dataloading`, runs the real daemon (SQLite or PostgreSQL) polling each job
every PERIOD seconds for SECONDS, and reports polls per second, how late polls
ran against their schedule, the daemon's CPU use and its peak memory.

    python -m bench.polling --jobs 1000 --period 5 --seconds 30
    python -m bench.polling --database postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

TOKEN = "bench-token-0000"


def _serve_simulator(jobs: int, ready: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from monitor.simulators.base import Step
    from monitor.simulators.kpa_flex import KpaFlexSimulator

    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as simulator:
        for number in range(jobs):
            simulator.add_job(f"job-{number}", [Step({"status": "dataloading"}, polls=1)])
        ready.put(simulator.url)
        stop.wait()


def _config_text(database: str, url: str, jobs: int, period: float) -> str:
    lines = [
        f'database: "{database}"',
        "defaults:",
        f"  poll: {{initial: {period}s, factor: 1, max: {period}s, jitter: 0.1}}",
        "  stall_after: 1d",
        "providers:",
        "  hr:",
        "    type: kpa_flex",
        f"    base_url: {url}",
        f"    token: {TOKEN}",
        "    max_rps: 100000",
        "    max_concurrency: 64",
        "watches:",
    ]
    for number in range(jobs):
        lines += [f"  - name: w{number}", "    provider: hr", f'    job: "job-{number}"']
    return "\n".join(lines) + "\n"


async def _measure(config_path: Path, seconds: float) -> dict[str, float]:
    from monitor.app import Daemon
    from monitor.config import load_config

    config = load_config(config_path, environ={})
    daemon = Daemon(config)
    lateness: list[float] = []
    calls = [0]
    original = daemon.poller.poll

    async def timed_poll(job_pk: int):
        calls[0] += 1
        job = await asyncio.to_thread(daemon.store.get_job, job_pk)
        if job is not None and job.next_poll_at is not None:
            lateness.append((daemon.clock.now() - job.next_poll_at).total_seconds())
        return await original(job_pk)

    daemon.scheduler._poll = timed_poll  # measure without changing the daemon's code
    runner = asyncio.create_task(daemon.run())
    ready = asyncio.create_task(daemon.ready.wait())
    await asyncio.wait([runner, ready], return_when=asyncio.FIRST_COMPLETED)
    if runner.done():
        runner.result()  # the daemon stopped before it was ready: say why
    warm_up = seconds / 5
    await asyncio.sleep(warm_up)  # a benchmark, not a test: wall time is the point
    lateness.clear()
    calls[0] = 0
    cpu_before = time.process_time()
    started = time.monotonic()
    await asyncio.sleep(seconds)
    polls = calls[0]
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu_before
    daemon.stop()
    await runner
    ordered = sorted(lateness) or [0.0]
    return {
        "polls_per_second": polls / elapsed,
        "lateness_p50_ms": 1000 * statistics.median(ordered),
        "lateness_p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "daemon_cpu_percent_of_one_core": 100 * cpu / elapsed,
        "cpu_ms_per_poll": 1000 * cpu / max(polls, 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


@contextlib.contextmanager
def _database(url: str | None, folder: str) -> Iterator[str]:
    """A fresh database: a SQLite file, or a throwaway schema in PostgreSQL."""
    if url is None:
        yield f"sqlite:///{folder}/bench.db"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"lw_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--period", type=float, default=5.0, help="seconds between polls of a job")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time")
    parser.add_argument("--database", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()

    ready: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    simulator = multiprocessing.Process(target=_serve_simulator, args=(args.jobs, ready, stop))
    simulator.start()
    try:
        url = ready.get(timeout=60)
        with tempfile.TemporaryDirectory() as folder, _database(args.database, folder) as database:
            config_path = Path(folder) / "config.yaml"
            config_path.write_text(_config_text(database, url, args.jobs, args.period))
            result = asyncio.run(_measure(config_path, args.seconds))
    finally:
        stop.set()
        simulator.join(10)
    result |= {
        "jobs": args.jobs,
        "period_s": args.period,
        "expected_polls_per_second": args.jobs / args.period,
    }
    print(json.dumps({k: round(v, 2) for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
