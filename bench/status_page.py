"""Benchmark: what the status page costs.

1. Render: a database holding JOBS jobs (one per watch, mixed states, some
   with progress, open conditions and a lease), and the time to answer
   `GET /` (query + render), `GET /?partial=1` and `GET /api/jobs` through the
   daemon's own router, REPEAT times each.
2. The poll loop: the real daemon polling POLLING jobs every PERIOD seconds
   (bench/polling.py's set-up), measured once with nobody reading and once
   with a reader fetching the page every READ_EVERY seconds; polls per second,
   lateness and CPU per poll side by side.

    python -m bench.status_page --jobs 10000
    python -m bench.status_page --database postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.polling import _config_text, _database, _measure, _serve_simulator

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
    from monitor.service.api import Api
    from monitor.store.store import Store
    from monitor.store.views import Views

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text('http: {listen: "127.0.0.1:0"}\n')
        config = load_config(path, environ={})
    store = Store(url)
    api = Api(
        config=lambda: config,
        store=store,
        health=None,  # type: ignore[arg-type]
        metrics=None,
        add_watch=lambda s: False,  # type: ignore[arg-type]
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
    work()  # warm: templates compiled, statements cached
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        took.append(time.perf_counter() - started)
    return {
        f"{label}_median_ms": 1000 * statistics.median(took),
        f"{label}_max_ms": 1000 * max(took),
    }


def measure_poll_loop(args: argparse.Namespace, folder: str) -> dict[str, Any]:
    ready: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    simulator = multiprocessing.Process(target=_serve_simulator, args=(args.polling, ready, stop))
    simulator.start()
    results: dict[str, Any] = {}
    try:
        url = ready.get(timeout=60)
        for reading in (False, True):
            with _database(args.database, folder) as database:
                port = _free_port()
                path = Path(folder) / "config.yaml"
                text = _config_text(database, url, args.polling, args.period)
                path.write_text(text + f'http: {{listen: "127.0.0.1:{port}"}}\n')
                reader = _Reader(f"http://127.0.0.1:{port}/", args.read_every) if reading else None
                measured = asyncio.run(_measure(path, args.seconds))
                if reader is not None:
                    measured |= reader.stop()
                results["with_page_reader" if reading else "nobody_reading"] = {
                    key: round(value, 2) for key, value in measured.items()
                }
    finally:
        stop.set()
        simulator.join(10)
    return results


class _Reader:
    """Fetches the page every `every` seconds on its own thread, like open tabs."""

    def __init__(self, url: str, every: float) -> None:
        self._url, self._every = url, every
        self._stopping = threading.Event()
        self.took: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stopping.wait(self._every):
                started = time.perf_counter()
                try:
                    client.get(self._url).raise_for_status()
                except httpx.HTTPError:
                    continue  # not listening yet
                self.took.append(time.perf_counter() - started)

    def stop(self) -> dict[str, float]:
        self._stopping.set()
        self._thread.join(30)
        took = sorted(self.took) or [0.0]
        return {
            "page_fetches": float(len(self.took)),
            "page_fetch_median_ms": 1000 * statistics.median(took),
            "page_fetch_max_ms": 1000 * took[-1],
        }


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
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--read-every", type=float, default=1.0)
    parser.add_argument("--database", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--skip-poll-loop", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {"jobs_on_page": args.jobs}
    with tempfile.TemporaryDirectory() as folder:
        with _database(args.database, folder) as database:
            fill(database, args.jobs)
            report["render"] = {
                k: round(v, 1) for k, v in measure_render(database, args.repeat).items()
            }
        if not args.skip_poll_loop:
            report["poll_loop"] = measure_poll_loop(args, folder)
            report["poll_loop"]["setup"] = {
                "jobs": args.polling,
                "period_s": args.period,
                "page_every_s": args.read_every,
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
