"""The status page: `/` (every current job, worst first) and `/watches/NAME`
(a watch's runs, transitions and deliveries), rendered on the server with
Jinja2 from monitor/service/templates, styled and refreshed by the small
hand-written files in monitor/service/static.

The templates are ours, not config, so a plain (not sandboxed) environment
with autoescaping serves them. With JavaScript on, the page fetches its own
`?partial=1` every few seconds and swaps in the new content: one renderer for
the first view and every update. With it off, the page still shows everything
and refreshes itself every 30 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader

from monitor.config import Config
from monitor.domain import State
from monitor.engine.conditions import AUTO_RUNS, zone_named
from monitor.notify.formatting import format_duration
from monitor.service import board
from monitor.service.chart import duration_chart
from monitor.service.exchange import Request, Response
from monitor.service.watch_requests import BadRequest
from monitor.store.views import ConditionView, JobView, Views

REFRESH_SECONDS = 5  # how often an open page fetches fresh content
# Rows on the now page: the worst this many. More is no use to a person, costs a
# phone megabytes, and /api/jobs has them all.
ROWS_SHOWN = 500
# A rendered view is reused this long: however many tabs are open, the page
# costs the daemon at most one render per view per this many seconds (the
# renders share the daemon's one core with the polls).
REUSE_SECONDS = 5.0
RUNS_CHARTED = 50
JOBS_SHOWN = 20  # a watch page's latest jobs, each with its timeline
DELIVERIES_SHOWN = 200
_STATIC = {"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8"}
_HTML = "text/html; charset=utf-8"
_STATES = {state.value for state in State}
# Only our own files: no inline script, no CDN, no framing by other sites.
_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class Moment:
    """A time as the page shows it: when, in words relative to now, and exactly."""

    iso: str
    words: str
    local: str


class Page:
    """Renders the status page's two views and serves its static files."""

    def __init__(
        self, views: Views, config: Callable[[], Config], now: Callable[[], datetime]
    ) -> None:
        self._views = views
        self._config = config
        self._now = now
        self._environment = Environment(
            loader=PackageLoader("monitor.service", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._environment.filters["duration"] = format_duration
        self._rendered: dict[str, tuple[float, Response]] = {}
        self._lock = threading.Lock()

    def now(self, request: Request) -> Response:
        return self._reused(request, self._now_view)

    def watch(self, request: Request) -> Response:
        return self._reused(request, self._watch_view)

    def _now_view(self, request: Request) -> Response:
        """Every current job, worst first (`?state=` picks one state), the
        worst ROWS_SHOWN of them as rows, and counts by state of all."""
        state = request.value("state") or None
        if state is not None and state not in _STATES:
            raise BadRequest(f"'{state}' is not a state (one of: {', '.join(sorted(_STATES))})")
        now = self._now()
        zone = self._zone()
        everything = self._views.current_summaries()
        matching = [job for job in everything if state is None or job.state.value == state]
        ranked = board.worst_first(matching)[:ROWS_SHOWN]
        worst = self._views.jobs_by_id([job.id for job in ranked])
        context = {
            "title": "loadwatch",
            "state": state,
            "total": len(everything),
            "counts": board.state_counts(everything),
            "matching": len(matching),
            "shown": len(worst),
            "rows": [job_row(job, now, zone) for job in worst],
        }
        return self._render("now", request, context, now, zone)

    def _watch_view(self, request: Request) -> Response:
        name = request.params["name"]
        found = self._views.watches(name)
        if not found:
            return Response.error(404, f"no watch named '{name}'")
        now, zone = self._now(), self._zone()
        runs = self._views.runs(name, RUNS_CHARTED)
        learned = board.learned_deadline(runs)
        deadline = board.deadline_text(self._config(), name)
        jobs = list(reversed(self._views.jobs(watch=name)))[:JOBS_SHOWN]
        moves = self._views.transitions([job.id for job in jobs])
        context = {
            "title": f"{name} · loadwatch",
            "watch": found[0],
            "deadline": deadline,
            "chart": duration_chart(
                runs, learned, min(len(runs), AUTO_RUNS), auto=deadline == "auto"
            ),
            "runs": runs,
            "jobs": [(job_row(job, now, zone), moves.get(job.id, [])) for job in jobs],
            "deliveries": self._views.deliveries(watch=name, limit=DELIVERIES_SHOWN),
            "moment": lambda at: moment(at, now, zone),
        }
        return self._render("watch", request, context, now, zone)

    def static(self, request: Request) -> Response:
        name = request.params["file"]
        if name not in _STATIC:
            return Response.error(404, f"no such file: /static/{name}")
        body = resources.files("monitor.service").joinpath("static", name).read_bytes()
        return Response(200, body, _STATIC[name], {"X-Content-Type-Options": "nosniff"})

    def _reused(self, request: Request, render: Callable[[Request], Response]) -> Response:
        """The view rendered less than REUSE_SECONDS ago for the same address, or a new one."""
        key = request.path + "?" + urlencode(sorted(request.query.items()), doseq=True)
        started = time.monotonic()
        with self._lock:
            done = self._rendered.get(key)
        if done is not None and started - done[0] < REUSE_SECONDS:
            return done[1]
        response = render(request)
        if response.status == 200:
            with self._lock:
                if len(self._rendered) > 100:  # addresses vary with filters: stay small
                    self._rendered.clear()
                self._rendered[key] = (started, response)
        return response

    def _render(
        self, view: str, request: Request, context: dict[str, Any], now: datetime, zone: tzinfo
    ) -> Response:
        partial = request.value("partial") == "1"
        name = f"{view}_main.html" if partial else f"{view}.html"
        template = self._environment.get_template(name)
        context |= {
            "refresh": REFRESH_SECONDS,
            "updated": moment(now, now, zone),
            "zone": getattr(zone, "key", None) or str(zone),
        }
        body = template.render(context).encode()
        return Response(200, body, _HTML, _SECURITY)

    def _zone(self) -> tzinfo:
        return zone_named(self._config().timezone)


def moment(at: datetime | None, now: datetime, zone: tzinfo) -> Moment | None:
    """`at` for the page: e.g. words "3m ago" / "in 40s", local "14:32:05"."""
    if at is None:
        return None
    seconds = (at - now).total_seconds()
    words = "now" if abs(seconds) < 1 else format_duration(abs(seconds))
    if abs(seconds) >= 1:
        words = f"in {words}" if seconds > 0 else f"{words} ago"
    local = at.astimezone(zone)
    today = local.date() == now.astimezone(zone).date()
    shown = f"{local:%H:%M:%S}" if today else f"{local:%Y-%m-%d %H:%M}"
    return Moment(board.time_text(at) or "", words, shown)


@dataclass(frozen=True, slots=True)
class Row:
    """One job as the page shows it. A class, not a dict: Jinja reads an
    attribute at once, where a dict key costs a failed attribute look-up first."""

    id: int
    watch: str
    provider: str
    job: str
    state: str
    raw_status: str | None
    message: str | None
    progress: float | None
    percent: str | None
    eta: Moment | None
    eta_late: bool
    ran: str
    ended: bool
    last_poll: Moment | None
    next_poll: Moment | None
    conditions: list[ConditionView]
    holder: str | None
    failure: str | None
    dead: int
    severity: int


def job_row(job: JobView, now: datetime, zone: tzinfo) -> Row:
    """One job as the page's table shows it."""
    estimated = board.estimated_end(job)
    holder = None
    if job.lease_owner and job.lease_until is not None and job.lease_until > now:
        holder = job.lease_owner
    return Row(
        id=job.id,
        watch=job.watch,
        provider=job.provider,
        job=job.job_id,
        state=job.state.value,
        raw_status=job.raw_status,
        message=job.message,
        progress=job.progress,
        percent=None if job.progress is None else f"{job.progress:.0%}",
        eta=moment(estimated, now, zone),
        eta_late=estimated is not None and estimated < now,
        ran=format_duration(board.ran_for(job, now)),
        ended=job.state.terminal,
        last_poll=moment(job.last_poll_at, now, zone),
        next_poll=None if job.state.terminal else moment(job.next_poll_at, now, zone),
        conditions=list(job.conditions),
        holder=holder,
        failure=job.last_failure,
        dead=job.notifications.get("dead", 0),
        severity=board.severity(job),
    )
