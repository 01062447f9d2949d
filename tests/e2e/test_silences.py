"""Silences and quiet windows with the daemon running: set with the real CLI,
obeyed by the outbox worker. A job's end waits out the silence and goes
once; other events are recorded as silenced and never sent; history shows
both."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import load_config
from monitor.simulators.base import Step
from monitor.simulators.kpa_flex import KpaFlexSimulator, failure_script
from monitor.store.silences import add_silence
from monitor.store.store import Store
from tests.harness import running
from tests.notify.daemon_config import kpa_simulator, notify_config

JOB = "5804f0f30ef50473af5870c6"


@pytest.fixture
def kpa() -> Iterator[KpaFlexSimulator]:
    with kpa_simulator() as simulator:
        yield simulator


async def cli(config, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "monitor", *args, "-c", str(config.path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, out.decode(), err.decode()


def rows(store: Store) -> dict[str, tuple[str, str | None]]:
    return {n.event: (n.status, n.silence_note) for n in store.notifications_of()}


def settled(event: str, status: str):
    return lambda store: rows(store).get(event, ("", None))[0] == status


def noted(event: str):
    """The event's row has a silence note (it was held back or silenced)."""
    return lambda store: rows(store).get(event, ("", None))[1] is not None


def config_for(tmp_path, database_url, kpa, receiver, top=None, **watch):
    """One watch of KPA job JOB telling `receiver`; `watch` keys added to the
    watch, `top` keys to the file."""
    team = {"team": {"urls": [receiver.url]}}
    config = notify_config(tmp_path, database_url, kpa, team, [("hr-nightly", JOB)])
    document = json.loads(config.path.read_text())
    document["watches"][0].update(watch)
    document.update(top or {})
    config.path.write_text(json.dumps(document))
    return load_config(config.path, environ={})


async def test_a_failed_job_waits_out_the_silence_and_goes_once_at_unsilence(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, failure_script())
    config = config_for(tmp_path, database_url, kpa, json_receiver, on=["started", "failed"])
    code, out, _ = await cli(config, "silence", "hr-nightly", "--for", "2h", "--reason", "deploy")
    assert code == 0 and out.startswith("silence 1: watch hr-nightly until ")
    async with running(config) as daemon:
        assert await daemon.wait_until(settled("started", "silenced"), timeout=20)
        assert await daemon.wait_until(noted("failed"), timeout=20)
        status, note = rows(daemon.store)["failed"]
        assert status == "pending" and note.startswith("held by silence 1 (deploy) until ")
        assert rows(daemon.store)["started"] == ("silenced", "silenced by silence 1 (deploy)")
        assert json_receiver.messages == []

        code, out, _ = await cli(config, "silences")
        assert "1  watch hr-nightly  until" in out and "(deploy)" in out
        code, out, _ = await cli(config, "unsilence", "1")
        assert code == 0
        assert await daemon.wait_until(settled("failed", "sent"), timeout=20)
        await daemon.outbox.drain_once()

    assert [m["title"] for m in json_receiver.messages] == ["hr-nightly failed"]
    code, out, _ = await cli(config, "history", "--state", "silenced")
    assert "silenced by silence 1 (deploy)" in out


async def test_a_held_job_end_goes_by_itself_when_the_silence_runs_out(
    tmp_path, database_url, kpa, json_receiver
):
    # The job appears only once the silence holds, and fails at its first
    # poll: its end falls well inside the silence's 8 s.
    config = config_for(tmp_path, database_url, kpa, json_receiver, unreachable_after=1000)
    async with running(config) as daemon:
        now = datetime.now(UTC)
        ends_at = now + timedelta(seconds=8)
        add_silence(
            daemon.store.engine, watch=None, provider="hr", reason=None, now=now, ends_at=ends_at
        )
        kpa.add_job(JOB, [Step({"status": "error", "history": "Row 1: bad"})])
        assert await daemon.wait_until(settled("failed", "sent"), timeout=20)
    assert len(json_receiver.messages) == 1
    store = Store(database_url)
    (row,) = store.notifications_of()
    store.close()
    assert row.silence_note.startswith("held by silence 1 until ")  # it was held first
    assert row.sent_at >= ends_at  # and went when the silence ran out, not before


async def test_silence_all_and_a_quiet_window_hold_events_too(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, failure_script())
    now = datetime.now(UTC)
    window = {
        "from": (now - timedelta(hours=1)).strftime("%H:%M"),
        "to": (now + timedelta(hours=1)).strftime("%H:%M"),
    }
    config = config_for(
        tmp_path, database_url, kpa, json_receiver, top={"timezone": "UTC"}, quiet=[window]
    )
    assert (await cli(config, "silence", "--all", "--for", "30m"))[0] == 0
    async with running(config) as daemon:
        assert await daemon.wait_until(noted("failed"), timeout=20)
        status, note = rows(daemon.store)["failed"]
    assert status == "pending"
    assert note.startswith("held by silence 1, quiet window until ")
    assert json_receiver.messages == []


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["silence", "nobody", "--for", "1h"], "no watch named 'nobody'"),
        (["silence", "--provider", "nope", "--for", "1h"], "no provider named 'nope'"),
        (["silence", "hr-nightly", "--all", "--for", "1h"], "exactly one of"),
        (["silence", "hr-nightly", "--for", "soon"], "--for"),
        (["unsilence", "7"], "no silence 7 is holding"),
    ],
)
async def test_silence_commands_refuse_what_they_cannot_do(
    tmp_path, database_url, kpa, json_receiver, args, complaint
):
    config = config_for(tmp_path, database_url, kpa, json_receiver)
    code, _, err = await cli(config, *args)
    assert code == 1
    assert complaint in err
