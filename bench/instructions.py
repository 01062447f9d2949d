"""Benchmark: instructions per poll, counted by callgrind; deterministic where
the clock is not.

On this shared machine a CPU microsecond is worth three times as much in one
hour as in another, and not evenly across code: the ratio of the daemon's CPU
per poll to the httpx floor's moved from 1.8x to 1.4x with the hour, the code
unchanged. Instructions do not move. This runs the real daemon, and then the
httpx floor of `bench.floor`, under `valgrind --tool=callgrind` at two rates,
counts the instructions (user space, every thread) in a window at each, and
reports the difference divided by the difference in requests: the marginal
instructions of one poll, without the fixed cost of an idle second (timers,
heartbeats), which vanishes at scale. The fake server runs natively in its own
process.

Under callgrind a process runs some 50x slower, so the rates are low (10 and
40 polls a second asked; the daemon manages about 30 at 400 jobs): the
database's batches are smaller than at 1,000 polls a second, and the other
threads' work is mostly the fixed cost of an idle second, so their marginal
figure means little. The main thread's (`of_it_main_thread`, the event loop:
the HTTP exchange and everything loadwatch does with a poll) is the one to
read, against the floor's, and as an A/B between two versions of the code;
the CPU a poll costs at scale is `bench.scale`'s.

    python -m bench.instructions [--jobs 100 400] [--seconds 60]

Needs valgrind (Debian: `apt-get install valgrind`). About 8 minutes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.fakeserver import FakeServer
from bench.scale import PERIOD, config_text, prepare, spread, stopped, wait_healthy

START_SECONDS = 900  # start-up under callgrind: imports, migrations, the first claims
WARMUP_SECONDS = 20
SETTLE_SECONDS = 20


def _valgrind(out: Path, command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",  # counted only in the window (callgrind_control -i on)
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            *command,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _window(pid: int, out: Path, seconds: float, requests: Any) -> Window:
    """Instructions of `pid` over `seconds`, per thread, and the requests the
    server had: instrumented from the start of the window, dumped at its end."""
    _control(pid, "-i", "on")
    before = requests()
    time.sleep(seconds)
    after = requests()
    _control(pid, "-d")
    # One file per thread: OUT.1-01 is the main thread's first dump.
    threads = {
        int(dump.name.rsplit("-", 1)[1]): _instructions(dump)
        for dump in out.parent.glob(out.name + ".1-*")
    }
    return Window(threads.get(1, 0), sum(threads.values()) - threads.get(1, 0), after - before)


def _instructions(dump: Path) -> int:
    for line in dump.read_text(errors="replace").splitlines():
        if match := re.match(r"(?:summary|totals):\s+(\d+)", line):
            return int(match.group(1))
    raise RuntimeError(f"no totals in {dump}")


@dataclass(frozen=True)
class Window:
    main_thread: int  # instructions: the event loop's thread
    other_threads: int  # the database thread, deliveries, housekeeping
    requests: int

    @property
    def total(self) -> int:
        return self.main_thread + self.other_threads


def daemon_window(jobs: int, seconds: float, folder: Path) -> Window:
    port = 18000 + random.randrange(1000)
    with FakeServer() as server:
        config_path = folder / f"config-{jobs}.yaml"
        database = f"sqlite:///{folder}/loadwatch-{jobs}.db"
        config_path.write_text(config_text(database, server.url, jobs, port))
        prepare(config_path, jobs)
        out = folder / f"daemon-{jobs}.callgrind"
        command = [sys.executable, "-m", "monitor", "run", "-c", str(config_path)]
        process = _valgrind(out, [*command, "--log-level", "warning"])
        with stopped(process, grace=120):
            wait_healthy(process, port, within=START_SECONDS)
            time.sleep(SETTLE_SECONDS)  # start-up's condition checks, slow under callgrind
            spread(config_path)
            time.sleep(PERIOD + WARMUP_SECONDS)
            return _window(process.pid, out, seconds, lambda: server.stats()["requests"])


def floor_window(rate: float, seconds: float, folder: Path) -> Window:
    with FakeServer() as server:
        out = folder / f"floor-{rate:g}.callgrind"
        code = (
            "import asyncio, sys; from bench.floor import _httpx; "
            "asyncio.run(_httpx(sys.argv[1], float(sys.argv[2]), 1e9))"
        )
        command = [sys.executable, "-c", code, server.url, str(rate)]
        process = _valgrind(out, command)
        with stopped(process, grace=120):
            deadline = time.monotonic() + START_SECONDS
            while server.stats()["requests"] < rate * WARMUP_SECONDS:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the floor did not start under callgrind")
                time.sleep(1)
            return _window(process.pid, out, seconds, lambda: server.stats()["requests"])


def marginal(low: Window, high: Window, part: str = "total") -> float:
    """Instructions per request between the lower and the higher rate."""
    more = getattr(high, part) - getattr(low, part)
    return more / max(high.requests - low.requests, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs=2, default=[100, 400])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--keep", type=Path, help="keep the callgrind files here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        daemon = [daemon_window(jobs, args.seconds, folder) for jobs in args.jobs]
        floor = [floor_window(jobs / PERIOD, args.seconds, folder) for jobs in args.jobs]
    per_poll, per_request = marginal(daemon[0], daemon[1]), marginal(floor[0], floor[1])
    loop_per_poll = marginal(daemon[0], daemon[1], "main_thread")
    print(
        json.dumps(
            {
                "jobs": args.jobs,
                "daemon_windows": [asdict(window) for window in daemon],
                "floor_windows": [asdict(window) for window in floor],
                "daemon_per_poll": round(per_poll),
                "of_it_main_thread": round(loop_per_poll),
                "floor_per_request": round(per_request),
                "ratio": round(per_poll / per_request, 3),
                "ratio_main_thread": round(loop_per_poll / per_request, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
