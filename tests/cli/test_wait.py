"""`loadwatch wait` as a pipeline runs it: a real subprocess, a real config, the
Comestri simulator; with and without a terminal (a real pseudo-terminal), with
`--json`, Ctrl-C, and `--watch` on a job the running daemon tracks."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.simulators.base import HttpError, Step
from monitor.simulators.comestri import (
    ComestriSimulator,
    canceled_script,
    failure_script,
    partial_script,
    success_script,
)
from tests.harness import FAST_POLL, running, write_config

TOKEN = "comestri-wait-secret-token-5e1a"
COMMAND = [sys.executable, "-m", "monitor"]


@pytest.fixture
def comestri() -> Iterator[ComestriSimulator]:
    with ComestriSimulator(token=TOKEN) as simulator:
        yield simulator


def config_file(tmp_path: Path, comestri: ComestriSimulator, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    text = f"""\
        database: "sqlite:///{tmp_path / "loadwatch.db"}"
        defaults:
          poll: {FAST_POLL}
          unreachable_after: 3
        providers:
          catalog:
            type: comestri
            base_url: {comestri.url}
            token: {TOKEN}
        """
    path.write_text(textwrap.dedent(text) + textwrap.dedent(extra))
    return path


def wait(config: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, "wait", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("script", "code", "state"),
    [
        (success_script(), 0, "succeeded"),
        (failure_script(), 1, "failed"),
        (partial_script(), 2, "partial"),
        (canceled_script(), 3, "canceled"),
    ],
)
def test_wait_exit_status_says_how_the_job_ended(tmp_path, comestri, script, code, state):
    comestri.add_job("J1", script)
    result = wait(config_file(tmp_path, comestri), "catalog", "J1")
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].endswith("catalog job J1: pending 0% (request_received)")
    assert f"catalog job J1 ended - {state}" in lines[-1]
    assert TOKEN not in result.stdout + result.stderr


def test_wait_prints_one_line_per_change_only(tmp_path, comestri):
    comestri.add_job("J1", success_script(polls=4))
    result = wait(config_file(tmp_path, comestri), "catalog", "J1")
    assert result.returncode == 0
    changes = [line.split(": ", 1)[1] for line in result.stdout.strip().splitlines()[:-1]]
    assert [change.split(", ends ~")[0] for change in changes] == [
        "pending 0% (request_received)",
        "pending 0% (ready_to_process)",
        "running 40% (processing)",
        "succeeded 100% (complete)",
    ]
    assert ", ends ~" in changes[2]  # progress rose from 0 %: an estimated end
    assert len(comestri.requests) >= 13  # four polls a step: the lines are changes, not polls


def test_wait_json_prints_only_the_final_status(tmp_path, comestri):
    comestri.add_job("J1", partial_script(errors=7))
    result = wait(config_file(tmp_path, comestri), "catalog", "J1", "--json")
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["state"] == "partial"
    assert document["raw_status"] == "complete"
    assert document["counts"]["errors"] == 7
    assert document["exit_code"] == 2
    assert document["gave_up"] is None
    assert "running 50% (processing)" in result.stderr  # the change lines went to stderr


def test_wait_gives_up_at_the_timeout_with_exit_4(tmp_path, comestri):
    comestri.add_job("J1", [Step({"status": "processing", "percent_completed": 0.3})])
    started = time.monotonic()
    result = wait(config_file(tmp_path, comestri), "catalog", "J1", "--timeout", "1s", "--json")
    assert result.returncode == 4
    document = json.loads(result.stdout)
    assert document["gave_up"] == "timeout"
    assert document["state"] == "running"
    assert time.monotonic() - started < 20


def test_wait_gives_up_on_a_job_the_vendor_does_not_know(tmp_path, comestri):
    result = wait(config_file(tmp_path, comestri), "catalog", "NOPE", "--json")
    assert result.returncode == 4
    document = json.loads(result.stdout)
    assert document["gave_up"].startswith("unreachable: ")
    assert document["failed_polls"] == 3  # unreachable_after, then no more


def test_wait_keeps_trying_an_unreachable_provider_until_the_timeout(tmp_path, comestri):
    config = config_file(tmp_path, comestri)
    comestri.stop()
    result = wait(config, "catalog", "J1", "--timeout", "1s", "--json")
    assert result.returncode == 4
    document = json.loads(result.stdout)
    assert document["gave_up"].startswith("unreachable: ")
    assert document["failed_polls"] > 3  # network trouble is waited out, unlike a 404


@pytest.mark.parametrize(
    "args",
    [
        ["nowhere", "J1"],
        ["catalog"],
        ["catalog", "J1", "--timeout", "soon"],
        ["catalog", "J1", "--no-such-option"],
        ["catalog", "J1", "--watch", "x"],
    ],
)
def test_wait_usage_errors_exit_64(tmp_path, comestri, args):
    result = wait(config_file(tmp_path, comestri), *args)
    assert result.returncode == 64, result.stderr
    assert result.stderr.startswith("loadwatch wait: ")


def test_wait_config_error_exits_78(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("providers: {catalog: {type: nope}}\n")
    result = wait(config, "catalog", "J1")
    assert result.returncode == 78
    assert f"{config}:1:" in result.stderr


def test_wait_ctrl_c_exits_130(tmp_path, comestri):
    comestri.add_job("J1", [Step({"status": "processing", "percent_completed": 0.3})])
    # -X faulthandler: if it hangs, SIGABRT makes it print where each thread is.
    command = [sys.executable, "-X", "faulthandler", *COMMAND[1:]]
    process = subprocess.Popen(
        [*command, "wait", "-c", str(config_file(tmp_path, comestri)), "catalog", "J1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: an ignored SIGINT is inherited, and a test worker
        # that ran with it ignored left `wait` deaf to Ctrl-C (CI, twice).
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # the first poll has been answered
    assert "running 30%" in first
    process.send_signal(signal.SIGINT)
    try:  # read both pipes while waiting: a full pipe must not pass for a hang
        _, errors = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        _, errors = process.communicate(timeout=20)
        pytest.fail(f"wait did not exit on Ctrl-C within 20 s; its stderr ends: {errors[-6000:]}")
    assert process.returncode == 130
    assert "Traceback" not in errors  # a clean exit, not a crash


def _ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_wait_on_a_terminal_draws_a_progress_bar(tmp_path, comestri):
    comestri.add_job("J1", success_script(polls=3))
    output, code = run_in_pty([*COMMAND, "wait", "-c", str(config_file(tmp_path, comestri))])
    assert code == 0
    assert "\x1b[" in output  # drawn with terminal control sequences, not lines
    assert "catalog job J1" in output
    assert "40%" in output and "100%" in output
    assert "0:00:0" in output  # time elapsed
    assert "ends ~" in output  # the estimated end, once progress rose
    assert "ended - succeeded" in output


def run_in_pty(command: list[str]) -> tuple[str, int]:
    """Run `command catalog J1` with its stdout and stderr on a pseudo-terminal."""
    main, secondary = pty.openpty()
    environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    process = subprocess.Popen(
        [*command, "catalog", "J1"], stdout=secondary, stderr=secondary, env=environment
    )
    os.close(secondary)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return b"".join(chunks).decode(errors="replace"), process.wait(timeout=20)


async def test_wait_on_a_watch_follows_the_daemon_database(tmp_path, database_url, comestri):
    comestri.add_job("J7", partial_script(polls=10))
    config_text = f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
        providers:
          catalog:
            type: comestri
            base_url: {comestri.url}
            token: {TOKEN}
        watches:
          - name: catalog-nightly
            provider: catalog
            job: "J7"
        """
    config = write_config(tmp_path, config_text)
    async with running(config):
        process = await asyncio.create_subprocess_exec(
            *COMMAND,
            "wait",
            "-c",
            str(config.path),
            "--watch",
            "catalog-nightly",
            "--json",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2, stderr.decode()
    document = json.loads(stdout)
    assert (document["job"], document["state"]) == ("J7", "partial")


async def test_wait_on_an_unknown_watch_exits_64(tmp_path, comestri):
    config = config_file(tmp_path, comestri, "watches: [{name: a, provider: catalog, job: '1'}]\n")
    async with running(write_config(tmp_path, config.read_text())):
        pass  # the daemon made the database and its watch
    result = wait(config, "--watch", "b")
    assert result.returncode == 64
    assert "no watch named 'b'" in result.stderr


def test_wait_is_throttled_like_the_daemon_and_counts_no_failure(tmp_path, comestri):
    # The first answer is a 429 with Retry-After: the provider pauses for that
    # second (limits.py, as in the daemon) and the wait goes on.
    comestri.add_job("J1", success_script())
    comestri.inject(HttpError(429, headers={"Retry-After": "1"}))
    result = wait(config_file(tmp_path, comestri), "catalog", "J1", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["state"], document["failed_polls"]) == ("succeeded", 0)
    assert "throttled us" in result.stderr


def test_wait_on_a_watch_when_the_database_cannot_be_reached_exits_69(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text('database: "postgresql+psycopg://loadwatch@127.0.0.1:1/nowhere"\n')
    result = wait(config, "--watch", "nightly")
    assert result.returncode == 69
    assert "cannot read the database" in result.stderr
