"""Commands read only the config they need: status, history, explain, unwatch
and db status work without any provider secret, and never create or migrate a
database; status shows current watches and keeps retired ones out of the way."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

from tests.cli.process import loadwatch

CONFIG = """\
providers:
  hr:
    type: kpa_flex
    base_url: https://api.kpaflex.example/v1
    token: ${KPA_TOKEN}
  warehouse:
    type: incorta
    base_url: https://incorta.example/incorta
    tenant: default
    token: ${file:incorta-token}
notifiers:
  team:
    urls: ["json://127.0.0.1:9/${HOOK_PATH}"]
defaults:
  notify: [team]
watches:
  - {name: hr-nightly, provider: hr, job: "J1"}
"""

NO_SECRETS = {"KPA_TOKEN": "", "HOOK_PATH": "", "CREDENTIALS_DIRECTORY": ""}


def without_secrets() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in NO_SECRETS}


def write_config(folder: Path, text: str = CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def run_bare(*args: str, cwd: Path | None = None):
    """`loadwatch ARGS` with no secret in the environment at all."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=without_secrets(),
        cwd=cwd,
    )


def test_check_still_demands_every_secret(tmp_path):
    config = write_config(tmp_path)
    result = run_bare("check", "-c", str(config))
    assert result.returncode == 1
    assert "environment variable KPA_TOKEN is not set" in result.stderr
    assert "incorta-token" in result.stderr


def test_read_only_commands_work_without_provider_secrets(tmp_path):
    config = write_config(tmp_path)
    assert run_bare("db", "upgrade", "-c", str(config)).returncode == 0

    status = run_bare("status", "-c", str(config))
    history = run_bare("history", "-c", str(config))
    db_status = run_bare("db", "status", "-c", str(config))
    payload = tmp_path / "answer.json"
    payload.write_text(json.dumps({"ok": True, "dataload": {"id": "J1", "status": "dataloaded"}}))
    explain = run_bare("explain", "hr", str(payload), "-c", str(config))

    for result in (status, history, db_status, explain):
        assert result.returncode == 0, result.stderr
        assert "not set" not in result.stderr
    assert status.stdout.strip() == "no jobs tracked yet"
    assert db_status.stdout.strip().endswith("(current)")
    assert "succeeded" in explain.stdout


def test_watch_and_unwatch_work_without_provider_secrets(tmp_path):
    config = write_config(tmp_path)
    added = run_bare("watch", "hr", "J9", "--name", "hr-tonight", "-c", str(config))
    removed = run_bare("unwatch", "hr-tonight", "-c", str(config))
    assert added.returncode == 0, added.stderr
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "stopped watching 'hr-tonight'"


def test_status_neither_creates_nor_migrates_a_database(tmp_path):
    config = write_config(tmp_path)
    missing = run_bare("status", "-c", str(config))
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"loadwatch: database {tmp_path}/loadwatch.db: no such file yet: the daemon creates it"
        " when it first starts (`loadwatch run`), or create it with `loadwatch db upgrade`"
    )
    assert not (tmp_path / "loadwatch.db").exists()

    sqlite3.connect(tmp_path / "loadwatch.db").close()  # a file with no tables
    empty = run_bare("status", "-c", str(config))
    assert empty.returncode == 1
    assert "no loadwatch tables yet: run `loadwatch db upgrade`" in empty.stderr
    with sqlite3.connect(tmp_path / "loadwatch.db") as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_db_status_changes_nothing_and_says_what_upgrade_would_do(tmp_path):
    config = write_config(tmp_path)
    sqlite3.connect(tmp_path / "loadwatch.db").close()
    before = run_bare("db", "status", "-c", str(config))
    assert before.returncode == 1
    assert before.stdout.startswith(f"database {tmp_path}/loadwatch.db: schema empty; `db upgrade`")
    with sqlite3.connect(tmp_path / "loadwatch.db") as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_the_database_is_found_beside_the_config_from_any_directory(tmp_path):
    config = write_config(tmp_path / "etc")
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    upgraded = run_bare("db", "upgrade", "-c", str(config), cwd=elsewhere)
    status = run_bare("status", "-c", str(config), cwd=tmp_path)
    assert upgraded.returncode == 0 and status.returncode == 0, status.stderr
    assert (tmp_path / "etc" / "loadwatch.db").is_file()
    assert list(elsewhere.iterdir()) == []


def test_status_hides_retired_watches_unless_asked(tmp_path):
    config = write_config(tmp_path)
    for name, job in (("hr-tonight", "J7"), ("hr-retired", "J8")):
        assert run_bare("watch", "hr", job, "--name", name, "-c", str(config)).returncode == 0
    assert run_bare("unwatch", "hr-retired", "-c", str(config)).returncode == 0

    shown = run_bare("status", "-c", str(config))
    everything = run_bare("status", "--all", "--json", "-c", str(config))
    table = run_bare("status", "--all", "-c", str(config))

    assert "hr-tonight" in shown.stdout and "hr-retired" not in shown.stdout
    assert shown.stdout.rstrip().endswith(
        "1 job of retired watches not shown (`loadwatch status --all` lists them)"
    )
    retired = {row["watch"]: row["retired"] for row in json.loads(everything.stdout)}
    assert retired == {"hr-retired": True, "hr-tonight": False}
    (line,) = [line for line in table.stdout.splitlines() if line.startswith("hr-retired")]
    assert "retired" in line.split()[-2:]


def test_history_of_a_misspelt_watch_suggests_the_name(tmp_path):
    config = write_config(tmp_path)
    assert run_bare("db", "upgrade", "-c", str(config)).returncode == 0
    result = run_bare("history", "hr-nigthly", "-c", str(config))
    assert result.returncode == 1
    assert result.stderr.strip() == "no watch named 'hr-nigthly' (did you mean 'hr-nightly'?)"


def test_an_empty_config_is_an_error(tmp_path):
    config = write_config(tmp_path, "")
    result = loadwatch("check", "-c", str(config))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{config}: the file is empty: nothing to watch (config.example.yaml shows every key)"
    )


def test_a_config_without_providers_fails_check(tmp_path):
    config = write_config(tmp_path, "watches: []\n")
    result = loadwatch("check", "-c", str(config))
    assert result.returncode == 1
    assert result.stderr.strip() == f"{config}: no providers: nothing can be watched"
