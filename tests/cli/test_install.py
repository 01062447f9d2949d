"""loadwatch as a new user gets it: `pip install .` into a fresh environment,
then the commands run from outside the checkout, so nothing comes from the
source tree (the migrations must travel inside the wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.venvs import make_venv

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `loadwatch` script of a fresh virtual environment holding the wheel."""
    folder = tmp_path_factory.mktemp("install")
    wheel_dir = folder / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheel_dir),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheel_dir.glob("loadwatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "monitor/_migrations/env.py" in names
    assert any(n.startswith("monitor/_migrations/versions/") for n in names)
    # The status page's templates, CSS, JS and the OpenAPI document ship inside it.
    for shipped in ("templates/now.html", "static/page.css", "static/page.js", "openapi.json"):
        assert f"monitor/service/{shipped}" in names
    # Dependencies come from this interpreter's site-packages; loadwatch itself
    # only from the wheel.
    environment = folder / "venv"
    python = make_venv(environment)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--force-reinstall",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return environment / "bin" / "loadwatch"


def run(script: Path, *args: str, cwd: Path, timeout: float = 120):
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "LOADWATCH_CONFIG"}}
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def test_installed_loadwatch_runs_from_its_own_files(installed, tmp_path):
    probe = run(
        installed.parent / "python", "-c", "import monitor; print(monitor.__file__)", cwd=tmp_path
    )
    assert str(installed.parent.parent) in probe.stdout, probe.stderr


def test_installed_loadwatch_migrates_a_new_database(installed, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent("""\
        database: sqlite:///state/loadwatch.db
        """)
    )
    (tmp_path / "state").mkdir()
    result = run(installed, "db", "upgrade", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(was empty)" in result.stdout
    assert (tmp_path / "state" / "loadwatch.db").exists()


def test_installed_demo_finishes_in_under_a_minute(installed, tmp_path):
    result = run(installed, "demo", cwd=tmp_path, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "demo finished" in result.stdout
    shown = result.stdout
    for line in (
        "[info] slack-migration started",
        "[success] hr-nightly succeeded",
        "[failure] hr-incidents failed",
        "[warning] warehouse-nightly partial",
    ):
        assert line in shown, f"demo output lacks {line!r}"
    assert "notifications: " in shown and " 0 pending, 0 dead" in shown
