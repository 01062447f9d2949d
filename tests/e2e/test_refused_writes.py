"""A database that refuses to record a poll, even as a failed poll (a full
disk refuses every write), must not keep that job from being polled once it
accepts writes again: the job's lease runs out and it is claimed as usual.
And a database that goes away while a refused batch is being recorded one
write at a time must not end recording.

The refusal is a trigger on `jobs` that raises, added at the moment the vendor
answers, so the answer in flight is the one whose record is refused."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from monitor.app import Daemon
from monitor.config import Config
from monitor.simulators.base import ScriptedJob, Step
from monitor.simulators.kpa_flex import KpaFlexSimulator
from monitor.store.store import Store
from tests.harness import FAST_POLL, running, write_config
from tests.service.tcp_proxy import TcpProxy

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
    """Sets `event` (after calling `then`) when the recorder logs `words`."""

    def __init__(self, words: str, then: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.words, self.then, self.event = words, then, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage() and not self.event.is_set():
            self.then()
            self.event.set()


@contextmanager
def listening(handler: Heard) -> Iterator[Heard]:
    recorder_log = logging.getLogger("monitor.engine.recorder")
    recorder_log.addHandler(handler)
    try:
        yield handler
    finally:
        recorder_log.removeHandler(handler)


class Refusal:
    """Makes the database refuse every job update from the moment the vendor
    answers once `armed` is set, until `end()`."""

    def __init__(self, database_url: str, job: ScriptedJob) -> None:
        self.engine: Engine = create_engine(database_url)  # straight to the database
        self.dialect = self.engine.dialect.name
        self.armed, self.begun = threading.Event(), threading.Event()
        answer = job.answer

        def answer_and_refuse() -> dict[str, object]:
            fields = answer()
            if self.armed.is_set() and not self.begun.is_set():
                self._run(_REFUSE[self.dialect])
                self.begun.set()
            return fields

        job.answer = answer_and_refuse  # type: ignore[method-assign]

    def end(self) -> None:
        self._run(_ACCEPT[self.dialect])

    def _run(self, statements: list[str]) -> None:
        with self.engine.begin() as db:
            for statement in statements:
                db.exec_driver_sql(statement)


def one_job_config(folder: Path, database_url: str, kpa: KpaFlexSimulator) -> Config:
    return write_config(
        folder,
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


async def refuse_then_resume(
    daemon: Daemon,
    job: ScriptedJob,
    refusal: Refusal,
    heard: Heard,
    *,
    timeout: float,
    then: Callable[[], None] = lambda: None,
) -> bool:
    """Once the job has been recorded, refuse job updates until the recorder
    says `heard`; end the refusal (and do `then`); whether the job is polled
    and recorded again within `timeout` seconds."""
    assert await daemon.wait_until(lambda store: polled(store) > 0, timeout=20)
    refusal.armed.set()
    assert await asyncio.to_thread(heard.event.wait, 20)
    refusal.end()
    then()
    asked, recorded = job.polls, await asyncio.to_thread(polled, daemon.store)
    return await daemon.wait_until(
        lambda store: job.polls > asked and polled(store) > recorded, timeout=timeout
    )


def polled(store: Store) -> int:
    """How many polls of the one job the database has recorded."""
    (job,) = store.all_jobs()
    return job.polls


async def test_a_poll_the_database_refused_to_record_does_not_stop_its_job(tmp_path, database_url):
    with (
        listening(Heard("recording the failure failed too")) as given_up,
        KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa,
    ):
        job = kpa.add_job(JOB, [Step({"status": "dataloading", "history": "Loading"})])
        refusal = Refusal(database_url, job)
        async with running(one_job_config(tmp_path, database_url, kpa)) as daemon:
            # The poll that saw the refusal begin: its record, its failed-poll
            # record and its failure count are all refused. The daemon beats
            # several times a lease meanwhile; the job must come back within
            # its lease and a poll, not after a restart.
            resumed = await refuse_then_resume(daemon, job, refusal, given_up, timeout=10)
            assert resumed, f"not polled again after the refusal ended ({job.polls} polls)"
        refusal.engine.dispose()


async def test_recording_goes_on_when_the_database_goes_away_during_a_refused_batch(
    tmp_path, database_url, caplog
):
    if not database_url.startswith("postgresql"):
        pytest.skip("only a database server can go away; SQLite is a local file")
    server = make_url(database_url)
    proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
    through = server.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    # The database goes away just as the recorder turns to the refused write.
    with (
        listening(Heard("could not record the poll", then=proxy.cut)) as cut,
        KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa,
    ):
        job = kpa.add_job(JOB, [Step({"status": "dataloading", "history": "Loading"})])
        refusal = Refusal(database_url, job)
        async with running(one_job_config(tmp_path, through, kpa)) as daemon:
            resumed = await refuse_then_resume(
                daemon, job, refusal, cut, timeout=20, then=proxy.restore
            )
            assert resumed, "nothing was recorded after the database came back"
        refusal.engine.dispose()
    proxy.cut()
    assert any("database unavailable while recording" in r.message for r in caplog.records)
