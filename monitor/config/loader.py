"""`load_config`: a YAML file in, a valid Config out, or every problem at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from monitor.config.database import resolve_database_url, sqlite_base
from monitor.config.errors import ConfigError
from monitor.config.interpolate import Interpolator
from monitor.config.models import (
    Config,
    NotifierSettings,
    WatchPolicy,
    WatchSettings,
    check_name,
)
from monitor.config.references import check_references
from monitor.config.source import Loc, Source, read_source
from monitor.config.validation import add_validation_issues
from monitor.providers.base import Provider, ProviderSettings
from monitor.providers.registry import UnknownProviderType, provider_class
from monitor.redact import add_secret, add_url_secrets

_DATABASE_VARIABLE = "LOADWATCH_DATABASE"

M = TypeVar("M", bound=BaseModel)


# The sections that hold credentials: commands that never call a provider or a
# notifier (status, history, explain, unwatch, db) load without them.
_SECRET_SECTIONS = frozenset({"providers", "notifiers", "http"})


def load_config(
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    *,
    secrets: bool = True,
) -> Config:
    """The config in the file at `path`, with `${...}` taken from `environ` (by
    default the process environment). Raises ConfigError listing every problem.
    With `secrets=False`, an unset variable or unreadable secret file in the
    providers, notifiers or http sections is left as written, not an error."""
    environ = os.environ if environ is None else environ
    absolute = Path(path).absolute()
    optional = frozenset() if secrets else _SECRET_SECTIONS
    source = read_source(str(path), absolute, Interpolator(environ, absolute.parent), optional)
    if source.data is None:  # unreadable, or not YAML: nothing more to check
        raise ConfigError(source.issues)
    config = _Loading(source, environ).config(absolute)
    if source.issues or config is None:
        raise ConfigError(source.issues)
    return config


class _Loading:
    """One pass over a parsed file: each section validated, problems collected."""

    def __init__(self, source: Source, environ: Mapping[str, str]) -> None:
        self.source = source
        self.environ = environ

    def config(self, path: Path) -> Config | None:
        data = self._top_level()
        providers, types = self._providers(data.get("providers"))
        defaults = self._defaults(data.get("defaults"))
        fields = {
            **data,  # so that keys Config does not know are reported
            "path": path,
            "database": self._database(data.get("database"), path),
            "providers": providers,
            "notifiers": self._notifiers(data.get("notifiers")),
            "defaults": defaults,
            "watches": self._watches(data.get("watches"), defaults),
        }
        check_references(self.source, data, types)
        http = data.get("http")
        if isinstance(http, dict):
            for key in ("token", "read_token"):
                if isinstance(http.get(key), str):
                    add_secret(http[key])
        return self._validate(Config, fields, ())

    def _top_level(self) -> dict[str, Any]:
        data = self.source.data
        if not isinstance(data, dict):
            self.source.add_issue(
                (), "the file must be a mapping of keys (providers, watches, ...)"
            )
            return {}
        if not data:
            self.source.add_issue(
                (), "the file is empty: nothing to watch (config.example.yaml shows every key)", 0
            )
        if "path" in data:  # a Config field, but not one the file may set
            self.source.add_issue((), "unknown key 'path'", self.source.line(("path",)))
        return data

    def _defaults(self, written: Any) -> WatchPolicy:
        defaults = self._validate(WatchPolicy, {} if written is None else written, ("defaults",))
        return defaults or WatchPolicy()

    def _database(self, written: Any, path: Path) -> Any:
        from_environment = self.environ.get(_DATABASE_VARIABLE)
        url = from_environment or written or Config.model_fields["database"].get_default()
        if not isinstance(url, str):
            return url  # Config reports the wrong type
        try:
            base = sqlite_base(path, self.environ.get("STATE_DIRECTORY"))
            return resolve_database_url(url, base)
        except ValueError as exc:
            if from_environment:
                self.source.add_issue((), f"{_DATABASE_VARIABLE}: {exc}", line=0)
            else:
                self.source.add_issue(("database",), str(exc))
            return url

    def _providers(self, blocks: Any) -> tuple[Any, dict[str, type[Provider]]]:
        types: dict[str, type[Provider]] = {}
        if not isinstance(blocks, dict):
            return ({} if blocks is None else blocks), types
        providers: dict[str, ProviderSettings] = {}
        for name, block in blocks.items():
            loc: Loc = ("providers", name)
            self._check_name(loc, name)
            provider = self._provider_type(loc, block)
            if provider is None:
                continue
            types[name] = provider
            settings = self._validate(provider.settings_model, block, loc)
            if settings is not None:
                for secret in settings.secrets():
                    add_secret(secret)
                providers[name] = settings
        return providers, types

    def _provider_type(self, loc: Loc, block: Any) -> type[Provider] | None:
        if not isinstance(block, dict):
            self.source.add_issue(loc, "expected a mapping of keys, with type first")
            return None
        type_name = block.get("type")
        if not isinstance(type_name, str):
            problem = "missing key 'type'" if type_name is None else "type must be a type name"
            self.source.add_issue(loc, problem)
            return None
        try:
            return provider_class(type_name)
        except UnknownProviderType as exc:
            self.source.add_issue((*loc, "type"), str(exc))
        except Exception as exc:  # a broken plugin is a config problem, not a crash
            problem = f"provider type '{type_name}' cannot be loaded ({type(exc).__name__}: {exc})"
            self.source.add_issue((*loc, "type"), problem)
        return None

    def _notifiers(self, blocks: Any) -> Any:
        if not isinstance(blocks, dict):
            return {} if blocks is None else blocks
        notifiers: dict[str, NotifierSettings] = {}
        for name, block in blocks.items():
            self._check_name(("notifiers", name), name)
            urls = block.get("urls") if isinstance(block, dict) else None
            for url in urls if isinstance(urls, list) else []:
                if isinstance(url, str):
                    add_url_secrets(url)  # before validation, so no error can show them
            notifier = self._validate(NotifierSettings, block, ("notifiers", name))
            if notifier is not None:
                notifiers[name] = notifier
        return notifiers

    def _watches(self, items: Any, defaults: WatchPolicy) -> Any:
        if not isinstance(items, list):
            return [] if items is None else items
        watches: list[WatchSettings] = []
        for index, item in enumerate(items):
            loc: Loc = ("watches", index)
            if not isinstance(item, dict):
                self.source.add_issue(loc, "expected a mapping with name, provider and job")
                continue
            watch = self._validate(WatchSettings, self._with_defaults(item, loc, defaults), loc)
            if watch is not None:
                watches.append(watch)
        return watches

    def _with_defaults(self, item: dict[str, Any], loc: Loc, defaults: WatchPolicy) -> Any:
        """The watch's keys over the defaults, key by key, and `poll` sub-key by sub-key."""
        merged = {key: getattr(defaults, key) for key in defaults.model_fields_set}
        merged.update(item)
        if "poll" in defaults.model_fields_set and isinstance(item.get("poll"), dict):
            poll = defaults.poll
            merged["poll"] = {key: getattr(poll, key) for key in poll.model_fields_set}
            merged["poll"].update(item["poll"])
        job_text = self.source.number_texts.get((*loc, "job"))
        if job_text is not None:
            merged["job"] = job_text  # an unquoted numeric id, as written (0123 keeps its 0)
        return merged

    def _check_name(self, loc: Loc, name: str) -> None:
        try:
            check_name(name)
        except ValueError as exc:
            self.source.add_issue(loc, str(exc))

    def _validate(self, model: type[M], data: Any, loc: Loc) -> M | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            add_validation_issues(self.source, exc, loc, model)
            return None
