"""A fake KPA Flex API: `POST /v1/dataload.info`, as PROVIDERS.md describes it.

The simulator speaks KPA's words on purpose and imports nothing from the
provider, so a mistake in the provider's mapping shows up as a failing test.
Where the doc is silent it makes a choice, marked (sim).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.simulators.base import RateLimit, RecordedRequest, Reply, ScriptedJob, Simulator, Step

DEFAULT_TOKEN = "kpa-simulated-token"


def success_script(*, polls: int = 1, seconds: float | None = None, rows: int = 250) -> list[Step]:
    """A load that waits, runs and finishes: dataload, dataloading, dataloaded."""
    return [
        Step({"status": "dataload", "history": "Queued"}, polls, seconds),
        Step({"status": "dataloading", "history": f"Queued\nLoading {rows} rows"}, polls, seconds),
        Step(
            {"status": "dataloaded", "history": f"Queued\nLoading {rows} rows\nLoaded {rows} rows"}
        ),
    ]


def failure_script(
    *,
    history: str = "Row 12: 'hired_on' is not a date",
    polls: int = 1,
    seconds: float | None = None,
) -> list[Step]:
    """A load that waits, runs and fails with `history` as its free-text account."""
    return [
        Step({"status": "dataload", "history": "Queued"}, polls, seconds),
        Step({"status": "dataloading", "history": "Queued\nLoading"}, polls, seconds),
        Step({"status": "error", "history": history}),
    ]


class KpaFlexSimulator(Simulator):
    """KPA Flex with one account: its token, its data loads and its rate limit.

    The default rate limit is the doc's: about 80 requests a minute for the
    whole customer, then locked out about 60 s. Pass `rate_limit=None` to turn
    it off, or small numbers and a fake `clock` to test it without waiting."""

    base_path = "/v1"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        rate_limit: int | None = 80,
        rate_window: float = 60.0,
        lockout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self._clock = clock
        self._rate = (
            RateLimit(rate_limit, rate_window, lockout=lockout, clock=clock)
            if rate_limit is not None
            else None
        )
        self._jobs: dict[str, tuple[ScriptedJob, int]] = {}
        self._jobs_lock = threading.Lock()

    def add_job(
        self,
        job_id: str,
        script: Sequence[Step | tuple[Mapping[str, Any], int]] | None = None,
        *,
        created_ms: int | None = None,
    ) -> ScriptedJob:
        """Add a data load that follows `script` (default: `success_script()`)."""
        job = ScriptedJob(script if script is not None else success_script(), clock=self._clock)
        created = created_ms if created_ms is not None else int(time.time() * 1000)
        with self._jobs_lock:
            self._jobs[job_id] = (job, created)
        return job

    def job(self, job_id: str) -> ScriptedJob:
        with self._jobs_lock:
            return self._jobs[job_id][0]

    def handle(self, request: RecordedRequest) -> Reply:
        # (sim) Stricter than KPA, which may well answer GET: a provider that
        # sends GET would put the token in a URL, so make that fail loudly.
        if request.method != "POST":
            return Reply(405, b"POST only\n", {"Allow": "POST", "Content-Type": "text/plain"})
        if request.path != f"{self.base_path}/dataload.info":
            return _error("api_method_not_found", "Unknown API method")
        # (sim) Only a JSON object body is read; anything else carries no token.
        params = request.json if isinstance(request.json, dict) else {}
        token = params.get("token")
        if not token:
            return _error("token_missing", "A token is required")
        if token != self.token:
            return _error("token_invalid", "The token is not valid")
        # (sim) Only requests with a good token count: the limit is the customer's.
        if self._rate is not None and self._rate.hit() is not None:
            return _error("rate_limit_exceeded", "Too many requests; try again in a minute")
        job_id = params.get("id")
        if not job_id:
            return _error("parameter_missing", "id is required")  # (sim) identifier guessed
        with self._jobs_lock:
            entry = self._jobs.get(str(job_id))
        if entry is None:
            return _error("content_not_found", "No data load with that id")
        job, created = entry
        # App answers are HTTP 200 with `ok` (doc).
        return Reply.json(
            {"ok": True, "dataload": {"id": str(job_id), "created": created, **job.answer()}}
        )


def _error(identifier: str, description: str) -> Reply:
    """An app error: HTTP 200, ok false, an identifier and a description (doc)."""
    return Reply.json({"ok": False, "error": identifier, "description": description})
