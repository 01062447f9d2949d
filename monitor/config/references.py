"""Checks across sections: names a watch uses must exist, watch names must not repeat,
and each watch has a job or a discover.

They read the file's data as written, so a watch that fails validation for one
reason is still checked for these."""

from __future__ import annotations

from typing import Any

from monitor.config.models import job_or_discover_problem
from monitor.config.source import Loc, Source
from monitor.config.suggest import did_you_mean
from monitor.providers.base import Provider


def check_references(
    source: Source, data: dict[str, Any], types: dict[str, type[Provider]]
) -> None:
    """Add an issue for every dangling name and every repeated watch name in `data`;
    `types` holds the provider class of each provider block that has a known type."""
    providers = _names(data.get("providers"))
    notifiers = _names(data.get("notifiers"))
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        _check_notify(source, ("defaults",), defaults.get("notify"), notifiers)
    watches = data.get("watches")
    if not isinstance(watches, list):
        return
    first_index: dict[str, int] = {}
    for index, watch in enumerate(watches):
        if not isinstance(watch, dict):
            continue
        loc: Loc = ("watches", index)
        name = watch.get("name")
        if isinstance(name, str):
            if name in first_index:
                problem = f"watch name '{name}' is already used by watches[{first_index[name]}]"
                source.add_issue((*loc, "name"), problem)
            first_index.setdefault(name, index)
        # Also checked by WatchSettings, but only once every field there is valid;
        # the two messages are the same, so ConfigError shows one.
        choice = job_or_discover_problem(watch.get("job"), watch.get("discover"))
        if choice:
            source.add_issue(loc, choice)
        _check_provider(source, loc, watch, providers, types)
        _check_notify(source, loc, watch.get("notify"), notifiers)


def _names(section: Any) -> list[str]:
    return list(section) if isinstance(section, dict) else []


def _check_provider(
    source: Source,
    loc: Loc,
    watch: dict[str, Any],
    providers: list[str],
    types: dict[str, type[Provider]],
) -> None:
    provider = watch.get("provider")
    if not isinstance(provider, str):
        return
    if provider not in providers:
        problem = f"no provider named '{provider}'{_known(provider, providers)}"
        source.add_issue((*loc, "provider"), problem)
    elif watch.get("discover") is not None and provider in types:
        provider_type = types[provider]
        if not provider_type.supports_discovery:
            problem = (
                f"provider '{provider}' (type {provider_type.type_name}) cannot discover jobs;"
                " give a job id instead"
            )
            source.add_issue((*loc, "discover"), problem)


def _check_notify(source: Source, loc: Loc, notify: Any, notifiers: list[str]) -> None:
    if not isinstance(notify, list):
        return
    for index, name in enumerate(notify):
        if isinstance(name, str) and name not in notifiers:
            source.add_issue(
                (*loc, "notify", index), f"no notifier named '{name}'{_known(name, notifiers)}"
            )


def _known(name: str, names: list[str]) -> str:
    if not names:
        return " (none are configured)"
    return did_you_mean(name, names) or f" (known: {', '.join(names)})"
