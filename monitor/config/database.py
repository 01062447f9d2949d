"""The database URL: where a relative SQLite file lives, and its password kept secret."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.redact import add_secret

_FORMS = "use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB"

# What systemd/loadwatch.service gives the daemon (ConfigurationDirectory= and
# StateDirectory=), so that a command run by hand next to the service, reading
# the same config file, finds the same SQLite file without being told.
SERVICE_CONFIG_DIRECTORY = Path("/etc/loadwatch")
SERVICE_STATE_DIRECTORY = Path("/var/lib/loadwatch")


def sqlite_base(config_file: Path, state_directory: str | None) -> Path:
    """The directory a relative SQLite path is taken from: the first entry of
    $STATE_DIRECTORY (systemd sets it for the service); for a config file in
    /etc/loadwatch, the service's state directory; else the config file's own
    directory (so it does not depend on where a command is run from)."""
    if state_directory:
        return Path(state_directory.split(":")[0])
    folder = config_file.absolute().parent
    if folder == SERVICE_CONFIG_DIRECTORY:
        return SERVICE_STATE_DIRECTORY
    return folder


def resolve_database_url(url: str, base: Path) -> str:
    """`url` with a relative SQLite path made absolute under `base` (see
    `sqlite_base`). Raises ValueError, without the URL in its text, for what
    cannot be used."""
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
        path = base.absolute() / path
    return parsed.set(database=str(path)).render_as_string(hide_password=False)
