"""The HTTP routes: /healthz, /metrics, the status page, the read API under
/api/ and the two writes (POST /api/watches, DELETE /api/watches/NAME).

Each request becomes a `Response` here; monitor/service/http.py only moves
bytes. Handlers run on the listener's threads and may block: the store is
synchronous, and a write hands its work to the event loop and waits.

Every error, from any route and method, is JSON of one shape:
`{"error": "what went wrong, in words"}`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy.exc import SQLAlchemyError

from monitor.config import Config
from monitor.redact import redact
from monitor.service.access import Refusal, refuse_read, refuse_write
from monitor.service.exchange import Request, Response
from monitor.service.health import HealthCheck
from monitor.service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from monitor.service.metrics import Metrics
from monitor.service.pause_api import set_paused
from monitor.service.watch_requests import BadRequest, json_object, watch_spec
from monitor.store.store import Store, WatchSpec
from monitor.store.views import Views

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

AddWatch = Callable[[WatchSpec], bool]
"""Adds a run-time watch and starts polling it; False when the name is taken."""
RemoveWatch = Callable[[str], bool]
"""Stops a run-time watch; False when there is no such run-time watch."""


Handler = Callable[[Request], Response]
Access = Literal["open", "read", "write"]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # "/api/jobs/{id}"
    handler: Handler
    access: Access

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template) + "$")


class Api:
    """Routes requests to the health check, the metrics, the page and the store."""

    def __init__(
        self,
        *,
        config: Callable[[], Config],
        store: Store,
        health: HealthCheck,
        metrics: Metrics,
        add_watch: AddWatch,
        remove_watch: RemoveWatch,
        now: Callable[[], datetime],
    ) -> None:
        # Imported here: the page pulls in Jinja2, which `loadwatch status` never needs.
        from monitor.service.page import Page
        from monitor.service.reads import ReadApi

        self._config = config
        self._store = store
        self._health = health
        self._metrics = metrics
        self._add_watch = add_watch
        self._remove_watch = remove_watch
        views = Views(store.engine)
        reads = ReadApi(views, config, now)
        page = Page(views, config, now)
        self.routes = [
            Route("GET", "/healthz", self.healthz, "open"),
            Route("GET", "/metrics", self.metrics, "open"),
            Route("GET", "/static/{file}", page.static, "open"),
            Route("GET", "/", page.now, "read"),
            Route("GET", "/watches/{name}", page.watch, "read"),
            Route("GET", "/api/openapi.json", reads.openapi, "read"),
            Route("GET", "/api/jobs", reads.jobs, "read"),
            Route("GET", "/api/jobs/{id}", reads.job, "read"),
            Route("GET", "/api/watches", reads.watches, "read"),
            Route("POST", "/api/watches", self.add_watch, "write"),
            Route("GET", "/api/watches/{name}", reads.watch, "read"),
            Route("DELETE", "/api/watches/{name}", self.remove_watch, "write"),
            Route("POST", "/api/watches/pause", self.pause, "write"),
            Route("POST", "/api/watches/resume", self.resume, "write"),
            Route("GET", "/api/history", reads.history, "read"),
        ]
        self._patterns = [(route, route.pattern) for route in self.routes]

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request (`target` is the path with its query); never raises."""
        parts = urlsplit(target)
        path = parts.path or "/"
        routing = "GET" if method == "HEAD" else method
        allowed: list[str] = []
        matching = [(route, pattern.match(path)) for route, pattern in self._patterns]
        found = [(route, match) for route, match in matching if match is not None]
        if any("{" not in route.template for route, _ in found):
            # A path of its own (/api/watches/pause) is not also a {name}.
            found = [(route, match) for route, match in found if "{" not in route.template]
        for route, match in found:
            if route.method != routing:
                allowed.append(route.method)
                continue
            params = {name: unquote(value) for name, value in match.groupdict().items()}
            query = parse_qs(parts.query, keep_blank_values=True)
            request = Request(method, path, query, headers, body, params)
            return self._answer(route, request)
        if allowed:
            methods = ", ".join(sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set())))
            return Response.error(405, f"{path} takes {methods}", Allow=methods)
        return Response.error(404, f"no such endpoint: {path}")

    def _answer(self, route: Route, request: Request) -> Response:
        refusal = self._refusal(route, request)
        if refusal is not None:
            return Response.refusal(refusal)
        try:
            return route.handler(request)
        except BadRequest as problem:
            return Response.error(400, str(problem))
        except SQLAlchemyError as error:
            first = redact(f"database unreachable: {error}").splitlines()[0]
            return Response.error(503, first)
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            return Response.error(500, "internal error; see the daemon's log")

    def _refusal(self, route: Route, request: Request) -> Refusal | None:
        settings = self._config().http
        if route.access == "read":
            return refuse_read(settings, request.headers)
        if route.access == "write":
            return refuse_write(settings, request.headers, f"{route.method} {route.template}")
        return None

    def healthz(self, request: Request) -> Response:
        health = self._health.report()
        if health.healthy:
            return Response.json(200, {"status": "ok", "checks": health.checks})
        return Response.json(
            503, {"status": "unhealthy", "problems": health.problems(), "checks": health.checks}
        )

    def metrics(self, request: Request) -> Response:
        return Response(200, self._metrics.exposition(), METRICS_CONTENT_TYPE)

    def add_watch(self, request: Request) -> Response:
        spec = watch_spec(request.body, self._config())
        if not self._add_watch(spec):
            return Response.error(409, f"a watch named '{spec.name}' exists already")
        log.info("watch %s added over HTTP: %s job %s", spec.name, spec.provider, spec.job)
        notify = (spec.settings or {}).get("notify")
        return Response.json(
            201,
            {"name": spec.name, "provider": spec.provider, "job": spec.job, "notify": notify},
        )

    def remove_watch(self, request: Request) -> Response:
        """Like `loadwatch unwatch NAME`: stop a run-time watch; its history stays."""
        name = request.params["name"]
        if any(watch.name == name for watch in self._config().watches):
            return Response.error(409, f"'{name}' is in the config file: remove it there")
        if not self._remove_watch(name):
            return Response.error(404, f"no run-time watch named '{name}'")
        log.info("watch %s removed over HTTP", name)
        return Response.json(200, {"name": name, "removed": True})

    def pause(self, request: Request) -> Response:
        """Like `loadwatch pause NAME`: body {"name": NAME}."""
        return self._set_paused(request, paused=True)

    def resume(self, request: Request) -> Response:
        """Like `loadwatch resume NAME`: body {"name": NAME}."""
        return self._set_paused(request, paused=False)

    def _set_paused(self, request: Request, *, paused: bool) -> Response:
        try:
            status, answer = set_paused(self._store.engine, json_object(request.body), paused)
        except ValueError as problem:
            raise BadRequest(str(problem)) from None
        return Response.json(status, answer)
