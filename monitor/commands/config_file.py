"""The config file a command reads: where it is, and loading it with any
problem printed for the operator."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "/etc/loadwatch/config.yaml"


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("LOADWATCH_CONFIG") or DEFAULT_CONFIG)


def load_config_or_report(args: argparse.Namespace, secrets: bool = True) -> Any:
    """The config, or None after printing why it cannot be used. Commands that
    never call a provider or notifier pass `secrets=False`: they work without
    the provider tokens and secret files (status on a host where only the
    service has them)."""
    from monitor.config import ConfigError, load_config

    path = config_path(args)
    try:
        return load_config(path, secrets=secrets)
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        return None
