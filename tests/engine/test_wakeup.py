"""The loops' sleep (monitor/aio.py): woken at once by `set`, else after its timeout."""

from __future__ import annotations

import asyncio

from monitor.aio import Wakeup, woken_by


async def test_set_wakes_a_sleeper_long_before_its_timeout() -> None:
    wakeup = Wakeup()
    asyncio.get_running_loop().call_soon(wakeup.set)
    await asyncio.wait_for(wakeup.sleep(3600), timeout=5)
    assert wakeup.is_set()


async def test_a_flag_already_set_does_not_sleep_until_cleared() -> None:
    wakeup = Wakeup()
    wakeup.set()
    await asyncio.wait_for(wakeup.sleep(3600), timeout=5)
    wakeup.clear()
    sleeping = asyncio.ensure_future(wakeup.sleep(3600))
    await asyncio.sleep(0)
    assert not sleeping.done()
    wakeup.set()
    await asyncio.wait_for(sleeping, timeout=5)


async def test_sleep_ends_at_its_timeout_when_nobody_sets_it() -> None:
    wakeup = Wakeup()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(wakeup.sleep(0.01), timeout=5)
    assert loop.time() - started >= 0.009
    assert not wakeup.is_set()


async def test_a_cancelled_sleep_leaves_no_timer_behind() -> None:
    wakeup = Wakeup()
    sleeping = asyncio.ensure_future(wakeup.sleep(3600))
    await asyncio.sleep(0)
    sleeping.cancel()
    await asyncio.gather(sleeping, return_exceptions=True)
    wakeup.set()  # no sleeper left to wake: must not raise
    assert wakeup.is_set()


async def test_the_event_wakes_the_sleeper_while_the_block_runs() -> None:
    wakeup, stopping = Wakeup(), asyncio.Event()
    with woken_by(stopping, wakeup):
        sleeping = asyncio.ensure_future(wakeup.sleep(3600))
        await asyncio.sleep(0)
        stopping.set()
        await asyncio.wait_for(sleeping, timeout=5)
    assert wakeup.is_set()
