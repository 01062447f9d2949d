"""Small asyncio helpers the daemon's loops share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Wakeup:
    """A flag one loop sleeps on with a timeout; `set` wakes it at once.

    Each sleep costs one future and one timer. Sleeping on asyncio.Events
    with a timeout takes a task per event and an `asyncio.wait` around them,
    and the poll loop, which wakes hundreds of times a second at 1,000
    polls/s, spent a tenth of its CPU on that (bench/README.md)."""

    def __init__(self) -> None:
        self._set = False
        self._sleeper: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        sleeper = self._sleeper
        if sleeper is not None and not sleeper.done():
            sleeper.set_result(None)

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def sleep(self, timeout: float) -> None:
        """Return when the flag is set (at once if it is), or after `timeout` seconds."""
        if self._set:
            return
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(max(timeout, 0.0), _settle, sleeper)
        self._sleeper = sleeper
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleeper = None


def _settle(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)


@contextlib.contextmanager
def woken_by(event: asyncio.Event, wakeup: Wakeup) -> Iterator[None]:
    """While the block runs, `event` being set (a stop request, say) sets `wakeup` too."""

    async def wait_then_wake() -> None:
        await event.wait()
        wakeup.set()

    relay = asyncio.create_task(wait_then_wake(), name="relay")
    try:
        yield
    finally:
        relay.cancel()
