"""`loadwatch notify-test`: one test message to every URL of some notifiers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from monitor.config import Config
from monitor.notify.delivery import deliver, display_url

TITLE = "loadwatch test message"
BODY = "This is a test from loadwatch notify-test. If you can read it, this URL works."


async def send_test(
    config: Config, names: Iterable[str]
) -> list[tuple[str, str, bool, str | None]]:
    """(notifier, shown URL, ok, error) for every URL of the named notifiers."""
    targets = [(name, url) for name in names for url in config.notifiers[name].urls]
    results = await asyncio.gather(*(deliver(url, TITLE, BODY, "info") for _, url in targets))
    return [
        (name, display_url(url), result.ok, result.error)
        for (name, url), result in zip(targets, results, strict=True)
    ]
