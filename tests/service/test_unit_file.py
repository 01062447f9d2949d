"""systemd/loadwatch.service: what it must say, how exposed it is, and that
its MemoryDenyWriteExecute=yes does not break the daemon."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import pytest

from monitor.simulators.kpa_flex import success_script
from tests.service import seccomp
from tests.service.conftest import JOB, service_config
from tests.service.processes import REPOSITORY, daemon_log, daemon_process

UNIT = REPOSITORY / "systemd" / "loadwatch.service"
needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (apt install systemd)"
)
needs_seccomp = pytest.mark.skipif(not seccomp.supported(), reason="the filter is for x86-64 Linux")


def settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_unit_is_a_notify_service_with_watchdog_reload_and_directories():
    unit = settings()

    assert unit["Type"] == ["notify"]
    assert unit["WatchdogSec"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["ExecStartPre"][0].endswith("loadwatch check")
    assert unit["ExecStart"][0].endswith("loadwatch run")
    assert unit["StateDirectory"] == unit["ConfigurationDirectory"] == ["loadwatch"]
    assert unit["DynamicUser"] == ["yes"]


@needs_systemd_analyze
def test_unit_exposure_is_two_or_less():
    result = subprocess.run(
        [str(REPOSITORY / "systemd" / "check-exposure")], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout + result.stderr
    score = float(result.stdout.split("exposure ")[1].split()[0])
    assert score <= 2.0


@needs_seccomp
def test_the_filter_refuses_what_memory_deny_write_execute_refuses():
    # Control: cffi's ffi.callback() needs writable+executable memory, so under
    # a working filter it must fail — else the daemon test below proves nothing.
    probe = (
        "from tests.service.seccomp import deny_write_execute\n"
        "deny_write_execute()\n"
        "import cffi\n"
        "cffi.FFI().callback('int(int)', lambda x: x)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPOSITORY
    )

    assert result.returncode != 0
    assert "Cannot allocate write+execute memory" in result.stderr


@needs_seccomp
def test_daemon_polls_and_notifies_under_memory_deny_write_execute(
    tmp_path, database_url, kpa, json_receiver
):
    # Everything loadwatch imports at run time (all of Apprise's plugins,
    # cryptography, psycopg's binary build, SQLAlchemy) and a whole poll-to-delivery run.
    kpa.add_job(JOB, success_script())
    config = service_config(tmp_path, database_url, kpa, json_receiver.url)
    prelude = "from tests.service.seccomp import deny_write_execute\ndeny_write_execute()"

    with daemon_process(config, prelude=prelude) as daemon:
        json_receiver.wait_for(1, timeout=30)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0, daemon_log(config)

    assert json_receiver.messages[0]["title"] == "hr-nightly succeeded"
