"""SPEC §6: a database that goes away is retried; the daemon does not exit and
loses no transition. PostgreSQL behind a TCP proxy the test cuts and restores,
while the shared server keeps running."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from sqlalchemy.engine import make_url

from monitor.simulators.base import Step
from monitor.simulators.kpa_flex import KpaFlexSimulator
from tests.harness import FAST_POLL, jobs_ended, recorded_moves, running, write_config
from tests.service.tcp_proxy import TcpProxy

TOKEN = "kpa-outage-token-31d0"
JOB = "outage-job"


def through(proxy: TcpProxy, database_url: str) -> str:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


async def test_a_job_that_ends_while_the_database_is_away_is_recorded_and_announced_once(
    tmp_path, database_url, json_receiver, caplog
):
    if not database_url.startswith("postgresql"):
        pytest.skip("only a database server can go away; SQLite is a local file")
    server = make_url(database_url)
    proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
    with KpaFlexSimulator(token=TOKEN, rate_limit=None) as kpa:
        running_step = Step({"status": "dataloading", "history": "Loading"}, polls=1)
        job = kpa.add_job(JOB, [running_step, Step({"status": "dataloaded", "history": "Loaded"})])
        # The database goes away the moment the vendor first answers that the job
        # ended, before that answer reaches the daemon: it must hold the poll's
        # result until it can record it (a cut timed from the test raced the
        # poll on a slow machine).
        answer, cut = job.answer, threading.Event()

        def answer_and_cut() -> dict[str, object]:
            fields = answer()
            if fields["status"] == "dataloaded" and not cut.is_set():
                proxy.cut()
                cut.set()
            return fields

        job.answer = answer_and_cut  # type: ignore[method-assign]
        config = write_config(
            tmp_path,
            f"""
            database: "{through(proxy, database_url)}"
            defaults:
              poll: {FAST_POLL}
              notify: [team]
            providers:
              hr: {{type: kpa_flex, base_url: "{kpa.url}", token: {TOKEN}, max_rps: 1000}}
            notifiers:
              team: {{urls: ["{json_receiver.url}"]}}
            watches:
              - {{name: hr-nightly, provider: hr, job: "{JOB}"}}
            """,
        )
        async with running(config) as daemon:
            deadline = asyncio.get_running_loop().time() + 30
            # The daemon keeps trying and stays up (it runs on this loop meanwhile).
            while not (
                cut.is_set() and any("database unavailable" in r.message for r in caplog.records)
            ):
                assert asyncio.get_running_loop().time() < deadline, "no outage was noticed"
                await asyncio.sleep(0.05)
            assert json_receiver.messages == []
            proxy.restore()
            assert await daemon.wait_until(jobs_ended, timeout=30)
    proxy.cut()

    assert [m["type"] for m in json_receiver.messages] == ["success"]
    # An outage is a warning to retry on, not a crash with a traceback.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    moves = [(before, after) for before, after, _ in recorded_moves(database_url)]
    assert moves == [("unknown", "running"), ("running", "succeeded")]
