"""Benchmark: what the status page costs.

1. Render: a database holding JOBS jobs (one per watch, mixed states, some
   with progress, open conditions and a lease), and the time to answer
   `GET /` (query + render), `GET /?partial=1` and `GET /api/jobs` through the
   daemon's own router, REPEAT times each.
2. The poll loop: the real daemon polling POLLING jobs every PERIOD seconds
   (bench/polling.py's set-up), in alternating windows with nobody reading and
   with another process fetching the page every READ_EVERY seconds; polls per
   second, lateness and CPU per poll side by side.

    python -m bench.status_page --jobs 10000 --polling 1000 --period 10 --read-every 5
    python -m bench.status_page --database postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.fakeserver import TOKEN
from bench.scale import pg_schema


@contextlib.contextmanager
def _database(url: str | None, folder: str) -> Iterator[str]:
    """A fresh database: a SQLite file, or a throwaway schema in PostgreSQL."""
    if url is None:
        yield f"sqlite:///{folder}/bench.db"
        return
    with pg_schema(url) as scoped:
        yield scoped


def _serve_simulator(jobs: int, ready: Any, stop: Any) -> None:
    """KPA Flex's simulator, in its own process, with `jobs` jobs loading for ever."""
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


_STATES = ["running"] * 6 + ["pending"] * 2 + ["waiting", "succeeded", "failed", "partial"]


def fill(url: str, jobs: int) -> None:
    """JOBS watches with one job each, written in bulk."""
    from sqlalchemy import insert

    from monitor.store.store import Store
    from monitor.store.tables import conditions, watches
    from monitor.store.tables import jobs as job_table

    store = Store(url)
    store.upgrade()
    now = datetime.now(UTC)
    draw = random.Random(13)
    with store.engine.begin() as db:
        db.execute(
            insert(watches),
            [
                {
                    "id": n + 1,
                    "name": f"watch-{n:05d}",
                    "provider": f"provider-{n % 7}",
                    "job": f"job-{n}",
                    "source": "config",
                    "active": True,
                    "created_at": now,
                }
                for n in range(jobs)
            ],
        )
        db.execute(insert(job_table), [_job(n, now, draw) for n in range(jobs)])
        db.execute(
            insert(conditions),
            [
                {
                    "job_pk": n + 1,
                    "kind": "stalled",
                    "reason": "no change for 2h",
                    "opened_at": now - timedelta(hours=1),
                    "reminders": 0,
                    "sequence": 1,
                }
                for n in range(0, jobs, 20)
            ],
        )
    store.close()


def _job(number: int, now: datetime, draw: random.Random) -> dict[str, Any]:
    state = _STATES[number % len(_STATES)]
    began = now - timedelta(seconds=draw.uniform(60, 7200))
    ended = state in ("succeeded", "failed", "partial")
    return {
        "id": number + 1,
        "watch_id": number + 1,
        "job_id": f"job-{number}",
        "state": state,
        "raw_status": f"{state}-raw",
        "progress": draw.random() if state == "running" else None,
        "first_seen_at": began,
        "state_changed_at": began,
        "progress_changed_at": now,
        "last_poll_at": now,
        "terminal_at": now if ended else None,
        "next_poll_at": None if ended else now + timedelta(seconds=30),
        "polls": 7,
        "failed_polls": 0,
        "consecutive_failures": 0,
        "backoff_step": 1,
        "children": [],
        "details": {},
        "lease_owner": "host-a:1234" if number % 3 else None,
        "lease_until": now + timedelta(seconds=30),
    }


def measure_render(url: str, repeat: int) -> dict[str, float]:
    from monitor.config import load_config
    from monitor.service import page
    from monitor.service.api import Api
    from monitor.store.store import Store
    from monitor.store.views import Views

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text('http: {listen: "127.0.0.1:0"}\n')
        config = load_config(path, environ={})
    page.REUSE_SECONDS = 0.0  # time the rendering, not the reuse
    store = Store(url)
    api = Api(
        config=lambda: config,
        store=store,
        health=None,  # type: ignore[arg-type]
        metrics=None,  # type: ignore[arg-type]
        add_watch=lambda s: False,
        remove_watch=lambda n: False,
        now=lambda: datetime.now(UTC),
    )
    result: dict[str, float] = {}
    views = Views(store.engine)
    result |= _timed("summary_query", views.current_summaries, repeat)
    result |= _timed("full_query", lambda: views.jobs(current=True), repeat)
    for label, target in (("page", "/"), ("partial", "/?partial=1"), ("api_jobs", "/api/jobs")):
        answer = api.handle("GET", target, {}, b"")
        assert answer.status == 200, answer.body[:200]
        result[f"{label}_kib"] = len(answer.body) / 1024
        result |= _timed(label, lambda t=target: api.handle("GET", t, {}, b""), repeat)
    store.close()
    return result


def _timed(label: str, work: Any, repeat: int) -> dict[str, float]:
    """Wall time and CPU time (this process: steadier on a shared machine)."""
    work()  # warm: templates compiled, statements cached
    wall, cpu = [], []
    for _ in range(repeat):
        started, used = time.perf_counter(), time.process_time()
        work()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return {
        f"{label}_median_ms": 1000 * statistics.median(wall),
        f"{label}_cpu_median_ms": 1000 * statistics.median(cpu),
        f"{label}_max_ms": 1000 * max(wall),
    }


def measure_poll_loop(args: argparse.Namespace, folder: str) -> dict[str, Any]:
    """One daemon, measured in alternating windows: nobody reading, then a
    reader (another process) fetching the page every READ_EVERY seconds.
    Alternating keeps a busy machine's drift out of the comparison."""
    ready: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    simulator = multiprocessing.Process(target=_serve_simulator, args=(args.polling, ready, stop))
    simulator.start()
    reading = multiprocessing.Event()
    try:
        url = ready.get(timeout=60)
        with _database(args.database, folder) as database:
            port = _free_port()
            path = Path(folder) / "config.yaml"
            text = _config_text(database, url, args.polling, args.period)
            path.write_text(text + f'http: {{listen: "127.0.0.1:{port}"}}\n')
            fetches: multiprocessing.Queue = multiprocessing.Queue()
            reader = multiprocessing.Process(
                target=_read_page,
                args=(f"http://127.0.0.1:{port}/", args.read_every, reading, stop, fetches),
            )
            reader.start()
            results = asyncio.run(_alternate(path, args, reading))
            stop.set()
            fetched = fetches.get(timeout=30)
            reader.join(10)
    finally:
        stop.set()
        simulator.join(10)
    took = sorted(fetched) or [0.0]
    results["with_page_reader"] |= {
        "page_fetches": len(fetched),
        "page_fetch_median_ms": round(1000 * statistics.median(took), 1),
        "page_fetch_max_ms": round(1000 * took[-1], 1),
    }
    return results


async def _alternate(path: Path, args: argparse.Namespace, reading: Any) -> dict[str, Any]:
    from monitor.app import Daemon
    from monitor.config import load_config

    daemon = Daemon(load_config(path, environ={}))
    lateness: list[float] = []
    heard = daemon.dispatcher.on_start  # how late each poll or check started

    def timed(late: float) -> None:
        lateness.append(late)
        heard(late)

    daemon.dispatcher.on_start = timed
    runner = asyncio.create_task(daemon.run())
    await daemon.ready.wait()
    await asyncio.sleep(args.window)  # warm up
    modes: dict[str, dict[str, list[float]]] = {
        "nobody_reading": {"late": [], "polls": [], "cpu": [], "time": []},
        "with_page_reader": {"late": [], "polls": [], "cpu": [], "time": []},
    }
    for window in range(2 * args.windows):
        mode = "with_page_reader" if window % 2 else "nobody_reading"
        reading.set() if window % 2 else reading.clear()
        lateness.clear()
        cpu, started = time.process_time(), time.monotonic()
        await asyncio.sleep(args.window)
        record = modes[mode]
        record["late"] += lateness
        record["polls"].append(len(lateness))
        record["cpu"].append(time.process_time() - cpu)
        record["time"].append(time.monotonic() - started)
    reading.clear()
    daemon.stop()
    await runner
    return {mode: _summary(record) for mode, record in modes.items()}


def _summary(record: dict[str, list[float]]) -> dict[str, float]:
    late = sorted(record["late"]) or [0.0]
    polls, elapsed, cpu = sum(record["polls"]), sum(record["time"]), sum(record["cpu"])
    return {
        "polls_per_second": round(polls / elapsed, 1),
        "lateness_p50_ms": round(1000 * statistics.median(late), 1),
        "lateness_p99_ms": round(1000 * late[int(0.99 * (len(late) - 1))], 1),
        "daemon_cpu_percent_of_one_core": round(100 * cpu / elapsed, 1),
        "cpu_ms_per_poll": round(1000 * cpu / max(polls, 1), 2),
    }


def _read_page(url: str, every: float, reading: Any, stop: Any, fetches: Any) -> None:
    """In its own process, like a browser: fetch the page every `every` s while `reading`."""
    took: list[float] = []
    with httpx.Client(timeout=30) as client:
        while not stop.wait(every):
            if not reading.is_set():
                continue
            started = time.perf_counter()
            try:
                client.get(url).raise_for_status()
            except httpx.HTTPError:
                continue
            took.append(time.perf_counter() - started)
    fetches.put(took)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000, help="jobs on the rendered page")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--polling", type=int, default=2000, help="jobs the daemon polls")
    parser.add_argument("--period", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--windows", type=int, default=3, help="windows of each kind")
    parser.add_argument("--read-every", type=float, default=1.0)
    parser.add_argument("--database", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--skip-poll-loop", action="store_true")
    parser.add_argument("--skip-render", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {"jobs_on_page": args.jobs}
    with tempfile.TemporaryDirectory() as folder, _database(args.database, folder) as database:
        if not args.skip_render:
            fill(database, args.jobs)
            report["render"] = {
                k: round(v, 1) for k, v in measure_render(database, args.repeat).items()
            }
    if not args.skip_poll_loop:
        with tempfile.TemporaryDirectory() as folder:  # a database of its own
            report["poll_loop"] = measure_poll_loop(args, folder)
        report["poll_loop"]["setup"] = {
            "jobs": args.polling,
            "period_s": args.period,
            "page_every_s": args.read_every,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
