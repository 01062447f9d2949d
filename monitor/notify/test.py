"""`loadwatch notify-test`: one test message to every URL of some notifiers,
each URL's result on its own line."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import NamedTuple, TextIO

from monitor.config import Config, NotifierSettings
from monitor.notify.delivery import deliver, display_url

TITLE = "loadwatch test message"
BODY = "This is a test from loadwatch notify-test. If you can read it, this URL works."


class TestResult(NamedTuple):
    """How sending the test message to one URL went (a tuple, so callers may
    unpack it: `notifier, url, ok, error`)."""

    notifier: str
    url: str  # as display_url shows it: no secrets
    ok: bool
    error: str | None

    def line(self) -> str:
        return f"{self.notifier} {self.url}: " + ("ok" if self.ok else f"FAILED: {self.error}")


async def send_test(config: Config, names: Sequence[str]) -> list[TestResult]:
    """Send the test message to every URL of the named notifiers, all at once."""
    targets = [(name, url) for name in names for url in config.notifiers[name].urls]
    results = await asyncio.gather(
        *(deliver(url, TITLE, _body(config.notifiers[name]), "info") for name, url in targets)
    )
    return [
        TestResult(name, display_url(url), result.ok, result.error)
        for (name, url), result in zip(targets, results, strict=True)
    ]


def _body(notifier: NotifierSettings) -> str:
    """The test text; for a `format: json` notifier a JSON document with event
    `test`, so the automation behind it can be tested too."""
    if notifier.format == "json":
        return json.dumps({"version": 1, "type": "info", "event": "test", "message": BODY})
    return BODY


def notify_test(
    config: Config, notifier: str | None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """The command: a line per URL on `out`; exit status 0 when every URL
    took the message, 1 when one did not or there was nothing to test."""
    if notifier is not None and notifier not in config.notifiers:
        print(f"no notifier named '{notifier}' in {config.path}", file=err)
        return 1
    names = [notifier] if notifier else list(config.notifiers)
    if not names:
        print(f"no notifiers in {config.path}", file=err)
        return 1
    results = asyncio.run(send_test(config, names))
    for result in results:
        print(result.line(), file=out)
    return 0 if all(result.ok for result in results) else 1
