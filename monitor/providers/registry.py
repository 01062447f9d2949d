"""Provider types by name: the built-in ones, and any a package adds through the
`loadwatch.providers` entry-point group (name = type, value = Provider class)."""

from __future__ import annotations

import importlib
import logging
from functools import cache
from importlib.metadata import entry_points

from monitor.config.suggest import did_you_mean
from monitor.providers.base import Provider

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "loadwatch.providers"

_BUILTIN = {
    "kpa_flex": "monitor.providers.kpa_flex:KpaFlexProvider",
    "http_json": "monitor.providers.http_json:HttpJsonProvider",
    "comestri": "monitor.providers.comestri:ComestriProvider",
    "fullstory": "monitor.providers.fullstory:FullStoryProvider",
    "rocketchat": "monitor.providers.rocketchat:RocketChatProvider",
    "incorta": "monitor.providers.incorta:IncortaProvider",
}


class UnknownProviderType(LookupError):
    pass


@cache
def provider_types() -> dict[str, str]:
    """Every known type name and where its class lives (module:Class)."""
    found = dict(_BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _BUILTIN:
            log.warning(
                "entry point %s tries to replace built-in provider type %s; ignored",
                entry.value,
                entry.name,
            )
            continue
        found[entry.name] = entry.value
    return found


@cache
def provider_class(type_name: str) -> type[Provider]:
    """The Provider class for `type_name`; UnknownProviderType if none."""
    target = provider_types().get(type_name)
    if target is None:
        hint = did_you_mean(type_name, provider_types())
        known = ", ".join(sorted(provider_types()))
        raise UnknownProviderType(f"unknown provider type '{type_name}'{hint} (known: {known})")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise UnknownProviderType(f"{target} is not a loadwatch Provider")
    return cls
