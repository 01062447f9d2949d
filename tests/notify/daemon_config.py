"""Config files for end-to-end notification tests: KPA Flex jobs on the
simulator, notifiers pointing at local receivers, a database from the
`database_url` fixture, polls fast enough for a test."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monitor.config import Config, load_config
from monitor.simulators.kpa_flex import KpaFlexSimulator

TOKEN = "kpa-notify-e2e-token-7c1d"
FAST_POLL = {"initial": "0.05s", "factor": 1, "max": "0.05s", "jitter": 0}
FAST_RETRY = {"initial": "0.05s", "factor": 2, "max": "0.2s"}


def notify_config(
    folder: Path,
    database_url: str,
    kpa: KpaFlexSimulator,
    notifiers: Mapping[str, Mapping[str, Any]],
    jobs: Sequence[tuple[str, str]],
) -> Config:
    """A config watching `jobs` ((watch name, KPA job id) pairs) and telling
    every notifier; a notifier block without `retry` retries fast."""
    document = {
        "database": database_url,
        "defaults": {"poll": FAST_POLL, "notify": list(notifiers)},
        "providers": {
            # The limits are the engine's business; here they must not slow 100 jobs.
            "hr": {
                "type": "kpa_flex",
                "base_url": kpa.url,
                "token": TOKEN,
                "max_rps": 10_000,
                "max_concurrency": 16,
            }
        },
        "notifiers": {name: {"retry": FAST_RETRY, **block} for name, block in notifiers.items()},
        "watches": [{"name": name, "provider": "hr", "job": job} for name, job in jobs],
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(document, indent=2))  # JSON is YAML
    return load_config(path, environ={})


def kpa_simulator() -> KpaFlexSimulator:
    """The simulator with its rate limit off: these tests are about notifications."""
    return KpaFlexSimulator(token=TOKEN, rate_limit=None)
