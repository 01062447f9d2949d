"""Applying the Alembic migrations from code (`loadwatch db upgrade`, and `run` at start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from monitor.problems import StartupProblem

# Any fixed number: instances sharing one PostgreSQL database take turns migrating.
_MIGRATION_LOCK_ID = 0x10AD_3A7C


def migrations_dir() -> Path:
    """Where the migration scripts are: inside the installed package, or the
    repository's top-level migrations/ when running from a checkout."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "_migrations", package_dir.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("loadwatch's migrations are missing from this installation")


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def known_revision(revision: str, scripts: ScriptDirectory | None = None) -> bool:
    """Whether this loadwatch has the migration `revision`."""
    scripts = scripts or ScriptDirectory.from_config(_alembic_config())
    return revision in {script.revision for script in scripts.walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class UnknownRevision(StartupProblem):
    """The database's schema is at a revision this loadwatch does not have: a
    newer loadwatch made it."""

    def __init__(self, revision: str, head: str | None) -> None:
        super().__init__(
            f"its schema is at revision {revision}, which this loadwatch (newest {head}) does"
            " not know: a newer loadwatch made it; run that version, or use another database"
        )


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision; returns (before, after).
    Raises UnknownRevision if the schema is newer than this loadwatch's."""
    config = _alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
            )
        before = MigrationContext.configure(connection).get_current_revision()
        scripts = ScriptDirectory.from_config(config)
        if before is not None and not known_revision(before, scripts):
            raise UnknownRevision(before, scripts.get_current_head())
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after
