"""Fixtures shared by every test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from monitor import redact
from monitor.store.store import Store
from tests.receivers import JsonReceiver, MqttReceiver, SmtpReceiver

# Property tests: no per-example deadline and no "too slow" verdicts, which a
# machine shared with other jobs would turn into flaky failures; what the tests
# check is the outcome of each input, and performance lives in bench/.
settings.register_profile(
    "loadwatch",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("loadwatch")


@pytest.fixture
def json_receiver() -> Iterator[JsonReceiver]:
    """An HTTP endpoint for Apprise json:// URLs; see JsonReceiver."""
    receiver = JsonReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    """A plain SMTP server for Apprise mailto:// URLs; see SmtpReceiver."""
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def mqtt_receiver() -> Iterator[MqttReceiver]:
    """A subscriber on the local MQTT broker (skips without one); see MqttReceiver."""
    receiver = MqttReceiver()
    yield receiver
    receiver.close()


# -- databases: every store and end-to-end test runs on SQLite and on PostgreSQL --

PG_ENV = "LOADWATCH_TEST_PG"


def _postgres_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a schema of its own in the
    PostgreSQL named by $LOADWATCH_TEST_PG (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'loadwatch.db'}"
        return
    yield from _postgres_schema()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A schema of its own in the PostgreSQL named by $LOADWATCH_TEST_PG."""
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[str]:
    base = make_url(_postgres_url())
    schema = f"lw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test registers its own secrets; none leak into the next."""
    yield
    redact.forget_all()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on `database_url`, closed afterwards."""
    store = Store(database_url)
    store.upgrade()
    yield store
    store.close()
