"""How commands reach the database: open it for reading without migrating or
creating anything, migrate it on purpose, wait for it at the daemon's start,
and tell what is wrong with it in one line."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from monitor.problems import StartupProblem
from monitor.redact import redact
from monitor.store import migrate
from monitor.store.store import Store

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # how often `run` tries a database that is down at start

# Words in a driver's error that mean "not there yet": worth waiting for.
_TRANSIENT = re.compile(
    r"connection refused|timeout expired|timed out|starting up|shutting down|"
    r"temporary failure in name resolution|server closed the connection|"
    r"too many connections|database is locked",
    re.IGNORECASE,
)


class DatabaseProblem(StartupProblem):
    """The database cannot be used: `where` (the database) and `detail` (what is
    wrong, what to do); `transient` when waiting may help."""

    def __init__(self, where: str, detail: str, transient: bool = False) -> None:
        super().__init__(redact(f"{where}: {detail}"))
        self.where = where
        self.detail = redact(detail)
        self.transient = transient


def label(url: str) -> str:
    """The database as a person names it: a SQLite file's path, or the URL
    without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def describe(url: str, error: BaseException) -> DatabaseProblem:
    """`error`, met while using the database at `url`, as one line that says
    what is wrong and what to do."""
    parsed = make_url(url)
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = " ".join(str(cause).split())
    where = f"database {label(url)}"
    if isinstance(error, migrate.UnknownRevision):  # its text already says what to do
        return DatabaseProblem(where, text)
    if parsed.get_backend_name() == "sqlite":
        return DatabaseProblem(where, _sqlite_problem(parsed.database or "", text))
    host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    known = [
        (r"connection refused", f"nothing accepts connections at {host}; is PostgreSQL running?"),
        (r"failed to resolve host|name or service not known", f"unknown host '{parsed.host}'"),
        (
            r'role "([^"]*)" does not exist',
            "PostgreSQL has no role '{0}' (create it, or fix the user in `database:`)",
        ),
        (
            r'database "([^"]*)" does not exist',
            "PostgreSQL has no database '{0}' (createdb {0}, or fix `database:`)",
        ),
        (r"password authentication failed", "the password was refused"),
        (r"timeout expired|timed out", f"no answer from {host} in time"),
        (r"starting up", "PostgreSQL is starting up"),
    ]
    for pattern, message in known:
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            problem = message.format(*match.groups())
            break
    else:
        problem = text[:300] or type(cause).__name__
    return DatabaseProblem(where, problem, bool(_TRANSIENT.search(text)))


def _sqlite_problem(path: str, text: str) -> str:
    folder = Path(path).parent
    if "unable to open" in text and path and not folder.is_dir():
        return _NO_DIRECTORY.format(folder)
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return "cannot open the file for writing (check its permissions)"
    return text[:300]


_NO_DIRECTORY = "the directory {} does not exist (create it, or fix `database:`)"


def _missing_sqlite_file(url: str) -> DatabaseProblem | None:
    """Why a SQLite database that a read must not create cannot be read, if so."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    path = Path(parsed.database)
    if path.is_file():
        return None
    where = f"database {path}"
    if not path.parent.is_dir():
        return DatabaseProblem(where, _NO_DIRECTORY.format(path.parent))
    return DatabaseProblem(
        where,
        "no such file yet: the daemon creates it when it first starts (`loadwatch run`),"
        " or create it with `loadwatch db upgrade`",
    )


def open_for_reading(url: str) -> Store:
    """The store at `url`, checked to hold loadwatch's current schema; never
    creates a file or migrates. Raises DatabaseProblem saying what to do."""
    missing = _missing_sqlite_file(url)
    if missing is not None:
        raise missing
    store = Store(url)
    try:
        current, head = schema_position(store)
    except SQLAlchemyError as error:
        store.close()
        raise describe(url, error) from None
    if current != head:
        store.close()
        raise DatabaseProblem(f"database {label(url)}", _schema_advice(current, head))
    return store


def _schema_advice(current: str | None, head: str | None) -> str:
    if current is None:
        return "no loadwatch tables yet: run `loadwatch db upgrade` (or start the daemon)"
    if not migrate.known_revision(current):
        return str(migrate.UnknownRevision(current, head))
    return (
        f"at schema {current}, this loadwatch needs {head}:"
        " run `loadwatch db upgrade` (or restart the daemon)"
    )


def schema_position(store: Store) -> tuple[str | None, str | None]:
    """(the database's schema revision, the newest this loadwatch knows)."""
    return migrate.current_revision(store.engine), migrate.head_revision()


def open_and_upgrade(url: str) -> tuple[Store, str | None, str | None]:
    """The store at `url` brought to the newest schema: (store, before, after)."""
    store = Store(url)
    try:
        before, after = store.upgrade()
    except (SQLAlchemyError, migrate.UnknownRevision) as error:
        store.close()
        raise describe(url, error) from None
    return store, before, after


def probe(url: str) -> tuple[str, bool]:
    """(one line on where the database at `url` stands, whether its schema is
    current); for `db status` and `check --online`. Changes nothing; raises
    DatabaseProblem when the database cannot be reached."""
    where = f"database {label(url)}"
    missing = _missing_sqlite_file(url)
    if missing is not None:
        if not Path(make_url(url).database or "").parent.is_dir():
            raise missing
        return f"{where}: no file yet (`run` or `db upgrade` creates it)", False
    store = Store(url)
    try:
        current, head = schema_position(store)
    except SQLAlchemyError as error:
        raise describe(url, error) from None
    finally:
        store.close()
    if current == head:
        return f"{where}: schema {current} (current)", True
    if current is not None and not migrate.known_revision(current):
        return f"{where}: {migrate.UnknownRevision(current, head)}", False
    return (
        f"{where}: schema {current or 'empty'}; `db upgrade` (or `run`) takes it to {head}",
        False,
    )


async def wait_and_upgrade(
    store: Store, url: str, stopping: asyncio.Event
) -> tuple[str | None, str | None] | None:
    """Migrate at the daemon's start, waiting for a database that is down
    (refused, restarting) with a log line; None when told to stop first.
    A database that cannot work however long we wait (no such role, database
    or directory, a schema from a newer loadwatch) raises DatabaseProblem at once."""
    said = ""
    while True:
        try:
            return await asyncio.to_thread(store.upgrade)
        except (SQLAlchemyError, migrate.UnknownRevision) as error:
            problem = describe(url, error)
            if not problem.transient:
                raise problem from None
            if str(problem) != said:
                log.warning("%s (retrying every %.0f s)", problem, RETRY_SECONDS)
                said = str(problem)
        try:
            await asyncio.wait_for(stopping.wait(), RETRY_SECONDS)
            return None
        except TimeoutError:
            continue
