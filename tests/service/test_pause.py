"""Pausing and resuming a watch from the CLI and over HTTP while the daemon
runs: a paused watch's job is not polled (another watch's job keeps going,
which is how the test knows time has passed), `status` says so, and a
resumed watch is polled again at once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from monitor.simulators.base import Step
from tests.harness import running
from tests.service.conftest import polls_of
from tests.service.test_http_api import AUTH, api, config_for

STEADY = [Step({"status": "dataloading", "history": "Loading"})]  # runs until the test ends
WATCHES = '[{name: paused-one, provider: hr, job: "P1"}, {name: other, provider: hr, job: "O1"}]'


async def cli(config, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "monitor", *args, "-c", str(config.path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, out.decode(), err.decode()


def two_watches(tmp_path, database_url, kpa, receiver):
    kpa.add_job("P1", STEADY)
    kpa.add_job("O1", STEADY)
    return config_for(tmp_path, database_url, kpa, receiver, watches=WATCHES)


async def quiet_while_the_other_is_polled(daemon, kpa) -> None:
    """The paused job gets at most the poll that was in flight, while the
    other job is polled ten more times."""
    assert await daemon.wait_until(lambda s: "paused-one" in daemon.pauses.paused(), 20)
    before, other = polls_of(kpa, "P1"), polls_of(kpa, "O1")
    assert await daemon.wait_until(lambda s: polls_of(kpa, "O1") >= other + 10, 20)
    assert polls_of(kpa, "P1") <= before + 1


async def test_pause_and_resume_from_the_cli(tmp_path, database_url, kpa, json_receiver):
    config = two_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon:
        assert await daemon.wait_until(lambda s: polls_of(kpa, "P1") >= 2, 20)
        code, out, _ = await cli(config, "pause", "paused-one")
        assert (code, out.strip()) == (0, "paused paused-one")
        await quiet_while_the_other_is_polled(daemon, kpa)

        code, out, _ = await cli(config, "status", "--json")
        rows = {row["watch"]: row for row in json.loads(out)}
        assert rows["paused-one"]["paused"] is True and rows["other"]["paused"] is False
        code, out, _ = await cli(config, "status")
        assert "running (paused)" in out

        resumed_at = polls_of(kpa, "P1")
        code, out, _ = await cli(config, "resume", "paused-one")
        assert (code, out.strip()) == (0, "resumed paused-one: polled again now")
        assert await daemon.wait_until(lambda s: polls_of(kpa, "P1") >= resumed_at + 3, 20)


async def test_pause_twice_and_unknown_watches(tmp_path, database_url, kpa, json_receiver):
    config = two_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config):
        pass  # the daemon put the config's watches in the database
    assert (await cli(config, "pause", "other"))[1].strip() == "paused other"
    assert (await cli(config, "pause", "other"))[1].strip() == "other was paused already"
    assert (await cli(config, "resume", "paused-one"))[1].strip() == "paused-one is not paused"
    code, _, err = await cli(config, "pause", "nobody")
    assert code == 1 and "no watch named 'nobody'" in err


async def test_pause_and_resume_over_http(tmp_path, database_url, kpa, json_receiver):
    config = two_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        refused = await client.post("/api/watches/pause", json={"name": "paused-one"})
        assert refused.status_code == 401
        unknown = await client.post("/api/watches/pause", json={"name": "x"}, headers=AUTH)
        assert unknown.status_code == 404
        bad = await client.post("/api/watches/pause", json={"watch": "x"}, headers=AUTH)
        assert bad.status_code == 400

        paused = await client.post("/api/watches/pause", json={"name": "paused-one"}, headers=AUTH)
        assert paused.json() == {"name": "paused-one", "paused": True, "changed": True}
        await quiet_while_the_other_is_polled(daemon, kpa)
        jobs = {row["watch"]: row["paused"] for row in (await client.get("/api/jobs")).json()}
        assert jobs == {"paused-one": True, "other": False}

        resumed_at = polls_of(kpa, "P1")
        answer = await client.post("/api/watches/resume", json={"name": "paused-one"}, headers=AUTH)
        assert answer.json() == {"name": "paused-one", "paused": False, "changed": True}
        assert await daemon.wait_until(lambda s: polls_of(kpa, "P1") >= resumed_at + 3, 20)


async def test_a_paused_watch_stays_paused_across_a_restart(
    tmp_path, database_url, kpa, json_receiver
):
    config = two_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config):
        pass
    assert (await cli(config, "pause", "paused-one"))[0] == 0
    before = polls_of(kpa, "P1")
    async with running(config) as daemon:
        assert "paused-one" in daemon.pauses.paused()
        other = polls_of(kpa, "O1")
        assert await daemon.wait_until(lambda s: polls_of(kpa, "O1") >= other + 10, 20)
    assert polls_of(kpa, "P1") == before
