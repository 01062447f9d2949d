"""Opening the database: one engine per process, SQLite tuned for a daemon."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from monitor.redact import add_secret, redact
from monitor.store.write_health import (
    WRITE_OPTION,
    track_writes,
    truncate_wal_if_needed,
    write_health,
)


def open_engine(url: str) -> Engine:
    """An engine for `url` (sqlite:///… or postgresql+psycopg://…)."""
    parsed = make_url(url)
    if parsed.password:
        add_secret(str(parsed.password))
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
        track_writes(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    # pool_pre_ping lets the daemon ride out a PostgreSQL restart.
    engine = create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, json_deserializer=load_json_column
    )
    track_writes(engine)
    return engine


def _sqlite_engine(url: str, **options: Any) -> Engine:
    engine = create_engine(
        url, connect_args={"timeout": 30}, json_deserializer=load_json_column, **options
    )
    event.listen(engine, "connect", _tune_sqlite)
    # SQLAlchemy, not pysqlite, begins transactions, so a writer can take
    # the write lock up front (`BEGIN IMMEDIATE`) and queue on busy_timeout
    # rather than fail when a read lock cannot be upgraded.
    event.listen(engine, "begin", _begin)
    return engine


def load_json_column(text: str) -> Any:
    """A JSON column's value. Most jobs' `details` and `children` are empty,
    and a claim reads both for every job it takes: those need no parser."""
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return json.loads(text)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "busy_timeout=5000",
        "synchronous=NORMAL",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    if immediate:
        truncate_wal_if_needed(
            write_health(connection.engine), connection.connection.dbapi_connection
        )
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_WRITERS: dict[int, Engine] = {}


def writer(engine: Engine) -> Engine:
    """The engine to write with. On SQLite, one connection for all of a
    process's writes, its transactions taking the write lock at once: writers
    queue in the process, not in SQLite's busy handler, which sleeps up to
    100 ms between tries and left the daemon idle while two writers waited
    on each other. On PostgreSQL, the engine itself."""
    if not is_sqlite(engine):
        return engine
    found = _WRITERS.get(id(engine))
    if found is None or found.url != engine.url:  # (an id may be reused after a close)
        base = _sqlite_engine(
            engine.url.render_as_string(hide_password=False),
            pool_size=1,
            max_overflow=0,
            pool_timeout=120,
        )
        track_writes(base, like=engine)
        found = base.execution_options(**{WRITE_OPTION: True})
        _WRITERS[id(engine)] = found
        event.listen(engine, "engine_disposed", lambda _: _dispose_writer(engine))
    return found


def _dispose_writer(engine: Engine) -> None:
    """Disposing an engine closes its writer's connection too (new ones are
    opened as needed, as for the engine itself)."""
    found = _WRITERS.get(id(engine))
    if found is not None:
        found.dispose()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


# SQLite's OperationalErrors that are about the write, not the connection.
_REFUSED_WRITES = ("disk is full", "readonly", "too big", "out of memory")


def unavailable(error: BaseException) -> str | None:
    """A one-line reason when `error` means the database cannot be used right
    now (gone away, refused, restarting, busy), else None. The daemon's loops
    log that as a warning and retry, rather than as a crash with a traceback.
    A statement the database refuses (a value that does not fit, a full disk)
    is not an outage: retrying it changes nothing."""
    if not isinstance(error, DBAPIError):
        return None
    if not (error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)):
        return None
    if any(words in str(error.orig).lower() for words in _REFUSED_WRITES):
        return None
    cause = error.orig if error.orig is not None else error
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return redact(f"{type(cause).__name__}: {first_line}"[:300])


# Connection-level trouble: the server went away, refused us, is restarting,
# or (SQLite) another process holds the lock. Anything else is about the write.
_CONNECTION_LOSS_WORDS = (
    "server closed the connection",
    "connection refused",
    "connection reset",
    "connection is closed",
    "connection timed out",
    "could not connect",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "ssl connection has been closed",
    "consuming input failed",
    "database is locked",
    "database is busy",
    "unable to open database file",
)
# SQLSTATE classes and codes of a lost or refused connection (PostgreSQL).
_CONNECTION_LOSS_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def is_connection_loss(error: BaseException) -> bool:
    """Whether `error` means the database could not be reached (or was busy)
    right now, so the same write may well pass in a moment; False for an
    error about the write itself (a value that does not fit, a constraint,
    a full disk), which retrying will not cure."""
    if not isinstance(error, DBAPIError):
        return False
    cause = error.orig if error.orig is not None else error
    state = str(getattr(cause, "sqlstate", "") or getattr(cause, "pgcode", "") or "")
    if state and any(state.startswith(prefix) for prefix in _CONNECTION_LOSS_STATES):
        return True
    if state:
        return False  # the server answered with an error about the statement
    text = str(cause).lower()
    if any(words in text for words in _CONNECTION_LOSS_WORDS):
        return True
    return bool(error.connection_invalidated) and "full" not in text
