"""The body of POST /api/watches: checked for shape here, and for what it names
by the same rules as `loadwatch watch` (engine/runtime_watches.py)."""

from __future__ import annotations

from typing import Any

from monitor.config import Config
from monitor.engine.runtime_watches import WatchRefused, runtime_spec
from monitor.providers.sanitize import escape_controls, load_json
from monitor.store.store import WatchSpec

_WATCH_KEYS = {"provider", "job", "name", "notify"}
_MAX_NAME = 200  # the watches.name column
_MAX_JOB = 500  # the watches.job column


class BadRequest(Exception):
    """The request is wrong in a way its sender can fix; the text says how."""


def watch_spec(body: bytes, config: Config) -> WatchSpec:
    """The run-time watch a request body asks for; raises BadRequest."""
    return _watch_spec(json_object(body), config)


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = load_json(body or b"null")
    except ValueError as error:  # not JSON, not UTF-8, NaN, huge numbers, deep nesting
        raise BadRequest(f"the body is not JSON: {escape_controls(str(error))[:200]}") from None
    if not isinstance(payload, dict):
        raise BadRequest('the body must be a JSON object such as {"provider": "hr", "job": "42"}')
    return payload


def _watch_spec(payload: dict[str, Any], config: Config) -> WatchSpec:
    """The body's shape is checked here; what it names, by the same rules as
    `loadwatch watch` (engine/runtime_watches.py)."""
    unknown = sorted(set(payload) - _WATCH_KEYS)
    if unknown:
        raise BadRequest(f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(_WATCH_KEYS))})")
    provider = _required(payload, "provider", limit=_MAX_NAME)
    job = _required(payload, "job", limit=_MAX_JOB)
    name = _text(payload, "name", limit=_MAX_NAME)
    notify = _notifiers(payload.get("notify"))
    try:
        return runtime_spec(config, provider, job, name=name, notify=notify)
    except WatchRefused as refusal:
        raise BadRequest(str(refusal)) from None


def _required(payload: dict[str, Any], key: str, *, limit: int) -> str:
    value = _text(payload, key, limit=limit)
    if value is None:
        raise BadRequest(f"'{key}' is required")
    return value


def _text(payload: dict[str, Any], key: str, *, limit: int) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # job ids are often numbers
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"'{key}' must be a non-empty string")
    if len(value) > limit:
        raise BadRequest(f"'{key}' is longer than {limit} characters")
    return value.strip()


def _notifiers(value: Any) -> list[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadRequest("'notify' must be a notifier name or a list of them")
    return list(names)
