"""A database that refuses to record a poll, even as a failed poll (a full
disk refuses every write), must not keep that job from being polled once it
accepts writes again: the job's lease runs out and it is claimed as usual.

The refusal is a trigger on `jobs` that raises, added at the moment the vendor
answers, so the answer in flight is the one whose record is refused."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from sqlalchemy import create_engine

from monitor.simulators.base import Step
from monitor.simulators.kpa_flex import KpaFlexSimulator
from monitor.store.store import Store
from tests.harness import FAST_POLL, running, write_config

TOKEN = "kpa-token-refused-writes"
JOB = "00000000000000000000abcd"
LEASE_SECONDS = 1.0
pytestmark = pytest.mark.timeout(60)

_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE UPDATE ON jobs"
        " BEGIN SELECT RAISE(ABORT, 'refused for the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$",
        "CREATE TRIGGER refuse BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}
_ACCEPT = {"sqlite": ["DROP TRIGGER refuse"], "postgresql": ["DROP TRIGGER refuse ON jobs"]}


class Heard(logging.Handler):
    """Sets `event` when a log message contains `words`."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words, self.event = words, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


async def test_a_poll_the_database_refused_to_record_does_not_stop_its_job(tmp_path, database_url):
    engine = create_engine(database_url)
    dialect = engine.dialect.name
    given_up = Heard("recording the failure failed too")
    logging.getLogger("monitor.engine.recorder").addHandler(given_up)
    try:
        with KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa:
            job = kpa.add_job(JOB, [Step({"status": "dataloading", "history": "Loading"})])
            answer, armed, refusing = job.answer, threading.Event(), threading.Event()

            def answer_and_refuse() -> dict[str, object]:
                fields = answer()
                if armed.is_set() and not refusing.is_set():
                    with engine.begin() as db:
                        for statement in _REFUSE[dialect]:
                            db.exec_driver_sql(statement)
                    refusing.set()
                return fields

            job.answer = answer_and_refuse  # type: ignore[method-assign]
            config = write_config(
                tmp_path,
                f"""
                database: "{database_url}"
                lease: {LEASE_SECONDS}s
                defaults:
                  poll: {FAST_POLL}
                providers:
                  hr: {{type: kpa_flex, base_url: "{kpa.url}", token: {TOKEN}, max_rps: 1000}}
                watches:
                  - {{name: nightly, provider: hr, job: "{JOB}"}}
                """,
            )
            async with running(config) as daemon:
                assert await daemon.wait_until(lambda store: polled(store) > 0, timeout=20)
                armed.set()
                # The poll that saw the refusal begin: its record, its
                # failed-poll record and its failure count are all refused.
                assert await asyncio.to_thread(given_up.event.wait, 20)
                with engine.begin() as db:
                    for statement in _ACCEPT[dialect]:
                        db.exec_driver_sql(statement)
                asked, recorded = job.polls, await asyncio.to_thread(polled, daemon.store)
                # The daemon beats several times a lease meanwhile; the job must
                # come back within its lease and a poll, not after a restart.
                resumed = await daemon.wait_until(
                    lambda store: job.polls > asked and polled(store) > recorded, timeout=10
                )
                assert resumed, f"not polled again after the refusal ended ({job.polls} polls)"
    finally:
        logging.getLogger("monitor.engine.recorder").removeHandler(given_up)
        engine.dispose()


def polled(store: Store) -> int:
    """How many polls of the one job the database has recorded."""
    (job,) = store.all_jobs()
    return job.polls
