"""Fixtures for the service tests: a notify socket, the KPA simulator, configs."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.simulators.kpa_flex import KpaFlexSimulator
from tests.service.processes import NotifySocket

KPA_TOKEN = "kpa-service-secret-token-5d2e"
API_TOKEN = "api-service-secret-token-81b0"
JOB = "5804f0f30ef50473af5870c6"
FAST_POLL = "{initial: 0.05s, factor: 1, max: 0.05s, jitter: 0}"
FAST_RETRY = "{initial: 0.05s, factor: 2, max: 0.2s}"


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    receiver = NotifySocket()
    yield receiver
    receiver.close()


@pytest.fixture
def kpa() -> Iterator[KpaFlexSimulator]:
    with KpaFlexSimulator(token=KPA_TOKEN, rate_limit=None) as simulator:
        yield simulator


def service_config(
    folder: Path,
    database_url: str,
    kpa: KpaFlexSimulator,
    receiver_url: str,
    *,
    extra: str = "",
    watches: str = f'[{{name: hr-nightly, provider: hr, job: "{JOB}"}}]',
    poll: str = FAST_POLL,
) -> Path:
    """A config file for one KPA provider and one json:// notifier; `extra` is
    more top-level YAML (an `http:` block)."""
    path = folder / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            database: "{database_url}"
            defaults:
              poll: {poll}
              notify: [team]
            providers:
              hr:
                type: kpa_flex
                base_url: {kpa.url}
                token: {KPA_TOKEN}
                max_rps: 1000
            notifiers:
              team:
                urls: ["{receiver_url}"]
                retry: {FAST_RETRY}
            watches: {watches}
            """
        )
        + textwrap.dedent(extra)
    )
    return path


def polls_of(simulator: KpaFlexSimulator, job_id: str) -> int:
    return sum(
        1 for r in simulator.requests if isinstance(r.json, dict) and r.json.get("id") == job_id
    )
