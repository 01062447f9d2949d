"""Alembic environment for loadwatch.

The daemon and `loadwatch db upgrade` run migrations from code and hand over an
open connection in `config.attributes["connection"]`; plain `alembic` runs use
`sqlalchemy.url`. Logging is left alone: the daemon owns it.
"""

from alembic import context
from sqlalchemy import create_engine

from monitor.store.tables import metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("loadwatch migrations run online only")
run_migrations_online()
