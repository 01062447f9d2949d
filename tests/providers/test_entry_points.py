"""A provider type from someone else's package: a real distribution, built and
pip-installed into a throwaway virtualenv, found through the
`loadwatch.providers` entry-point group without touching loadwatch."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ConfigError, load_config
from monitor.providers import registry
from monitor.providers.kpa_flex import KpaFlexProvider
from tests.venvs import make_venv

ROOT = Path(__file__).parent.parent.parent

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "acme-loadwatch"
version = "1.0"

[project.entry-points."loadwatch.providers"]
acme = "acme_lw:AcmeProvider"
kpa_flex = "acme_lw:AcmeProvider"   # tries to replace a built-in type: ignored

[tool.hatch.build.targets.wheel]
include = ["acme_lw.py"]
"""

MODULE = '''\
"""Acme's widget-import jobs, as a loadwatch provider type."""

from typing import Any, ClassVar, Literal

from monitor.domain import JobStatus, State
from monitor.providers.base import FailureKind, PollFailure, Provider, ProviderSettings

_STATES = {"QUEUED": State.PENDING, "BUSY": State.RUNNING, "DONE": State.SUCCEEDED}


class AcmeSettings(ProviderSettings):
    type: Literal["acme"] = "acme"
    base_url: str = "https://api.acme.example"
    region: Literal["eu", "us"] = "eu"


class AcmeProvider(Provider):
    type_name: ClassVar[str] = "acme"
    settings_model: ClassVar[type[ProviderSettings]] = AcmeSettings

    async def poll(self, job_id: str) -> JobStatus:
        response = await self.client.get(f"{self.settings.base_url}/jobs/{job_id}")
        return self.parse(response.json(), job_id)

    def parse(self, payload: Any, job_id: str) -> JobStatus:
        phase = payload.get("phase")
        if phase not in _STATES:
            raise PollFailure(
                FailureKind.UNRECOGNIZED, f"unrecognized status '{phase}'", raw_status=str(phase)
            )
        return JobStatus(state=_STATES[phase], raw_status=phase, processed=payload.get("rows"))
'''

CONFIG = """\
providers:
  widgets:
    type: acme
    region: {region}
"""


class Installed:
    """The throwaway virtualenv holding the acme distribution."""

    def __init__(self, root: Path) -> None:
        self.python = root / "bin" / "python"
        self.site_packages = next(root.glob("lib/python*/site-packages"))


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("acme")
    project = base / "acme-loadwatch"
    project.mkdir()
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "acme_lw.py").write_text(MODULE)
    # This interpreter's site-packages: loadwatch's dependencies and hatchling.
    make_venv(base / "venv")
    installed = Installed(base / "venv")
    install = [sys.executable, "-m", "pip", "--python", str(installed.python), "install"]
    options = ["--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*install, *options, str(project)], check=True, timeout=120)
    return installed


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """The registry caches what it found; each test looks again."""
    registry.provider_types.cache_clear()
    registry.provider_class.cache_clear()
    yield
    registry.provider_types.cache_clear()
    registry.provider_class.cache_clear()


@pytest.fixture
def acme_importable(acme: Installed, monkeypatch: pytest.MonkeyPatch) -> Installed:
    monkeypatch.syspath_prepend(str(acme.site_packages))
    return acme


def write_config(tmp_path: Path, region: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(region=region))
    return path


def test_without_the_package_the_type_is_unknown() -> None:
    with pytest.raises(registry.UnknownProviderType):
        registry.provider_class("acme")


def test_entry_point_provider_type_is_found(acme_importable: Installed) -> None:
    cls = registry.provider_class("acme")
    assert (cls.__module__, cls.__name__) == ("acme_lw", "AcmeProvider")
    assert registry.provider_types()["acme"] == "acme_lw:AcmeProvider"


def test_entry_point_cannot_replace_a_built_in_type(acme_importable: Installed) -> None:
    assert registry.provider_class("kpa_flex") is KpaFlexProvider


def test_config_with_an_entry_point_type_validates_with_its_settings(
    acme_importable: Installed, tmp_path: Path
) -> None:
    config = load_config(write_config(tmp_path, "us"), environ={})
    settings = config.providers["widgets"]
    assert (type(settings).__name__, settings.model_dump()["region"]) == ("AcmeSettings", "us")


def test_entry_point_settings_errors_have_file_and_line(
    acme_importable: Installed, tmp_path: Path
) -> None:
    path = write_config(tmp_path, "mars")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert [str(issue) for issue in error.value.issues] == [
        f"{path}:4: providers.widgets.region: 'mars' is not one of 'eu' or 'us'"
    ]


def explain_in_venv(acme: Installed, config: Path, saved: Path, *options: str) -> Any:
    """`loadwatch explain` run by the virtualenv's Python, where acme is installed."""
    command = [str(acme.python), "-m", "monitor", "explain", "-c", str(config), "widgets"]
    return subprocess.run(
        [*command, str(saved), *options],
        cwd=ROOT,  # loadwatch itself is imported from the working tree
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_explain_runs_an_entry_point_provider(acme: Installed, tmp_path: Path) -> None:
    saved = tmp_path / "job.json"
    saved.write_text(json.dumps({"phase": "BUSY", "rows": 120}))
    result = explain_in_venv(acme, write_config(tmp_path, "eu"), saved, "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["type"], shown["state"], shown["raw_status"]) == ("acme", "running", "BUSY")
    assert shown["counts"] == {"processed": 120}


def test_explain_reports_an_entry_point_providers_failure(acme: Installed, tmp_path: Path) -> None:
    saved = tmp_path / "job.json"
    saved.write_text(json.dumps({"phase": "MELTED"}))
    result = explain_in_venv(acme, write_config(tmp_path, "eu"), saved)
    assert result.returncode == 1
    assert "unrecognized status 'MELTED'" in result.stdout
