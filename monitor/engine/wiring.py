"""What the poll path needs from the running configuration: swapped whole on reload."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import tzinfo

from monitor.config import NotifierSettings, WatchSettings
from monitor.engine.conditions import local_zone
from monitor.engine.limits import ProviderLimiter
from monitor.providers.base import Provider


@dataclasses.dataclass
class Wiring:
    """The running providers, watches and notifiers, by name."""

    providers: Mapping[str, Provider]
    watches: Mapping[str, WatchSettings]
    notifiers: Mapping[str, NotifierSettings]
    # Each provider's request budget (engine/limits.py), by provider name.
    limiters: Mapping[str, ProviderLimiter] = dataclasses.field(default_factory=dict)
    zone: tzinfo = dataclasses.field(default_factory=local_zone)  # for `deadline: "06:00"`


@dataclasses.dataclass
class WatchIndex:
    """The watches table as a claim needs it: names by id, and per provider
    the ids of watches this instance does not run (another instance's config)."""

    names: dict[int, str]
    foreign: dict[str, frozenset[int]]
