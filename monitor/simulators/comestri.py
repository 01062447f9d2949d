"""A fake Comestri API: `GET /api/v2/jobs/{id}` and the paged, filtered job list
`GET /api/v2/jobs`, as PROVIDERS.md describes them.

It speaks Comestri's words and imports nothing from the provider, so a mistake
in the provider's mapping shows up as a failing test. Where the doc is silent
it makes a choice, marked (sim).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

from monitor.simulators.base import RecordedRequest, Reply, ScriptedJob, Simulator, Step

DEFAULT_TOKEN = "comestri-simulated-token"
# (sim) Timestamps carry Comestri's home offset (Sydney), so offsets get exercised.
VENDOR_ZONE = timezone(timedelta(hours=10))
_TERMINAL = frozenset({"complete", "fail_to_receive", "fail_to_process", "canceled"})
_MAX_PER_PAGE = 100  # (sim) a larger per_page is cut to this
_DEFAULT_PER_PAGE = 50  # (sim) the doc's example value


def _steps(stages: Sequence[Mapping[str, Any]], polls: int, seconds: float | None) -> list[Step]:
    """Every stage but the last lasts `polls` polls (or `seconds`); the last holds."""
    return [Step(s, polls, seconds) for s in stages[:-1]] + [Step(stages[-1])]


def success_script(*, polls: int = 1, seconds: float | None = None) -> list[Step]:
    """Received, ready, processing at 40 %, complete with result Success and no errors."""
    return _steps(
        [
            {"status": "request_received", "percent_completed": 0},
            {"status": "ready_to_process", "percent_completed": 0},
            {"status": "processing", "percent_completed": 0.4},
            {"status": "complete", "percent_completed": 1, "result": "Success", "error_count": 0},
        ],
        polls,
        seconds,
    )


def partial_script(
    *, errors: int = 3, result: str = "Failure", polls: int = 1, seconds: float | None = None
) -> list[Step]:
    """A job that completes, but with `result` and `errors` errors."""
    return _steps(
        [
            {"status": "request_received", "percent_completed": 0},
            {"status": "processing", "percent_completed": 0.5},
            {"status": "complete", "percent_completed": 1, "result": result, "error_count": errors},
        ],
        polls,
        seconds,
    )


def failure_script(
    *, status: str = "fail_to_process", polls: int = 1, seconds: float | None = None
) -> list[Step]:
    """A job that is received, starts processing, then fails (`fail_to_process`,
    or `fail_to_receive`)."""
    return _steps(
        [
            {"status": "request_received", "percent_completed": 0},
            {"status": "processing", "percent_completed": 0.2},
            {"status": status, "percent_completed": 0.2, "result": "Failure", "error_count": 1},
        ],
        polls,
        seconds,
    )


def canceled_script(*, polls: int = 1, seconds: float | None = None) -> list[Step]:
    """A job that is received, then canceled before it runs."""
    return _steps(
        [
            {"status": "request_received", "percent_completed": 0},
            {"status": "canceled", "percent_completed": 0},
        ],
        polls,
        seconds,
    )


@dataclass
class _Job:
    script: ScriptedJob
    created_by: str
    entity: str
    created_time: datetime
    completed_time: datetime | None = None


class ComestriSimulator(Simulator):
    """One Comestri account: its token (Bearer), optionally a legacy static
    token with its email, and its jobs."""

    base_path = "/api/v2"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        email: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.email = email  # when set, `Token token=...,email=...` is accepted too
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._jobs_lock = threading.Lock()
        self._listed = threading.Condition()
        self.list_requests = 0  # job-list requests answered, refused ones too

    def add_job(
        self,
        job_id: str,
        script: Sequence[Step | tuple[Mapping[str, Any], int]] | None = None,
        *,
        created_by: str = "etl@example.com",
        entity: str = "products",
        created_time: datetime | None = None,
    ) -> ScriptedJob:
        """Add a job that follows `script` (default: `success_script()`),
        created now unless `created_time` says otherwise."""
        job = ScriptedJob(script if script is not None else success_script(), clock=self._clock)
        created = created_time or datetime.now(UTC)
        with self._jobs_lock:
            self._jobs[job_id] = _Job(job, created_by, entity, created)
        return job

    def job(self, job_id: str) -> ScriptedJob:
        with self._jobs_lock:
            return self._jobs[job_id].script

    def wait_for_list_requests(self, count: int, timeout: float) -> bool:
        """Block until `count` job-list requests have been answered; False on timeout."""
        with self._listed:
            return self._listed.wait_for(lambda: self.list_requests >= count, timeout)

    def handle(self, request: RecordedRequest) -> Reply:
        reply = self._reply(request)
        if request.path == f"{self.base_path}/jobs":
            with self._listed:
                self.list_requests += 1
                self._listed.notify_all()
        return reply

    def _reply(self, request: RecordedRequest) -> Reply:
        if not self._authorized(request.headers.get("authorization", "")):
            return _error(401, "Unauthorized")  # (sim) words
        if request.method != "GET":
            return _error(405, "Method not allowed")
        if request.path == f"{self.base_path}/jobs":
            return self._list(request.params)
        prefix = f"{self.base_path}/jobs/"
        if request.path.startswith(prefix):
            return self._one(unquote(request.path.removeprefix(prefix)))
        return _error(404, "Not found")

    def _authorized(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        if scheme == "Bearer":
            return credentials == self.token
        if scheme == "Token" and self.email is not None:
            # Legacy static tokens: `Token token=<token>,email=<email>` (doc).
            fields = dict(part.strip().partition("=")[::2] for part in credentials.split(","))
            return fields.get("token") == self.token and fields.get("email") == self.email
        return False

    def _one(self, job_id: str) -> Reply:
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None:
            return _error(404, "Job not found")
        return Reply.json(self._job_object(job_id, job, job.script.answer()))

    def _list(self, params: dict[str, list[str]]) -> Reply:
        try:
            page = _whole(params, "page", 1)
            per_page = min(_whole(params, "per_page", _DEFAULT_PER_PAGE), _MAX_PER_PAGE)
            created_from = _time(params, "created_time_from")
        except ValueError as problem:
            return _error(422, str(problem))
        wanted = {key: params[key][0] for key in ("created_by", "entity") if key in params}
        with self._jobs_lock:
            matching = [
                (job_id, job)
                for job_id, job in sorted(self._jobs.items(), key=lambda item: item[1].created_time)
                if all(getattr(job, key) == value for key, value in wanted.items())
                and (created_from is None or job.created_time >= created_from)
            ]
        shown = matching[(page - 1) * per_page : page * per_page]
        return Reply.json(
            {
                "page": page,
                "per_page": per_page,
                "total_pages": math.ceil(len(matching) / per_page),
                "total_entries": len(matching),
                "entries": [self._job_object(i, job, job.script.peek()) for i, job in shown],
            }
        )

    def _job_object(self, job_id: str, job: _Job, fields: dict[str, Any]) -> dict[str, Any]:
        if fields.get("status") in _TERMINAL and job.completed_time is None:
            job.completed_time = datetime.now(UTC)  # (sim) when the end was first shown
        return {
            "id": job_id,
            "entity": job.entity,
            "created_by": job.created_by,
            "created_time": _iso(job.created_time),
            "result": None,
            "error_count": 0,
            **fields,
            "completed_time": _iso(job.completed_time) if job.completed_time else None,
        }


def _whole(params: dict[str, list[str]], name: str, default: int) -> int:
    text = params.get(name, [str(default)])[0]
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1")
    return int(text)


def _time(params: dict[str, list[str]], name: str) -> datetime | None:
    if name not in params:
        return None
    try:
        moment = datetime.fromisoformat(params[name][0])
    except ValueError:
        raise ValueError(f"{name} is not a valid time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(VENDOR_ZONE).isoformat()


def _error(status: int, message: str) -> Reply:
    """(sim) Comestri's error envelope is not in the doc: `{"error": ...}`."""
    return Reply.json({"error": message}, status)
