"""The config layer: YAML loading, `${...}` interpolation, models, FILE:LINE errors.

Names are loaded on first use, because monitor.providers.base imports
monitor.config.types while the models here import the provider settings.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config.errors import ConfigError, ConfigIssue
    from monitor.config.loader import load_config
    from monitor.config.models import (
        Config,
        Deadline,
        HttpSettings,
        NotifierSettings,
        PollPolicy,
        RetryPolicy,
        WatchPolicy,
        WatchSettings,
    )

__all__ = [
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Deadline",
    "HttpSettings",
    "NotifierSettings",
    "PollPolicy",
    "RetryPolicy",
    "WatchPolicy",
    "WatchSettings",
    "load_config",
]

_HOMES = {
    "Config": "models",
    "ConfigError": "errors",
    "ConfigIssue": "errors",
    "Deadline": "models",
    "HttpSettings": "models",
    "NotifierSettings": "models",
    "PollPolicy": "models",
    "RetryPolicy": "models",
    "WatchPolicy": "models",
    "WatchSettings": "models",
    "load_config": "loader",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
