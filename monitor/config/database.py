"""The database URL: where a relative SQLite file lives, and its password kept secret."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.redact import add_secret

_FORMS = "use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB"


def resolve_database_url(url: str, state_directory: str | None, cwd: Path) -> str:
    """`url` with a relative SQLite path made absolute: under the first entry of
    `state_directory` (systemd's $STATE_DIRECTORY) when given, else under `cwd`.
    Raises ValueError, without the URL in its text, for what cannot be used."""
    try:
        parsed = make_url(url)
        quoted_password = urlsplit(url).password
    except (ArgumentError, ValueError):
        raise ValueError(f"not a database URL ({_FORMS})") from None
    add_secret(parsed.password)
    add_secret(quoted_password)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        # psycopg 3 is the driver we ship; SQLAlchemy would otherwise pick psycopg2.
        if parsed.drivername == "postgresql":
            return "postgresql+psycopg" + url[len("postgresql") :]
        return url
    if backend != "sqlite":
        raise ValueError(f"{parsed.drivername} is not a supported database ({_FORMS})")
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    path = Path(database).expanduser()
    if not path.is_absolute():
        base = Path(state_directory.split(":")[0]) if state_directory else cwd
        path = base.absolute() / path
    return parsed.set(database=str(path)).render_as_string(hide_password=False)
