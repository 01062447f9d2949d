"""FullStory Server API v2 batch imports of events or users (PROVIDERS.md, fullstory)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field

from monitor.domain import JobStatus, State
from monitor.providers.base import (
    FailureKind,
    PollFailure,
    Provider,
    ProviderSettings,
    unrecognized_status,
)
from monitor.providers.http import decode_json, raise_for_http_status, reason_text, request
from monitor.providers.sanitize import load_json
from monitor.providers.timestamps import iso_time

log = logging.getLogger(__name__)

_RUNNING = "PROCESSING"
_COMPLETED = "COMPLETED"
_FAILED = "FAILED"
# An id no batch job has, for the credential check: a 404 means the key was accepted.
_NO_SUCH_JOB = "loadwatch-credential-check"
_ERROR_BODY_LIMIT = 64 * 1024


class FullStorySettings(ProviderSettings):
    """A `type: fullstory` provider block."""

    type: Literal["fullstory"] = "fullstory"
    base_url: str = "https://api.fullstory.com"
    api_key: str = Field(repr=False)
    kind: Literal["events", "users"] = "events"  # which batch import API the jobs belong to

    def secrets(self) -> list[str]:
        return [self.api_key]


class FullStoryProvider(Provider):
    """Polls one FullStory org's batch import jobs of one kind."""

    type_name: ClassVar[str] = "fullstory"
    settings_model: ClassVar[type[ProviderSettings]] = FullStorySettings
    settings: FullStorySettings

    async def poll(self, job_id: str) -> JobStatus:
        return self.parse(await self._batch_job(job_id), job_id)

    async def check_credentials(self) -> str:
        """Ask about a job that cannot exist: FullStory answers 404 to a key it
        accepted, and 401/403 to one it refuses."""
        try:
            await self._batch_job(_NO_SUCH_JOB)
        except PollFailure as failure:
            if failure.kind is FailureKind.NOT_FOUND:
                return (
                    f"key accepted ({self.settings.kind} batch API answered 404 for a made-up id)"
                )
            raise
        return "key accepted"

    async def _batch_job(self, job_id: str) -> Any:
        response = await request(
            self.client,
            "GET",
            f"{self.settings.base_url.rstrip('/')}/v2/{self.settings.kind}/batch/"
            f"{quote(job_id, safe='=')}",  # ids are base64-like: "abd123=" (doc)
            # The doc's header is "Basic" followed by the raw API key: not the
            # base64 of user:password that HTTP Basic usually means.
            headers={"Authorization": f"Basic {self.settings.api_key}"},
        )
        _raise_for_status(response)
        return decode_json(response)

    def parse(self, payload: Any, job_id: str) -> JobStatus:
        if not isinstance(payload, dict):
            raise PollFailure(FailureKind.MALFORMED, "malformed payload: not a JSON object")
        job = payload.get("job")
        raw_status = job.get("status") if isinstance(job, dict) else None
        if not isinstance(job, dict) or not isinstance(raw_status, str):
            raise PollFailure(FailureKind.MALFORMED, "malformed payload: no job.status")
        imports = _count(payload.get("imports"))
        # `errors` is only sent for failed imports (doc): absent means none.
        errors = _count(payload.get("errors")) or 0
        state = _state(raw_status, imports)
        if state is None:
            raise unrecognized_status("fullstory", job_id, raw_status)
        # job.id may be absent (doc): the job stays keyed by the id we asked for.
        return JobStatus(
            state=state,
            raw_status=raw_status,
            processed=imports,
            errors=errors,
            started_at=iso_time(job.get("created")),
            finished_at=iso_time(job.get("finished")),
        )


def _state(raw_status: str, imports: int | None) -> State | None:
    if raw_status == _RUNNING:
        return State.RUNNING
    if raw_status == _COMPLETED:
        return State.SUCCEEDED
    if raw_status == _FAILED:
        # FAILED includes partial failures (doc): items that did import make it partial.
        return State.PARTIAL if imports else State.FAILED
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if value >= 0 and value == int(value) else None


def _raise_for_status(response: httpx.Response) -> None:
    """The shared status mapping (429 with Retry-After seconds is Throttled,
    401/403 refused credentials, 404 a missing job), with the vendor's own
    words added where the shared reason leaves them out: its error body is
    `{message, code}` (doc), and 403 means the key lacks a permission."""
    try:
        raise_for_http_status(response)
    except PollFailure as failure:
        said = _error_words(response)
        if said is None or failure.kind not in (FailureKind.AUTH, FailureKind.NOT_FOUND):
            raise
        raise PollFailure(failure.kind, reason_text(f"{failure.reason}: {said}")) from None


def _error_words(response: httpx.Response) -> str | None:
    """`message (code)` from a small FullStory error body; None when it has neither."""
    if len(response.content) > _ERROR_BODY_LIMIT:
        return None  # a page, not an error body
    try:
        body = load_json(response.content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    message, code = body.get("message"), body.get("code")
    words = []
    if isinstance(message, str) and message.strip():
        words.append(message)
    if isinstance(code, str) and code.strip():
        words.append(f"({code})")
    return " ".join(words) or None
