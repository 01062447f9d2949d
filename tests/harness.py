"""Running the real daemon inside a test's event loop."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import MetaData, select

from monitor.app import Daemon
from monitor.clock import Clock
from monitor.config import Config, load_config
from monitor.store.store import Store

FAST_POLL = "{initial: 0.05s, factor: 1, max: 0.05s, jitter: 0}"
FAST_RETRY = "{initial: 0.05s, factor: 2, max: 0.2s}"


def write_config(folder: Path, text: str) -> Config:
    path = folder / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, environ={})


@asynccontextmanager
async def running(config: Config, clock: Clock | None = None) -> AsyncIterator[Daemon]:
    """The daemon running on this loop until the block ends (on `clock` if given)."""
    daemon = Daemon(config, clock=clock)
    task = asyncio.create_task(daemon.run())
    ready = asyncio.create_task(daemon.ready.wait())
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()  # raises what stopped it
    try:
        yield daemon
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 15)


def jobs_ended(store: Store) -> bool:
    """Every job terminal and every notification settled (sent or dead)."""
    jobs = store.all_jobs()
    pending = store.notification_counts().get("pending", 0)
    return bool(jobs) and all(job.state.terminal for job in jobs) and pending == 0


def scheduled_polls(store: Store) -> int:
    """How many jobs have a poll scheduled (the database is the schedule)."""
    return sum(1 for job in store.all_jobs() if job.next_poll_at is not None)


def recorded_moves(url: str) -> list[tuple[str, str, str | None]]:
    """Every recorded transition as (from, to, raw status), oldest first."""
    store = Store(url)
    try:
        return [(t["from_state"], t["to_state"], t["raw_status"]) for t in store.transitions_of()]
    finally:
        store.close()


def dump_database(url: str) -> str:
    """Every row of every table, as text: for looking for things that must not be there."""
    store = Store(url)
    metadata = MetaData()
    metadata.reflect(store.engine)
    lines = []
    with store.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                lines.append(f"{table.name}: {tuple(row)!r}")
    store.close()
    return "\n".join(lines)
