"""`loadwatch demo`: the whole daemon against simulated providers on loopback,
a temporary SQLite database and the terminal as notifier. Nothing to set up."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from monitor import report
from monitor.app import Daemon
from monitor.config import Config, load_config
from monitor.notify.console import register_console_scheme
from monitor.simulators import kpa_flex
from monitor.simulators.base import Step
from monitor.store.store import Store

_STEP_SECONDS = 2.0


def _kpa_jobs(simulator: kpa_flex.KpaFlexSimulator) -> list[tuple[str, str]]:
    """Add the demo's data loads to the simulator; returns (watch, job id) pairs."""
    s = _STEP_SECONDS
    simulator.add_job("5804f0f30ef50473af5870c6", kpa_flex.success_script(seconds=s, rows=1200))
    simulator.add_job(
        "5804f0f30ef50473af5870c7",
        kpa_flex.failure_script(
            seconds=s,
            history="Queued\nLoading 830 rows\nRow 12: 'hired_on' is not a date\nAborted",
        ),
    )
    simulator.add_job(
        "5804f0f30ef50473af5870c8",
        [
            Step({"status": "dataload", "history": "Queued"}, seconds=s),
            Step({"status": "dataloading", "history": "Queued\nLoading"}, seconds=3 * s),
            Step({"status": "dataloaded", "history": "Queued\nLoading\nLoaded 90 rows"}),
        ],
    )
    return [
        ("hr-nightly", "5804f0f30ef50473af5870c6"),
        ("hr-incidents", "5804f0f30ef50473af5870c7"),
        ("hr-training", "5804f0f30ef50473af5870c8"),
    ]


def _config_text(database: Path, kpa_url: str, watches: list[tuple[str, str]]) -> str:
    lines = [
        f"database: sqlite:///{database}",
        "defaults:",
        "  poll: {initial: 1s, factor: 1.5, max: 3s, jitter: 0.1}",
        "  notify: [terminal]",
        "  on: [started, succeeded, partial, failed, canceled, waiting, stalled, overdue,"
        " unreachable, recovered]",
        "providers:",
        "  hr:",
        "    type: kpa_flex",
        f"    base_url: {kpa_url}",
        f"    token: {kpa_flex.DEFAULT_TOKEN}",
        "    max_rps: 5",
        "notifiers:",
        "  terminal:",
        "    urls: ['console://']",
        "watches:",
    ]
    for name, job in watches:
        lines += [f"  - name: {name}", "    provider: hr", f'    job: "{job}"']
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _simulators() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    with kpa_flex.KpaFlexSimulator(rate_limit=None) as kpa:
        yield kpa.url, _kpa_jobs(kpa)


def run_demo(timeout: float = 60.0) -> int:
    """Run the demo until every job has ended and been announced; 0 on success."""
    register_console_scheme()
    with (
        tempfile.TemporaryDirectory(prefix="loadwatch-demo-") as folder,
        _simulators() as (
            kpa_url,
            watches,
        ),
    ):
        path = Path(folder) / "config.yaml"
        path.write_text(_config_text(Path(folder) / "demo.db", kpa_url, watches))
        print(
            f"loadwatch demo: {len(watches)} simulated KPA Flex data loads, config in {path}\n",
            flush=True,
        )
        config = load_config(path)
        finished = asyncio.run(_watch_until_done(config, timeout))
        store = Store(config.database)
        print(report.status_table(report.status_rows(store)))
        store.close()
    if not finished:
        print(f"\ndemo did not finish within {timeout:.0f}s", file=sys.stderr)
        return 1
    print("\ndemo finished: every job ended and was announced.")
    return 0


async def _watch_until_done(config: Config, timeout: float) -> bool:
    daemon = Daemon(config)
    runner = asyncio.create_task(daemon.run())
    await daemon.ready.wait()
    done = await daemon.wait_until(all_done, timeout)
    daemon.stop()
    await runner
    return done


def all_done(store: Store) -> bool:
    """Every job ended and no notification left to send."""
    jobs = store.all_jobs()
    pending = store.notification_counts().get("pending", 0)
    return bool(jobs) and all(job.state.terminal for job in jobs) and not pending
