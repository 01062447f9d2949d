"""The HTTP endpoints: /healthz, /metrics, GET /api/jobs and POST /api/watches.

Each request becomes a `Response` here; monitor/service/http.py only moves
bytes. Handlers run on the listener's threads and may block: the store is
synchronous, and adding a watch hands the work to the event loop and waits.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor import report
from monitor.config import Config
from monitor.engine.runtime_watches import WatchRefused, runtime_spec
from monitor.providers.sanitize import escape_controls, load_json
from monitor.redact import redact
from monitor.service.health import HealthCheck
from monitor.service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from monitor.service.metrics import Metrics
from monitor.store.store import Store, WatchSpec

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
_WATCH_KEYS = {"provider", "job", "name", "notify"}
_MAX_NAME = 200  # the watches.name column
_MAX_JOB = 500  # the watches.job column

AddWatch = Callable[[WatchSpec], bool]
"""Adds a run-time watch and starts polling it; False when the name is taken."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Response:
        return cls(status, json.dumps(payload, indent=2).encode() + b"\n", headers=headers)

    @classmethod
    def error(cls, status: int, message: str, **headers: str) -> Response:
        return cls.json(status, {"error": message}, **headers)


class BadRequest(Exception):
    """The request is wrong in a way its sender can fix; the text says how."""


class Api:
    """Routes requests to the health check, the metrics and the store."""

    def __init__(
        self,
        *,
        config: Callable[[], Config],
        store: Store,
        health: HealthCheck,
        metrics: Metrics,
        add_watch: AddWatch,
    ) -> None:
        self._config = config
        self._store = store
        self._health = health
        self._metrics = metrics
        self._add_watch = add_watch
        self._routes: dict[tuple[str, str], Callable[[Mapping[str, str], bytes], Response]] = {
            ("GET", "/healthz"): self.healthz,
            ("GET", "/metrics"): self.metrics,
            ("GET", "/api/jobs"): self.jobs,
            ("POST", "/api/watches"): self.add_watch,
        }

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request; never raises."""
        route = self._routes.get((method, path))
        if route is None:
            allowed = sorted(m for m, p in self._routes if p == path)
            if allowed:
                return Response.error(
                    405, f"{path} takes {', '.join(allowed)}", Allow=", ".join(allowed)
                )
            return Response.error(404, f"no such endpoint: {path}")
        try:
            return route(headers, body)
        except Exception:
            log.exception("HTTP %s %s failed", method, path)
            return Response.error(500, "internal error; see the daemon's log")

    def healthz(self, headers: Mapping[str, str], body: bytes) -> Response:
        health = self._health.report()
        if health.healthy:
            return Response.json(200, {"status": "ok", "checks": health.checks})
        return Response.json(
            503, {"status": "unhealthy", "problems": health.problems(), "checks": health.checks}
        )

    def metrics(self, headers: Mapping[str, str], body: bytes) -> Response:
        return Response(200, self._metrics.exposition(), METRICS_CONTENT_TYPE)

    def jobs(self, headers: Mapping[str, str], body: bytes) -> Response:
        try:
            rows = report.status_rows(self._store)
        except Exception as error:
            return Response.error(503, redact(f"database unreachable: {error}").splitlines()[0])
        return Response.json(200, rows)

    def add_watch(self, headers: Mapping[str, str], body: bytes) -> Response:
        config = self._config()
        refusal = _refuse_token(config.http.token if config.http else None, headers)
        if refusal is not None:
            return refusal
        try:
            spec = _watch_spec(_json_object(body), config)
        except BadRequest as problem:
            return Response.error(400, str(problem))
        if not self._add_watch(spec):
            return Response.error(409, f"a watch named '{spec.name}' exists already")
        log.info("watch %s added over HTTP: %s job %s", spec.name, spec.provider, spec.job)
        notify = (spec.settings or {}).get("notify")
        return Response.json(
            201,
            {"name": spec.name, "provider": spec.provider, "job": spec.job, "notify": notify},
        )


def _refuse_token(expected: str | None, headers: Mapping[str, str]) -> Response | None:
    """None when the request carries the bearer token; else the refusal."""
    if not expected:
        return Response.error(403, "POST /api/watches is off: set http.token in the config")
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return Response.error(
            401, "a bearer token is required (Authorization: Bearer TOKEN)", **_CHALLENGE
        )
    # Constant-time: a timing difference would reveal how much of a guess was right.
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return Response.error(
            401, "the bearer token is wrong", **{"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return None


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="loadwatch"'}


def _json_object(body: bytes) -> dict[str, Any]:
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
