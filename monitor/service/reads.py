"""The read API under /api/: jobs, one job, watches, one watch, the history,
and the OpenAPI document that describes them (monitor/service/openapi.json)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from monitor.config import Config
from monitor.domain import State
from monitor.service import board
from monitor.service.exchange import Request, Response
from monitor.service.watch_requests import BadRequest
from monitor.store.views import DeliveryView, TransitionView, Views

HISTORY_LIMIT = 100  # entries in one answer unless `limit` says otherwise
MAX_HISTORY_LIMIT = 1000
RUNS_SHOWN = 50  # past runs of a watch, for its chart
DELIVERIES_SHOWN = 200
_STATES = {state.value for state in State}


class ReadApi:
    """Answers the read API's GETs from the database's read side."""

    def __init__(
        self, views: Views, config: Callable[[], Config], now: Callable[[], datetime]
    ) -> None:
        self._views = views
        self._config = config
        self._now = now

    def openapi(self, request: Request) -> Response:
        return Response(200, openapi_document())

    def jobs(self, request: Request) -> Response:
        states = _states(request)
        current = _flag(request, "current")
        found = self._views.jobs(current=current, states=states, watch=request.value("watch"))
        now = self._now()
        return Response.json(200, [board.job_json(job, now) for job in found])

    def job(self, request: Request) -> Response:
        job_pk = _job_pk(request.params["id"])
        job = self._views.job(job_pk) if job_pk is not None else None
        if job is None:
            return Response.error(404, f"no job with id {request.params['id']}")
        shown = board.job_json(job, self._now())
        moves = self._views.transitions([job.id]).get(job.id, [])
        shown["transitions"] = [board.transition_json(move) for move in moves]
        deliveries = self._views.deliveries(job_pk=job.id, limit=DELIVERIES_SHOWN)
        shown["deliveries"] = [board.delivery_json(delivery) for delivery in deliveries]
        return Response.json(200, shown)

    def watches(self, request: Request) -> Response:
        return Response.json(200, [board.watch_json(watch) for watch in self._views.watches()])

    def watch(self, request: Request) -> Response:
        name = request.params["name"]
        found = self._views.watches(name)
        if not found:
            return Response.error(404, f"no watch named '{name}'")
        shown = board.watch_json(found[0])
        runs = self._views.runs(name, RUNS_SHOWN)
        shown["deadline"] = board.deadline_text(self._config(), name)
        learned = board.learned_deadline(runs)
        shown["learned_deadline_seconds"] = None if learned is None else round(learned, 3)
        shown["runs"] = [board.run_json(run) for run in runs]
        return Response.json(200, shown)

    def history(self, request: Request) -> Response:
        limit = _limit(request.value("limit"))
        since = _since(request.value("since"))
        entries = self._views.history(watch=request.value("watch"), since=since, limit=limit)
        labels = self._views.watch_of(e.job_pk for e in entries if isinstance(e, TransitionView))
        return Response.json(200, [_history_json(entry, labels) for entry in entries])


def _history_json(
    entry: TransitionView | DeliveryView, labels: dict[int, tuple[str, str]]
) -> dict[str, Any]:
    if isinstance(entry, DeliveryView):
        return {"kind": "notification", "at": board.time_text(board.history_at(entry))} | (
            board.delivery_json(entry)
        )
    watch, job = labels.get(entry.job_pk, ("", ""))
    return {"kind": "transition", "watch": watch, "job": job, "job_id": entry.job_pk} | (
        board.transition_json(entry)
    )


@cache
def openapi_document() -> bytes:
    return resources.files("monitor.service").joinpath("openapi.json").read_bytes()


def _states(request: Request) -> list[str]:
    """`state=failed&state=partial` or `state=failed,partial`."""
    wanted = [part for value in request.query.get("state", []) for part in value.split(",")]
    unknown = [state for state in wanted if state not in _STATES]
    if unknown:
        raise BadRequest(f"'{unknown[0]}' is not a state (one of: {', '.join(sorted(_STATES))})")
    return wanted


def _flag(request: Request, name: str) -> bool:
    value = request.value(name)
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise BadRequest(f"'{name}' is true or false")


def _job_pk(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def _limit(text: str | None) -> int:
    if text is None:
        return HISTORY_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_HISTORY_LIMIT:
        raise BadRequest(f"'limit' is a whole number from 1 to {MAX_HISTORY_LIMIT}")
    return int(text)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("'since' is a date and time such as 2026-11-30T06:00:00Z") from None
    if moment.tzinfo is None:
        raise BadRequest("'since' needs a time zone (such as Z or +01:00)")
    return moment.astimezone(UTC)
