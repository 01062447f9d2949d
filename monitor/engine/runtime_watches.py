"""Run-time watches: added by `loadwatch watch` or `POST /api/watches`, kept in
the database (`watches.source = 'runtime'`), removed only by `unwatch`.

A run-time watch's settings are the config's `defaults` plus the keys given
when it was added (today: `notify`); they follow the defaults on reload. One
function checks and stores a new watch for both the CLI and the daemon.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from monitor.config import Config, WatchSettings
from monitor.config.models import check_job_id, check_name
from monitor.store.records import WatchRecord
from monitor.store.store import Store, WatchSpec

log = logging.getLogger(__name__)

_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 200


class WatchRefused(ValueError):
    """A run-time watch that cannot be added; the message says why."""


def default_name(provider: str, job: str) -> str:
    """`PROVIDER-JOB`, with characters a watch name cannot hold turned into `-`."""
    name = _NOT_IN_NAMES.sub("-", f"{provider}-{job}").strip("-.")
    return name[:_MAX_NAME] or provider


def runtime_spec(
    config: Config,
    provider: str,
    job: str,
    *,
    name: str | None = None,
    notify: Sequence[str] | None = None,
) -> WatchSpec:
    """The watch to store, checked against `config`; raises WatchRefused."""
    if provider not in config.providers:
        known = ", ".join(sorted(config.providers)) or "none"
        raise WatchRefused(f"no provider named '{provider}' (configured: {known})")
    if not job.strip():
        raise WatchRefused("the job id is empty")
    try:
        check_job_id(job)
    except ValueError as problem:
        raise WatchRefused(str(problem)) from None
    name = name or default_name(provider, job)
    try:
        check_name(name)
    except ValueError as problem:
        raise WatchRefused(str(problem)) from None
    if any(watch.name == name for watch in config.watches):
        raise WatchRefused(f"a watch named '{name}' is in the config file already")
    unknown = [notifier for notifier in notify or [] if notifier not in config.notifiers]
    if unknown:
        known = ", ".join(sorted(config.notifiers)) or "none"
        raise WatchRefused(f"no notifier named '{unknown[0]}' (configured: {known})")
    settings = {"notify": list(dict.fromkeys(notify))} if notify else None
    return WatchSpec(name=name, provider=provider, job=job, settings=settings)


def add_runtime_watch(store: Store, spec: WatchSpec, now: datetime) -> None:
    """Store the watch; raises WatchRefused when its name is taken."""
    if not store.add_runtime_watch(spec, now):
        raise WatchRefused(f"a watch named '{spec.name}' exists already")
    log.info("run-time watch %s added: %s job %s", spec.name, spec.provider, spec.job)


def remove_runtime_watch(store: Store, name: str, now: datetime) -> None:
    """Stop a run-time watch (its history stays); raises WatchRefused when there is none."""
    if not store.remove_runtime_watch(name, now):
        if store.watch_exists(name) and any(
            watch.name == name and watch.source == "config" for watch in store.active_watches()
        ):
            raise WatchRefused(f"'{name}' is in the config file: remove it there")
        raise WatchRefused(f"no run-time watch named '{name}'")
    log.info("run-time watch %s removed", name)


def runtime_settings(config: Config, record: WatchRecord) -> WatchSettings | None:
    """The settings of a stored run-time watch: the config's defaults, then the
    keys given when it was added. None (logged) when they do not validate."""
    defaults = config.defaults
    merged: dict[str, Any] = {key: getattr(defaults, key) for key in defaults.model_fields_set}
    merged.update(record.settings or {})
    merged.update(name=record.name, provider=record.provider, job=record.job)
    if record.discover is not None:
        merged.update(job=None, discover=record.discover)
    try:
        return WatchSettings.model_validate(merged)
    except ValidationError as problem:
        log.error("run-time watch %s is not usable: %s", record.name, _first_error(problem))
        return None


def _first_error(problem: ValidationError) -> str:
    error = problem.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
