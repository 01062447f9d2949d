"""The migrations build exactly the schema the code uses, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor.store import migrate
from monitor.store.store import Store
from monitor.store.tables import metadata


def test_migrations_match_the_tables_the_code_uses(database_url):
    store = Store(database_url)
    store.upgrade()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    store.close()
    assert differences == []


def test_upgrade_twice_changes_nothing_the_second_time(database_url):
    store = Store(database_url)
    first = store.upgrade()
    second = store.upgrade()
    store.close()
    assert first == (None, migrate.head_revision())
    assert second == (migrate.head_revision(), migrate.head_revision())
