"""`loadwatch demo`: the whole daemon against simulated providers on loopback,
a temporary SQLite database and the terminal as notifier. Nothing to set up.

Every provider type gets jobs that start, progress and end: succeeded, failed,
finished with errors (partial), and one that waits for a human to pick what to
import. All messages go through the real outbox and Apprise, to `console://`.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from monitor.notify.console import register_console_scheme
from monitor.simulators import comestri, fullstory, incorta, kpa_flex, rocketchat
from monitor.simulators.base import Step
from monitor.store.store import Store

STEP = 2.0  # seconds each simulated stage lasts
STALL_AFTER = 5.0  # short, so the demo shows `waiting` (and `stalled`) too


@dataclass
class DemoProvider:
    """One simulated provider: its config block and the watches on its jobs."""

    name: str
    block: dict[str, Any]
    watches: list[dict[str, str]] = field(default_factory=list)


def _kpa(sim: kpa_flex.KpaFlexSimulator) -> DemoProvider:
    sim.add_job("5804f0f30ef50473af5870c6", kpa_flex.success_script(seconds=STEP, rows=1200))
    sim.add_job(
        "5804f0f30ef50473af5870c7",
        kpa_flex.failure_script(
            seconds=STEP,
            history="Queued\nLoading 830 rows\nRow 12: 'hired_on' is not a date\nAborted",
        ),
    )
    block = {"type": "kpa_flex", "base_url": sim.url, "token": kpa_flex.DEFAULT_TOKEN}
    return DemoProvider(
        "hr",
        block,
        [
            {"name": "hr-nightly", "job": "5804f0f30ef50473af5870c6"},
            {"name": "hr-incidents", "job": "5804f0f30ef50473af5870c7"},
        ],
    )


def _comestri(sim: comestri.ComestriSimulator) -> DemoProvider:
    sim.add_job("4711", comestri.success_script(seconds=STEP))
    sim.add_job("4712", comestri.partial_script(seconds=STEP, errors=3))
    block = {"type": "comestri", "base_url": sim.url, "token": comestri.DEFAULT_TOKEN}
    return DemoProvider(
        "catalog",
        block,
        [
            {"name": "catalog-products", "job": "4711"},
            {"name": "catalog-prices", "job": "4712"},
        ],
    )


def _fullstory(sim: fullstory.FullStorySimulator) -> DemoProvider:
    sim.add_job("batch-events-1", fullstory.success_script(seconds=STEP, imports=1200))
    sim.add_job("batch-events-2", fullstory.partial_script(seconds=STEP, imports=42, errors=2))
    block = {"type": "fullstory", "base_url": sim.url, "api_key": fullstory.DEFAULT_API_KEY}
    return DemoProvider(
        "analytics",
        block,
        [
            {"name": "events-backfill", "job": "batch-events-1"},
            {"name": "events-replay", "job": "batch-events-2"},
        ],
    )


def _rocketchat(sim: rocketchat.RocketChatSimulator) -> DemoProvider:
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
    return DemoProvider("chat", block, [{"name": "slack-migration", "job": "current"}])


def _incorta(sim: incorta.IncortaSimulator) -> DemoProvider:
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
        kpa_flex.KpaFlexSimulator(rate_limit=None) as kpa,
        comestri.ComestriSimulator() as catalog,
        fullstory.FullStorySimulator(rate_limit=None) as analytics,
        rocketchat.RocketChatSimulator(rate_limit=None) as chat,
        incorta.IncortaSimulator() as warehouse,
    ):
        yield [
            _kpa(kpa),
            _comestri(catalog),
            _fullstory(analytics),
            _rocketchat(chat),
            _incorta(warehouse),
        ]


def _config(database: Path, providers: list[DemoProvider]) -> dict[str, Any]:
    return {
        "database": f"sqlite:///{database}",
        "defaults": {
            "poll": {"initial": "1s", "factor": 1.5, "max": "2s", "jitter": 0.1},
            "stall_after": f"{STALL_AFTER}s",
            "notify": ["terminal"],
            "on": [
                "started",
                "succeeded",
                "partial",
                "failed",
                "canceled",
                "waiting",
                "unreachable",
                "recovered",
            ],
        },
        "providers": {p.name: p.block for p in providers},
        "notifiers": {"terminal": {"urls": ["console://"]}},
        "watches": [{**w, "provider": p.name} for p in providers for w in p.watches],
    }


def run_demo(timeout: float = 60.0) -> int:
    """Run the demo until every job has ended and been announced; 0 on success."""
    register_console_scheme()
    with (
        tempfile.TemporaryDirectory(prefix="loadwatch-demo-") as folder,
        _simulated_providers() as providers,
    ):
        path = Path(folder) / "config.yaml"
        path.write_text(
            yaml.safe_dump(_config(Path(folder) / "demo.db", providers), sort_keys=False)
        )
        count = sum(len(p.watches) for p in providers)
        print(
            f"loadwatch demo: {count} simulated jobs on {len(providers)} providers "
            f"(KPA Flex, Comestri, FullStory, Rocket.Chat, Incorta); config in {path}\n",
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
