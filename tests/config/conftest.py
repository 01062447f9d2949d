"""Fixtures for config tests: a config file in a temporary working directory,
and two fake provider types so the tests need no real provider module."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from monitor import redact
from monitor.config import Config, ConfigError, load_config
from monitor.domain import JobStatus
from monitor.providers import registry
from monitor.providers.base import Provider, ProviderSettings


class FakeSettings(ProviderSettings):
    token: str

    def secrets(self) -> list[str]:
        return [self.token]


class FakeProvider(Provider):
    type_name = "fake"
    settings_model = FakeSettings

    async def poll(self, job_id: str) -> JobStatus:
        raise NotImplementedError

    def parse(self, payload: Any, job_id: str) -> JobStatus:
        raise NotImplementedError


class FakeDiscoveryProvider(FakeProvider):
    type_name = "fake_discovery"
    supports_discovery = True


def _clear_registry_caches() -> None:
    registry.provider_types.cache_clear()
    registry.provider_class.cache_clear()


@pytest.fixture(autouse=True)
def fake_provider_types(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry._BUILTIN, "fake", f"{__name__}:FakeProvider")
    monkeypatch.setitem(registry._BUILTIN, "fake_discovery", f"{__name__}:FakeDiscoveryProvider")
    _clear_registry_caches()
    yield
    _clear_registry_caches()


@pytest.fixture(autouse=True)
def no_secrets_registered() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory of the test, where config.yaml is written."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_config(workdir: Path) -> Callable[[str], Path]:
    """Write YAML (dedented; its first line is line 1) to config.yaml."""

    def write(text: str) -> Path:
        path = workdir / "config.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(write_config: Callable[[str], Path]) -> Callable[..., Config]:
    """Load YAML text as config.yaml, with only the environment given."""

    def load_text(text: str, environ: Mapping[str, str] | None = None) -> Config:
        write_config(text)
        return load_config("config.yaml", environ or {})

    return load_text


@pytest.fixture
def problems(load: Callable[..., Config]) -> Callable[..., list[str]]:
    """The lines of the ConfigError that loading YAML text raises."""

    def problems_of(text: str, environ: Mapping[str, str] | None = None) -> list[str]:
        with pytest.raises(ConfigError) as caught:
            load(text, environ)
        return str(caught.value).splitlines()

    return problems_of
