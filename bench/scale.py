"""Benchmark: the real daemon polling 1,000 to 10,000 jobs every 10 s, against
floors doing the same requests with no schedule, state or database.

    python -m bench.scale                                   # SQLite, 1k/3k/10k
    python -m bench.scale --database postgresql+psycopg://postgres@127.0.0.1/test
    python -m bench.scale --jobs 10000 --seconds 30
    python -m bench.scale --jobs 1000 --ends 10    # ends as rare as at 10,000 jobs

For each size: the fast fake server (bench/fakeserver.py, its own process and
its own CPU shown) answers for N KPA Flex jobs; `loadwatch run` runs as its
own process with N watches whose first polls are spread over one interval
(steady state, not a start-up stampede). Over the measuring window it reports
polls/s at the server, the daemon's CPU per poll (its own rusage, from /proc)
and the ratio to each floor, the share of it spent on the event loop's thread
(the rest: the database thread, deliveries, housekeeping) and, on
PostgreSQL, the CPU its server's processes spent per poll, poll lateness
p50/p99 (the daemon's histogram), peak RSS, SQL statements per poll, and
transition -> delivered p50/p99 for jobs that end in the window (json:// to
a receiver in the server's process), split from the daemon's database into
"seen -> queued" (the poll that saw the end until its notification was
recorded) and "queued -> sent".
The floors (bench/floor.py) send the same requests at the same rate from a
process that does nothing else: httpx's `client.post` on the client
loadwatch uses (the floor of the targets), the same exchange as loadwatch
makes it (`request()`, straight to the transport), and bare aiohttp.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.fakeserver import TOKEN, FakeServer
from bench.floor import run_floor

PERIOD = 10.0


def config_text(database: str, url: str, jobs: int, port: int) -> str:
    lines = [
        f'database: "{database}"',
        "http:",
        f'  listen: "127.0.0.1:{port}"',
        "defaults:",
        f"  poll: {{initial: {PERIOD}s, factor: 1, max: {PERIOD}s, jitter: 0.02}}",
        "  stall_after: 1d",
        "  notify: [receiver]",
        "notifiers:",
        "  receiver:",
        f'    urls: ["json://{url.removeprefix("http://")}/notify"]',
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


def prepare(config_path: Path, jobs: int) -> None:
    """Create the watches and jobs, seen running, their first polls an hour
    away: `spread` schedules them once the daemon is up."""
    from sqlalchemy import bindparam, update

    from monitor.config import load_config
    from monitor.store.store import Store, WatchSpec
    from monitor.store.tables import jobs as jobs_table

    config = load_config(config_path, environ={})
    store = Store(config.database)
    store.upgrade()
    now = datetime.now(UTC)
    store.sync_config_watches(
        [WatchSpec(name=w.name, provider=w.provider, job=w.job) for w in config.watches], now
    )
    # Steady state: each job already seen running, as the server will say again.
    started = datetime.fromtimestamp(1700000000, UTC)
    later = now + timedelta(hours=1)
    with store.writer.begin() as db:
        rows = [{"pk": job.id} for job in store.all_jobs()]
        db.execute(
            update(jobs_table)
            .where(jobs_table.c.id == bindparam("pk"))
            .values(
                next_poll_at=later,
                due_at=later,
                next_check_at=None,
                state="running",
                raw_status="dataloading",
                started_at=started,
                state_changed_at=now,
                polls=1,
            ),
            rows,
        )
    store.close()


def spread(config_path: Path) -> None:
    """Spread the jobs' next polls evenly over one interval from now: steady
    state from the first second, however long the daemon took to start (a
    schedule set before start-up would all fall due at once)."""
    from sqlalchemy import bindparam, update

    from monitor.config import load_config
    from monitor.store.store import Store
    from monitor.store.tables import jobs as jobs_table

    store = Store(load_config(config_path, environ={}).database)
    rng = random.Random(1)
    now = datetime.now(UTC)
    with store.writer.begin() as db:
        rows = []
        for job in store.all_jobs():
            at = now + timedelta(seconds=1 + rng.random() * PERIOD)
            rows.append({"pk": job.id, "at": at})
        db.execute(
            update(jobs_table)
            .where(jobs_table.c.id == bindparam("pk"))
            .values(next_poll_at=bindparam("at"), due_at=bindparam("at"), next_check_at=None),
            rows,
        )
    store.close()


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            values[name] = float(value)
    return values


def _quantile(before: dict[str, float], after: dict[str, float], q: float) -> float:
    """The q-quantile of poll lateness in the window, as its histogram bucket's bound."""
    prefix = 'loadwatch_poll_lateness_seconds_bucket{le="'
    buckets = sorted(
        (float(name[len(prefix) : -2]), after[name] - before.get(name, 0.0))
        for name in after
        if name.startswith(prefix)
    )
    total = buckets[-1][1] if buckets else 0.0
    for bound, count in buckets:
        if total and count >= q * total:
            return bound
    return float("nan")


def _cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds from a /proc `stat` file (a process's or a thread's)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loop_thread_cpu(pid: int) -> float:
    """CPU seconds of the process's main thread, which runs the event loop; the
    rest is the database thread, deliveries and housekeeping."""
    return _cpu_seconds(Path(f"/proc/{pid}/task/{pid}/stat"))


def _postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL server process on this machine (its
    backends do the database's work, which the daemon's own CPU leaves out)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if stat.read_text().split(" (", 1)[1].startswith("postgres)"):
                found[int(stat.parent.name)] = _cpu_seconds(stat)
    return found


def _proc(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MiB) of a process, from /proc."""
    cpu = _cpu_seconds(Path(f"/proc/{pid}/stat"))
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


@contextlib.contextmanager
def daemon(config_path: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(config_path), "--log-level", "warning"],
        stderr=subprocess.PIPE,
    )
    with stopped(process, grace=30):
        wait_healthy(process, port, within=120)
        yield process


@contextlib.contextmanager
def stopped(process: subprocess.Popen[bytes], grace: float) -> Iterator[None]:
    """Terminate `process` when the block ends; kill it after `grace` seconds."""
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(process: subprocess.Popen[bytes], port: int, within: float) -> None:
    """Wait until the daemon answers /healthz on `port`; raise with its stderr
    if it exits first, or if `within` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
            return
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode() if process.stderr else "")
        time.sleep(0.2)
    raise RuntimeError(f"the daemon did not answer /healthz within {within:g}s")


def run_size(
    database: str, jobs: int, seconds: float, warmup: float, ends: int | None = None
) -> dict[str, Any]:
    port = 18000 + random.randrange(1000)
    with FakeServer() as server, tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.yaml"
        on_postgres = not database.startswith("sqlite")
        if not on_postgres:
            database = f"sqlite:///{folder}/loadwatch.db"
        config_path.write_text(config_text(database, server.url, jobs, port))
        prepare(config_path, jobs)
        count = min(100, jobs // 10) if ends is None else min(ends, jobs)
        ending = [f"job-{n}" for n in random.Random(2).sample(range(jobs), count)]
        with daemon(config_path, port) as process:
            time.sleep(3)  # start-up's condition checks
            spread(config_path)
            time.sleep(warmup)
            # Jobs end at random moments of the window: transition -> delivery.
            for job in ending:
                server.end_jobs([job], time.time() + random.random() * seconds * 0.8)
            before_server, before_metrics = server.stats(), _metrics(port)
            before_cpu, _ = _proc(process.pid)
            before_loop = _loop_thread_cpu(process.pid)
            before_postgres = _postgres_cpu() if on_postgres else {}
            started = time.monotonic()
            time.sleep(seconds)
            after_cpu, peak = _proc(process.pid)
            after_loop = _loop_thread_cpu(process.pid)
            after_postgres = _postgres_cpu() if on_postgres else {}
            elapsed = time.monotonic() - started
            after_server, after_metrics = server.stats(), _metrics(port)
            time.sleep(2)  # the last deliveries
            final = server.stats()
        stages = _delivery_stages(config_path)
    polls = after_server["requests"] - before_server["requests"]
    statements = after_metrics.get("loadwatch_sql_statements_total", 0) - before_metrics.get(
        "loadwatch_sql_statements_total", 0
    )
    delays = [
        final["delivered"][job] - final["ended"][job]
        for job in final["ended"]
        if job in final["delivered"]
    ]
    delivery_p50, delivery_p99 = _p50_p99(delays)
    postgres = sum(cpu - before_postgres.get(pid, 0.0) for pid, cpu in after_postgres.items())
    return {
        "jobs": jobs,
        "demanded_per_s": jobs / PERIOD,
        "polls_per_s": polls / elapsed,
        "cpu_per_poll_us": (after_cpu - before_cpu) / max(polls, 1) * 1e6,
        "loop_thread_cpu_per_poll_us": (after_loop - before_loop) / max(polls, 1) * 1e6,
        "daemon_cpu_percent": (after_cpu - before_cpu) / elapsed * 100,
        "server_cpu_percent": (after_server["cpu"] - before_server["cpu"]) / elapsed * 100,
        # PostgreSQL's own processes (0 on SQLite, whose work is the daemon's).
        "postgres_cpu_per_poll_us": postgres / max(polls, 1) * 1e6,
        "lateness_p50": _quantile(before_metrics, after_metrics, 0.5),
        "lateness_p99": _quantile(before_metrics, after_metrics, 0.99),
        "peak_rss_mib": peak,
        "sql_per_poll": statements / max(polls, 1),
        "delivered": f"{len(delays)}/{len(final['ended'])}",
        "delivery_p50": delivery_p50,
        "delivery_p99": delivery_p99,
        **stages,
    }


def _p50_p99(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(int(len(ordered) * 0.99) - 1, 0)]


def _delivery_stages(config_path: Path) -> dict[str, float]:
    """Transition -> delivered in two stages, from the daemon's database: the
    poll that saw the end until its notification was queued (recorded with
    the poll), and queued until Apprise reported it sent."""
    from sqlalchemy import select

    from monitor.config import load_config
    from monitor.store.store import Store
    from monitor.store.tables import notifications, transitions

    n, t = notifications.c, transitions.c
    store = Store(load_config(config_path, environ={}).database)
    try:
        with store.engine.connect() as db:
            rows = db.execute(
                select(t.at, n.created_at, n.sent_at)
                .join_from(notifications, transitions, t.job_pk == n.job_pk)
                .where(t.to_state == "succeeded", n.status == "sent")
            ).all()
    finally:
        store.close()
    queued = _p50_p99([(created - at).total_seconds() for at, created, _ in rows])
    sent = _p50_p99([(sent - created).total_seconds() for _, created, sent in rows])
    return {
        "seen_to_queued_p50": queued[0],
        "seen_to_queued_p99": queued[1],
        "queued_to_sent_p50": sent[0],
        "queued_to_sent_p99": sent[1],
    }


def _pg_schema(url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    schema = f"lw_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


pg_schema = contextlib.contextmanager(_pg_schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window")
    parser.add_argument("--warmup", type=float, default=25.0, help="past the first polls")
    parser.add_argument("--no-floors", action="store_true")
    parser.add_argument(
        "--ends",
        type=int,
        help="jobs that end (and are announced) in the window; default 100, at most"
        " a tenth of the jobs. Each end costs a transition and a delivery, which"
        " at 1,000 jobs weigh on the CPU per poll ten times as much as at 10,000",
    )
    args = parser.parse_args()
    rows = []
    for jobs in args.jobs:
        # The httpx floor runs before and after the daemon, and the two are
        # averaged: on a shared machine the floor drifts by 10 % within minutes.
        before = None if args.no_floors else floors(jobs / PERIOD)
        if args.database == "sqlite":
            row = run_size("sqlite", jobs, args.seconds, args.warmup, args.ends)
        else:
            with pg_schema(args.database) as url:
                row = run_size(url, jobs, args.seconds, args.warmup, args.ends)
        if before is not None:
            after = floors(jobs / PERIOD)
            row["floor_httpx_runs_us"] = [before[0], after[0]]
            row["floor_httpx_us"] = (before[0] + after[0]) / 2
            row["floor_exchange_us"] = (before[1] + after[1]) / 2
            row["floor_aiohttp_us"] = (before[2] + after[2]) / 2
            row["ratio_httpx"] = row["cpu_per_poll_us"] / row["floor_httpx_us"]
            row["ratio_httpx_loop_thread"] = (
                row["loop_thread_cpu_per_poll_us"] / row["floor_httpx_us"]
            )
            row["ratio_exchange"] = row["cpu_per_poll_us"] / row["floor_exchange_us"]
            row["ratio_aiohttp"] = row["cpu_per_poll_us"] / row["floor_aiohttp_us"]
        rows.append(row)
        print(json.dumps(row), flush=True)


def floors(rate: float) -> tuple[float, float, float]:
    """CPU µs per request of the httpx, the exchange and the aiohttp floor, 15 s each."""
    with FakeServer() as server:
        return (
            run_floor(server.url, "httpx", rate, 15.0),
            run_floor(server.url, "exchange", rate, 15.0),
            run_floor(server.url, "aiohttp", rate, 15.0),
        )


if __name__ == "__main__":
    main()
