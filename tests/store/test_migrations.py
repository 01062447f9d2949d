"""The migrations build exactly the schema the code uses, on both databases."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


# A released revision never changes: databases already at it would keep the
# old shape. Change the schema with a new revision (alembic revision -m ...).
RELEASED = {
    "0001_initial.py": "df68def2c0da317a82070d8080e8b457530eb850e35a7b711cbf96f0a388ce38",
    "0002_poll_leases.py": "1f277fac250530eb455bc47995acb703433402cffbc1f388572b0cbfc33b4395",
    "0003_operations.py": "af54b8d403fea90ec98f253ea6c549f8816d8f3b39c3eb837930cdf0fbe93e1b",
}


def test_released_migrations_are_never_edited():
    versions = Path(migrate.migrations_dir()) / "versions"
    for name, digest in RELEASED.items():
        assert hashlib.sha256((versions / name).read_bytes()).hexdigest() == digest, (
            f"{name} was edited; add a new revision instead"
        )
