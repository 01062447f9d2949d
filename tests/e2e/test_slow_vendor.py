"""A vendor that dribbles its headers a byte every half second costs each
poll the provider's timeout, no more, and holds no `max_concurrency` slot
longer: two jobs behind one slot both end `unreachable` with the reason,
on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from monitor.store.store import Store
from tests.e2e.vendor import vendor_config
from tests.harness import running
from tests.providers.test_http_deadline import SlowHeaderServer


@pytest.fixture
def slow() -> Iterator[SlowHeaderServer]:
    with SlowHeaderServer() as server:
        yield server


async def test_a_slow_header_vendor_costs_the_timeout_and_its_jobs_end_unreachable(
    tmp_path, database_url, slow, json_receiver
):
    vendor = SimpleNamespace(url=f"http://127.0.0.1:{slow.port}")
    config = vendor_config(
        tmp_path,
        database_url,
        vendor,
        json_receiver.url,
        ["1", "2"],
        provider_extra="    timeout: 1s\n    max_concurrency: 1",
    )

    def both_announced(store: Store) -> bool:
        return len(json_receiver.messages) >= 2

    started = time.monotonic()
    async with running(config) as daemon:
        assert await daemon.wait_until(both_announced, timeout=30)
    took = time.monotonic() - started

    # Two failed polls each, one at a time through one slot: about 4 timeouts.
    # Without a total deadline the first poll alone would take the drip's 40 s.
    assert took < 20
    titles = sorted(message["title"] for message in json_receiver.messages)
    assert titles == ["job-0 unreachable", "job-1 unreachable"]
    assert all("timeout after 1s" in m["message"] for m in json_receiver.messages)
