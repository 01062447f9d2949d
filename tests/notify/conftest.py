"""Fixtures for notification tests: a fake clock and a real, migrated store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.clock import FakeClock
from monitor.store.store import Store
from tests.notify.helpers import START


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(database_url: str, clock: FakeClock) -> Iterator[Store]:
    store = Store(database_url)
    store.upgrade()
    yield store
    store.close()
