"""A fake FullStory Server API v2: `GET /v2/{events|users}/batch/{id}`, as
PROVIDERS.md describes it, with 429 + `Retry-After` seconds when over its
rate limit.

It speaks FullStory's words and imports nothing from the provider. Where the
doc is silent it makes a choice, marked (sim).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from monitor.simulators.base import (
    Fault,
    RateLimit,
    RecordedRequest,
    Reply,
    ScriptedJob,
    Simulator,
    Step,
)

DEFAULT_API_KEY = "fullstory-simulated-key"
KINDS = ("events", "users")
_TERMINAL = frozenset({"COMPLETED", "FAILED"})


def _steps(stages: Sequence[Mapping[str, Any]], polls: int, seconds: float | None) -> list[Step]:
    """Every stage but the last lasts `polls` polls (or `seconds`); the last holds."""
    return [Step(s, polls, seconds) for s in stages[:-1]] + [Step(stages[-1])]


def success_script(
    *, imports: int = 1200, polls: int = 1, seconds: float | None = None
) -> list[Step]:
    """Processing, then COMPLETED with every item imported (no `errors` key:
    the doc sends it only for failed imports)."""
    return _steps(
        [
            {"status": "PROCESSING", "imports": 0},
            {"status": "PROCESSING", "imports": imports // 2},
            {"status": "COMPLETED", "imports": imports},
        ],
        polls,
        seconds,
    )


def partial_script(
    *, imports: int = 42, errors: int = 2, polls: int = 1, seconds: float | None = None
) -> list[Step]:
    """Processing, then FAILED with some items imported: the doc's own example
    (42 imports, 2 errors)."""
    return _steps(
        [
            {"status": "PROCESSING", "imports": 0},
            {"status": "FAILED", "imports": imports, "errors": errors},
        ],
        polls,
        seconds,
    )


def failure_script(*, errors: int = 17, polls: int = 1, seconds: float | None = None) -> list[Step]:
    """Processing, then FAILED with nothing imported."""
    return _steps(
        [
            {"status": "PROCESSING", "imports": 0},
            {"status": "FAILED", "imports": 0, "errors": errors},
        ],
        polls,
        seconds,
    )


@dataclass(frozen=True)
class RateLimited(Fault):
    """Answer as FullStory does over its rate limit, whatever the limit's count:
    429 with `Retry-After` in whole seconds (doc). Arm it with `sim.inject`."""

    retry_after: int = 1

    def answer(self, stopping: threading.Event) -> Reply:
        return _rate_limited(self.retry_after)


@dataclass
class _Job:
    script: ScriptedJob
    kind: str
    created: datetime
    with_id: bool  # job.id may be absent (doc)
    finished: datetime | None = None


class FullStorySimulator(Simulator):
    """One FullStory org: its API key, its batch import jobs and its rate limit.

    (sim) The limit is `rate_limit` requests per `rate_window` seconds; past it
    the answer is 429 with `Retry-After` in whole seconds (doc). Pass
    `rate_limit=None` to turn it off, or a small window for fast tests."""

    base_path = ""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        forbidden_keys: Collection[str] = (),
        rate_limit: int | None = 20,
        rate_window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_key = api_key
        self.forbidden_keys = frozenset(forbidden_keys)  # (sim) keys lacking the permission
        self._clock = clock
        self._rate = RateLimit(rate_limit, rate_window, clock=clock) if rate_limit else None
        self._jobs: dict[tuple[str, str], _Job] = {}
        self._jobs_lock = threading.Lock()

    def add_job(
        self,
        job_id: str,
        script: Sequence[Step | tuple[Mapping[str, Any], int]] | None = None,
        *,
        kind: str = "events",
        created: datetime | None = None,
        with_id: bool = True,
    ) -> ScriptedJob:
        """Add a batch import of `kind` that follows `script` (default:
        `success_script()`); `with_id=False` leaves `job.id` out of answers."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        job = ScriptedJob(script if script is not None else success_script(), clock=self._clock)
        with self._jobs_lock:
            self._jobs[(kind, job_id)] = _Job(job, kind, created or datetime.now(UTC), with_id)
        return job

    def job(self, job_id: str, kind: str = "events") -> ScriptedJob:
        with self._jobs_lock:
            return self._jobs[(kind, job_id)].script

    def handle(self, request: RecordedRequest) -> Reply:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        # The raw key follows "Basic" (doc), not base64 of user:password.
        if scheme != "Basic" or (key != self.api_key and key not in self.forbidden_keys):
            return _error(401, "access is unauthorized", "unauthorized")  # (doc)
        if key in self.forbidden_keys:
            return _error(403, "insufficient permissions", "forbidden")
        if self._rate is not None and (wait := self._rate.hit()) is not None:
            return _rate_limited(max(1, math.ceil(wait)))
        if request.method != "GET":
            return _error(405, "method not allowed", "method_not_allowed")
        parts = request.path.split("/")
        # "", "v2", kind, "batch", id
        if len(parts) != 5 or parts[1] != "v2" or parts[2] not in KINDS or parts[3] != "batch":
            return _error(404, "not found", "not_found")
        with self._jobs_lock:
            job = self._jobs.get((parts[2], unquote(parts[4])))
        if job is None:
            return _error(404, "job not found", "not_found")
        return Reply.json(_answer(unquote(parts[4]), job, job.script.answer()))


def _answer(job_id: str, job: _Job, fields: dict[str, Any]) -> dict[str, Any]:
    """`{imports, errors?, job: {id?, status, created, finished?}}` (doc)."""
    status = fields["status"]
    if status in _TERMINAL and job.finished is None:
        job.finished = datetime.now(UTC)  # (sim) when the end was first shown
    described: dict[str, Any] = {"status": status, "created": _iso(job.created)}
    if job.with_id:
        described = {"id": job_id, **described}
    if job.finished is not None:
        described["finished"] = _iso(job.finished)
    answer: dict[str, Any] = {"imports": fields.get("imports", 0)}
    if "errors" in fields:
        answer["errors"] = fields["errors"]
    answer["job"] = described
    return answer


def _iso(moment: datetime) -> str:
    """The doc's form: UTC with milliseconds and a Z (2019-04-18T14:36:11.123Z)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rate_limited(seconds: int) -> Reply:
    """429 with `Retry-After` in whole seconds (doc)."""
    return _error(429, "rate limit exceeded", "too_many_requests", {"Retry-After": str(seconds)})


def _error(status: int, message: str, code: str, headers: Mapping[str, str] | None = None) -> Reply:
    """FullStory's error body: `{message, code}` (doc)."""
    return Reply.json({"message": message, "code": code}, status, headers)
