"""Config text and a CLI runner for the reload and run-time watch tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import monitor
from monitor.simulators.kpa_flex import KpaFlexSimulator
from tests.harness import FAST_POLL

TOKEN = "kpa-reload-secret-token-51d0"
RUNNING = {"status": "dataloading", "history": "Loading"}
SOURCE = str(Path(monitor.__file__).resolve().parent.parent)  # the checkout, for -m monitor


def config_text(
    database_url: str,
    kpa: KpaFlexSimulator,
    watches: Mapping[str, str],
    *,
    poll: str = FAST_POLL,
    notify: str = "",
) -> str:
    """A config polling KPA jobs: `watches` maps each watch name to its job id."""
    listed = "".join(
        f'\n  - {{name: {name}, provider: hr, job: "{job}"}}' for name, job in watches.items()
    )
    return (
        f'database: "{database_url}"\n'
        f"defaults:\n  poll: {poll}\n{notify}"
        f"providers:\n  hr: {{type: kpa_flex, base_url: {kpa.url}, token: {TOKEN}, max_rps: 50}}\n"
        f"watches:{listed or ' []'}\n"
    )


def polls_of(kpa: KpaFlexSimulator, job_id: str) -> int:
    return sum(1 for r in kpa.requests if r.json and r.json.get("id") == job_id)


def loadwatch(*args: str) -> subprocess.CompletedProcess[str]:
    """`loadwatch ARGS` in a child process, as a person would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADWATCH_")}
    env["PYTHONPATH"] = SOURCE
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
