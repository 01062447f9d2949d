"""`loadwatch demo`: the whole daemon against simulated providers on loopback,
a temporary SQLite database and the terminal as notifier. Nothing to set up.

Jobs on every provider type start, progress and end in every way loadwatch
knows: succeeded, partial, failed, canceled; one waits for a person, one
stalls, one runs past its deadline (overdue), and one provider answers 503
for a while (unreachable, then recovered). All messages go through the real
outbox and Apprise, to `console://`; demo_view.py draws the jobs meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor import report
from monitor.app import Daemon
from monitor.config import Config, load_config
from monitor.demo_view import View, make_view
from monitor.notify.console import register_console_scheme
from monitor.simulators import comestri, fullstory, incorta, kpa_flex, rocketchat
from monitor.simulators.base import HttpError, Step
from monitor.store.store import Store

STEP = 2.0  # seconds each simulated stage lasts
STALL_AFTER = 5.0  # short, so the demo shows `waiting` and `stalled`
DEADLINE = 4.0  # catalog-full-sync runs twice as long: `overdue`
OUTAGE_POLLS = 3  # eu-payroll's provider answers 503 this many times: `unreachable`
EVERY_EVENT = [
    "succeeded",
    "partial",
    "failed",
    "canceled",
    "waiting",
    "stalled",
    "overdue",
    "unreachable",
    "recovered",
]


@dataclass
class DemoProvider:
    """One simulated provider: its config block and the watches on its jobs."""

    name: str
    block: dict[str, Any]
    watches: list[dict[str, Any]] = field(default_factory=list)


def _hr(sim: kpa_flex.KpaFlexSimulator) -> DemoProvider:
    sim.add_job("5804f0f30ef50473af5870c6", kpa_flex.success_script(seconds=STEP, rows=1200))
    sim.add_job(
        "5804f0f30ef50473af5870c7",
        kpa_flex.failure_script(
            seconds=STEP,
            history="Queued\nLoading 830 rows\nRow 12: 'hired_on' is not a date\nAborted",
        ),
    )
    # Loading, with no change, for longer than stall_after: `stalled`, then done.
    stuck = kpa_flex.success_script(seconds=STEP, rows=40)
    stuck[1] = Step(stuck[1].fields, seconds=STALL_AFTER + 2 * STEP)
    sim.add_job("5804f0f30ef50473af5870c8", stuck)
    # max_rps: KPA's default pace (20/min, its documented limit) is slow for a demo.
    block = {
        "type": "kpa_flex",
        "base_url": sim.url,
        "token": kpa_flex.DEFAULT_TOKEN,
        "max_rps": 10,
    }
    return DemoProvider(
        "hr",
        block,
        [
            {"name": "hr-nightly", "job": "5804f0f30ef50473af5870c6"},
            {"name": "hr-incidents", "job": "5804f0f30ef50473af5870c7"},
            {"name": "hr-training", "job": "5804f0f30ef50473af5870c8"},
        ],
    )


def _eu_payroll(sim: kpa_flex.KpaFlexSimulator) -> DemoProvider:
    # Still loading when its gateway is back, so `recovered` comes before the
    # end (a job that ends as it recovers says so in its end message alone).
    script = kpa_flex.success_script(seconds=STEP)
    script[1] = Step(script[1].fields, seconds=4 * STEP)
    sim.add_job("61a0c3f2e4b0d9a1c2f3e4d5", script)
    sim.inject(HttpError(503), times=OUTAGE_POLLS)  # its gateway is down at first
    block = {
        "type": "kpa_flex",
        "base_url": sim.url,
        "token": kpa_flex.DEFAULT_TOKEN,
        "max_rps": 10,
    }
    watch = {"name": "eu-payroll", "job": "61a0c3f2e4b0d9a1c2f3e4d5", "unreachable_after": 2}
    return DemoProvider("hr-eu", block, [watch])


def _catalog(sim: comestri.ComestriSimulator) -> DemoProvider:
    sim.add_job("4711", comestri.success_script(seconds=STEP))
    sim.add_job("4712", comestri.partial_script(seconds=STEP, errors=3))
    sim.add_job("4713", comestri.canceled_script(seconds=STEP))
    sim.add_job("4714", _long_sync())
    block = {"type": "comestri", "base_url": sim.url, "token": comestri.DEFAULT_TOKEN}
    return DemoProvider(
        "catalog",
        block,
        [
            {"name": "catalog-products", "job": "4711"},
            {"name": "catalog-prices", "job": "4712"},
            {"name": "catalog-cleanup", "job": "4713"},
            {"name": "catalog-full-sync", "job": "4714", "deadline": f"{DEADLINE:g}s"},
        ],
    )


def _long_sync() -> list[Step]:
    """A Comestri job that runs for 4 STEPs, its progress rising every STEP
    (so it is overdue, but never stalled), then completes."""
    stages = [Step({"status": "request_received", "percent_completed": 0}, seconds=STEP)]
    for fraction in (0.2, 0.5, 0.8):
        stages.append(Step({"status": "processing", "percent_completed": fraction}, seconds=STEP))
    done = {"status": "complete", "percent_completed": 1, "result": "Success", "error_count": 0}
    return [*stages, Step(done)]


def _analytics(sim: fullstory.FullStorySimulator) -> DemoProvider:
    sim.add_job("batch-events-1", fullstory.success_script(seconds=STEP, imports=1200))
    block = {"type": "fullstory", "base_url": sim.url, "api_key": fullstory.DEFAULT_API_KEY}
    return DemoProvider("analytics", block, [{"name": "events-backfill", "job": "batch-events-1"}])


def _chat(sim: rocketchat.RocketChatSimulator) -> DemoProvider:
    def stage(status: str, total: int, completed: int, seconds: float | None) -> Step:
        count = {"total": total, "completed": completed, "error": 0}
        return Step({"status": status, "count": count}, seconds=seconds)

    # An import that stops for an admin to pick users and channels, longer than
    # stall_after (so `waiting` is announced), then goes on and finishes.
    sim.start_operation(
        [
            stage("importer_new", 0, 0, STEP),
            stage("importer_preparing_users", 0, 0, STEP),
            stage("importer_user_selection", 120, 0, STALL_AFTER + 2 * STEP),
            stage("importer_importing_messages", 120, 60, STEP),
            stage("importer_done", 120, 120, None),
        ]
    )
    block = {
        "type": "rocketchat",
        "base_url": sim.url,
        "user_id": rocketchat.DEFAULT_USER_ID,
        "auth_token": rocketchat.DEFAULT_AUTH_TOKEN,
        "max_rps": 2,
    }
    watch = {"name": "slack-migration", "job": "current", "on": ["started", *EVERY_EVENT]}
    return DemoProvider("chat", block, [watch])


def _warehouse(sim: incorta.IncortaSimulator) -> DemoProvider:
    execution = sim.add_execution(
        incorta.partial_script(failing=("OnlineStore.productmodel",), seconds=STEP)
    )
    block = {
        "type": "incorta",
        "base_url": sim.url,
        "tenant": incorta.DEFAULT_TENANT,
        "token": incorta.DEFAULT_TOKEN,
    }
    return DemoProvider("warehouse", block, [{"name": "warehouse-nightly", "job": execution}])


@contextlib.contextmanager
def _simulated_providers() -> Iterator[list[DemoProvider]]:
    with (
        kpa_flex.KpaFlexSimulator(rate_limit=None) as hr,
        kpa_flex.KpaFlexSimulator(rate_limit=None) as hr_eu,
        comestri.ComestriSimulator() as catalog,
        fullstory.FullStorySimulator(rate_limit=None) as analytics,
        rocketchat.RocketChatSimulator(rate_limit=None) as chat,
        incorta.IncortaSimulator() as warehouse,
    ):
        yield [
            _hr(hr),
            _eu_payroll(hr_eu),
            _catalog(catalog),
            _analytics(analytics),
            _chat(chat),
            _warehouse(warehouse),
        ]


def _config(database: Path, providers: list[DemoProvider]) -> dict[str, Any]:
    return {
        "database": f"sqlite:///{database}",
        "defaults": {
            "poll": {"initial": "1s", "factor": 1.5, "max": "2s", "jitter": 0.1},
            "stall_after": f"{STALL_AFTER:g}s",
            "notify": ["terminal"],
            "on": EVERY_EVENT,
        },
        "providers": {p.name: p.block for p in providers},
        "notifiers": {"terminal": {"urls": ["console://"]}},
        "watches": [{**w, "provider": p.name} for p in providers for w in p.watches],
    }


def run_demo(timeout: float = 60.0) -> int:
    """Run the demo until every job has ended and been announced; 0 on success."""
    register_console_scheme()
    view = make_view(sys.stdout)
    with (
        tempfile.TemporaryDirectory(prefix="loadwatch-demo-") as folder,
        _simulated_providers() as providers,
        _logs_to(Path(folder) / "demo.log"),
    ):
        path = Path(folder) / "config.yaml"
        path.write_text(
            yaml.safe_dump(_config(Path(folder) / "demo.db", providers), sort_keys=False)
        )
        count = sum(len(p.watches) for p in providers)
        view.say(
            f"loadwatch demo: {count} simulated jobs on {len(providers)} providers"
            " (KPA Flex, Comestri, FullStory, Rocket.Chat, Incorta); messages appear"
            " as they are sent.\n"
        )
        config = load_config(path)
        finished = asyncio.run(_watch_until_done(config, timeout, view))
        store = Store(config.database)
        rows = report.status_rows(store)
        store.close()
    view.final(rows)
    if not finished:
        print(f"\ndemo did not finish within {timeout:.0f}s", file=sys.stderr)
        return 1
    view.say("\ndemo finished: every job ended and was announced.")
    return 0


@contextlib.contextmanager
def _logs_to(path: Path) -> Iterator[None]:
    """The daemon's log lines go to `path`, not between the messages."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    file_handler = logging.FileHandler(path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for handler in handlers:
        root.removeHandler(handler)
    root.addHandler(file_handler)
    try:
        yield
    finally:
        root.removeHandler(file_handler)
        file_handler.close()
        for handler in handlers:
            root.addHandler(handler)


async def _watch_until_done(config: Config, timeout: float, view: View) -> bool:
    daemon = Daemon(config)
    runner = asyncio.create_task(daemon.run())
    ready = asyncio.create_task(daemon.ready.wait())
    await asyncio.wait({ready, runner}, return_when=asyncio.FIRST_COMPLETED)
    if runner.done():  # it could not start: say why (a StartupProblem)
        ready.cancel()
        await runner
        return False
    with view.live():
        drawing = asyncio.create_task(view.follow(daemon.store))
        done = await daemon.wait_until(all_done, timeout)
        drawing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drawing
    daemon.stop()
    await runner
    return done


def all_done(store: Store) -> bool:
    """Every job ended and no notification left to send."""
    jobs = store.all_jobs()
    pending = store.notification_counts().get("pending", 0)
    return bool(jobs) and all(job.state.terminal for job in jobs) and not pending
