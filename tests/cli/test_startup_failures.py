"""What a user meets when something outside loadwatch is wrong at start-up: one
line saying what, where and what to do, a non-zero exit, never a traceback.
`run` waits for a database that is down; one-shot commands fail fast."""

from __future__ import annotations

import os
import socket
import sqlite3
import textwrap
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.cli.process import Running, loadwatch
from tests.service.tcp_proxy import TcpProxy


def write_config(folder: Path, extra: str = "") -> Path:
    path = folder / "config.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            providers:
              hr:
                type: kpa_flex
                base_url: http://127.0.0.1:9/v1
                token: ${KPA_TOKEN}
            notifiers:
              team:
                urls: ["json://127.0.0.1:9/hook"]
            defaults:
              notify: [team]
            watches:
              - {name: hr-nightly, provider: hr, job: "J1"}
            """
        )
        + extra
    )
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_clear_line(result) -> str:
    """The single stderr line of a failed command, checked to be no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("loadwatch: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_taken_http_port_stops_run_with_one_line(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = write_config(tmp_path, f"http:\n  listen: 127.0.0.1:{port}\n")
        result = loadwatch("run", "-c", str(config), env={"KPA_TOKEN": "t"}, timeout=30)
    line = one_clear_line(result)
    assert f"cannot listen on http://127.0.0.1:{port} (http.listen): address already in use" in line


REFUSED = f"postgresql+psycopg://loadwatch@127.0.0.1:{free_port()}/loadwatch"
UNKNOWN_HOST = "postgresql+psycopg://loadwatch@no-such-host.invalid/loadwatch"
ONE_SHOT = [("status",), ("history",), ("db", "upgrade"), ("db", "status")]


@pytest.mark.parametrize(
    ("command", "url", "says"),
    [
        *((command, REFUSED, "nothing accepts connections at 127.0.0.1:") for command in ONE_SHOT),
        (("status",), UNKNOWN_HOST, "unknown host 'no-such-host.invalid'"),
    ],
    ids=[*(" ".join(command) + " refused" for command in ONE_SHOT), "status unknown-host"],
)
def test_an_unreachable_database_is_one_line(tmp_path, command, url, says):
    config = write_config(tmp_path)
    result = loadwatch(*command, "-c", str(config), env={"LOADWATCH_DATABASE": url})
    assert says in one_clear_line(result)


@pytest.mark.parametrize("command", [("status",), ("db", "upgrade"), ("run",)], ids=" ".join)
def test_a_sqlite_file_in_a_missing_directory_is_one_line(tmp_path, command):
    config = write_config(tmp_path, "database: sqlite:///no/such/dir/lw.db\n")
    result = loadwatch(*command, "-c", str(config), env={"KPA_TOKEN": "t"}, timeout=30)
    line = one_clear_line(result)
    assert f"the directory {tmp_path}/no/such/dir does not exist" in line
    assert not (tmp_path / "no").exists()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"username": "no_such_role"}, "PostgreSQL has no role 'no_such_role'"),
        ({"database": "no_such_db"}, "PostgreSQL has no database 'no_such_db'"),
    ],
    ids=["missing-role", "missing-database"],
)
@pytest.mark.parametrize("command", [("status",), ("run",)], ids=" ".join)
def test_a_missing_role_or_database_is_one_line_and_run_does_not_wait(
    tmp_path, command, change, says
):
    base = os.environ.get("LOADWATCH_TEST_PG")
    if not base:
        pytest.skip("LOADWATCH_TEST_PG is not set")
    url = make_url(base).set(**change).render_as_string(hide_password=False)
    config = write_config(tmp_path)
    env = {"LOADWATCH_DATABASE": url, "KPA_TOKEN": "t"}
    result = loadwatch(*command, "-c", str(config), env=env, timeout=30)
    assert says in one_clear_line(result)


def test_check_online_reports_an_unreachable_database(tmp_path):
    config = write_config(tmp_path)
    env = {"LOADWATCH_DATABASE": REFUSED, "KPA_TOKEN": "t"}
    result = loadwatch("check", "--online", "-c", str(config), env=env)
    assert result.returncode == 1
    database_line = result.stdout.splitlines()[1]
    assert database_line.startswith(f"database {REFUSED}: FAILED: nothing accepts connections")


def test_check_online_says_where_a_reachable_database_stands(tmp_path):
    config = write_config(tmp_path)
    assert loadwatch("db", "upgrade", "-c", str(config)).returncode == 0
    result = loadwatch("check", "--online", "-c", str(config), env={"KPA_TOKEN": "t"})
    assert f"database {tmp_path}/loadwatch.db: schema " in result.stdout
    assert "(current): ok" in result.stdout


def test_run_waits_for_a_database_that_is_down_and_stops_cleanly_while_waiting(tmp_path):
    config = write_config(tmp_path)
    daemon = Running(
        "run", "-c", str(config), env={"LOADWATCH_DATABASE": REFUSED, "KPA_TOKEN": "t"}
    )
    try:
        line = daemon.expect("(retrying every 2 s)")
        assert "nothing accepts connections" in line
    finally:
        code = daemon.stop()
    assert code == 0, daemon.text()
    assert "Traceback" not in daemon.text()


@pytest.mark.postgres
def test_run_starts_once_the_database_comes_back(tmp_path, postgres_url):
    url = make_url(postgres_url)  # a schema of its own, not the shared database's
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.cut()
    behind = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    config = write_config(tmp_path)
    daemon = Running("run", "-c", str(config), env={"LOADWATCH_DATABASE": behind, "KPA_TOKEN": "t"})
    try:
        daemon.expect("(retrying every 2 s)")
        proxy.restore()
        daemon.expect("loadwatch running: 1 watches")
    finally:
        code = daemon.stop()
        proxy.cut()
    assert code == 0, daemon.text()


@pytest.mark.parametrize("command", [("run",), ("db", "upgrade"), ("status",)], ids=" ".join)
def test_a_schema_made_by_a_newer_loadwatch_is_one_line(tmp_path, command):
    """Going back to an older loadwatch: it says so, and changes nothing."""
    config = write_config(tmp_path)
    assert loadwatch("db", "upgrade", "-c", str(config)).returncode == 0
    database = tmp_path / "loadwatch.db"
    with sqlite3.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = '0999'")
    result = loadwatch(*command, "-c", str(config), env={"KPA_TOKEN": "t"}, timeout=30)
    line = one_clear_line(result)
    assert f"database {database}: its schema is at revision 0999" in line
    assert "a newer loadwatch made it" in line
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0999",)]
    status = loadwatch("db", "status", "-c", str(config))
    assert status.returncode == 1
    assert status.stdout.startswith(f"database {database}: its schema is at revision 0999")
