"""Where the database is: the file, $LOADWATCH_DATABASE, and $STATE_DIRECTORY."""

from __future__ import annotations

from pathlib import Path

from monitor.config.database import sqlite_base
from monitor.redact import redact


def test_default_database_is_a_sqlite_file_beside_the_config(load, workdir):
    config = load("watches: []\n")

    assert config.database == f"sqlite:///{workdir}/loadwatch.db"


def test_relative_sqlite_path_follows_the_config_file_not_the_working_directory(tmp_path):
    assert sqlite_base(tmp_path / "conf" / "config.yaml", None) == tmp_path / "conf"


def test_the_service_config_directory_maps_to_the_service_state_directory():
    # A command run by hand on a systemd host reads /etc/loadwatch/config.yaml
    # and must find the file the service (StateDirectory=loadwatch) writes.
    assert sqlite_base(Path("/etc/loadwatch/config.yaml"), None) == Path("/var/lib/loadwatch")
    assert sqlite_base(Path("/etc/loadwatch/config.yaml"), "/var/lib/loadwatch") == Path(
        "/var/lib/loadwatch"
    )


def test_relative_sqlite_path_is_under_the_first_state_directory(load):
    config = load(
        "database: sqlite:///data/lw.db\n", {"STATE_DIRECTORY": "/var/lib/loadwatch:/var/lib/x"}
    )

    assert config.database == "sqlite:////var/lib/loadwatch/data/lw.db"


def test_absolute_sqlite_path_is_kept(load):
    config = load("database: sqlite:////srv/lw.db\n", {"STATE_DIRECTORY": "/var/lib/loadwatch"})

    assert config.database == "sqlite:////srv/lw.db"


def test_in_memory_sqlite_is_left_alone(load):
    config = load("database: 'sqlite://'\n", {"STATE_DIRECTORY": "/var/lib/loadwatch"})

    assert config.database == "sqlite://"


def test_environment_database_overrides_the_file(load):
    config = load(
        "database: sqlite:///from-file.db\n",
        {"LOADWATCH_DATABASE": "sqlite:///from-env.db", "STATE_DIRECTORY": "/state"},
    )

    assert config.database == "sqlite:////state/from-env.db"


def test_postgresql_url_passes_through_and_its_password_is_a_secret(load):
    url = "postgresql+psycopg://loadwatch:db-pa55word@db.example.com/loadwatch"

    config = load(f"database: {url}\n")

    assert config.database == url
    assert redact(config.database) == "postgresql+psycopg://loadwatch:***@db.example.com/loadwatch"


def test_postgresql_url_without_driver_uses_psycopg(load):
    config = load("database: postgresql://db.example.com/loadwatch\n")

    assert config.database == "postgresql+psycopg://db.example.com/loadwatch"


def test_unsupported_database_is_reported_without_its_url(problems):
    found = problems("database: mysql://root:db-pa55word@localhost/lw\n")

    assert found == [
        "config.yaml:1: database: mysql is not a supported database"
        " (use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB)"
    ]


def test_bad_environment_database_is_reported_under_its_variable(problems):
    found = problems("watches: []\n", {"LOADWATCH_DATABASE": "not a url"})

    assert found == [
        "config.yaml: LOADWATCH_DATABASE: not a database URL"
        " (use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB)"
    ]
