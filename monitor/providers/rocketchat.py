"""Rocket.Chat imports, polled through `getCurrentImportOperation` (PROVIDERS.md,
rocketchat).

A server has one current import operation, and starting one returns no id: a
watch names `job: current` and the first poll learns the operation's `_id`,
which the job is then tracked under. An operation that stops being the current
one (a newer import was started) will never move again: it is reported
superseded, not failed.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from monitor.config.types import Rate
from monitor.domain import JobStatus, State
from monitor.providers.base import (
    FailureKind,
    PollFailure,
    Provider,
    ProviderSettings,
    Throttled,
    unrecognized_status,
)
from monitor.providers.http import (
    decode_json,
    error_message,
    raise_for_http_status,
    reason_text,
    request,
)

log = logging.getLogger(__name__)

CURRENT = "current"  # the job id that means "whatever operation is current at the first poll"

# ProgressStep values (code); the preparing_* and importing_* families grow with
# new importers, so they are matched by prefix.
_PENDING_STEPS = frozenset(
    {"importer_new", "importer_uploading", "importer_downloading_file", "importer_file_loaded"}
)
_RUNNING_PREFIXES = ("importer_preparing_", "importer_importing_")
_FIXED_STEPS = {
    "importer_finishing": State.RUNNING,
    # An admin must pick the users and channels to import before it goes on.
    "importer_user_selection": State.WAITING,
    "importer_import_failed": State.FAILED,
    "importer_import_cancelled": State.CANCELED,
}
_DONE = "importer_done"
# The rate limiter's 429 says "You must wait N seconds" (code); used when the
# X-RateLimit-Reset header is missing.
_WAIT_SECONDS = re.compile(r"wait (\d+(?:\.\d+)?) seconds")
_DISCOVER_FILTERS = ("type", "importerKey", "user")


class RocketChatSettings(ProviderSettings):
    """A `type: rocketchat` provider block."""

    type: Literal["rocketchat"] = "rocketchat"
    base_url: str  # the server's own URL: there is no public default
    user_id: str = Field(repr=False)  # X-User-Id
    auth_token: str = Field(repr=False)  # X-Auth-Token; the user needs run-import
    # 10 calls per 60 s per endpoint by default (code), shared with the admin UI.
    max_rps: Rate = Field(default="4/min", validate_default=True)

    def secrets(self) -> list[str]:
        return [self.user_id, self.auth_token]


class RocketChatProvider(Provider):
    """Follows a Rocket.Chat server's import operations."""

    type_name: ClassVar[str] = "rocketchat"
    settings_model: ClassVar[type[ProviderSettings]] = RocketChatSettings
    supports_discovery: ClassVar[bool] = True
    settings: RocketChatSettings

    async def poll(self, job_id: str) -> JobStatus:
        return self.parse(await self._current_operation(), job_id)

    async def discover(self, filters: dict[str, Any], since: datetime) -> list[str]:
        """The current operation's id when it began at or after `since` and
        matches `filters` (keys: type, importerKey, user): each new operation
        becomes a job. Only the current one can be seen."""
        unknown = sorted(set(filters) - set(_DISCOVER_FILTERS))
        if unknown:
            known = ", ".join(_DISCOVER_FILTERS)
            raise PollFailure(
                FailureKind.REJECTED,
                reason_text(f"unknown discover filter {unknown[0]!r} (rocketchat knows: {known})"),
            )
        operation = _operation_of(await self._current_operation())
        if operation is None:
            return []
        began = _timestamp(operation.get("ts")) or _timestamp(operation.get("_updatedAt"))
        # ts has millisecond precision: an operation begun in the same
        # millisecond as the watch is new to it.
        since = _aware(since).replace(microsecond=since.microsecond // 1000 * 1000)
        if began is None or began < since:
            return []
        if any(str(operation.get(key)) != str(value) for key, value in filters.items()):
            return []
        return [_operation_id(operation)]

    async def check_credentials(self) -> str:
        """The same read a poll makes: it also proves the run-import permission."""
        operation = _operation_of(await self._current_operation())
        if operation is None:
            return "credentials accepted (no import operation yet)"
        status = reason_text(str(operation.get("status")))
        return f"credentials accepted (current import operation {status})"

    async def _current_operation(self) -> Any:
        # Never getImportFileData: in some steps reading it starts file
        # preparation (code). This endpoint only reads.
        response = await request(
            self.client,
            "GET",
            f"{self.settings.base_url.rstrip('/')}/api/v1/getCurrentImportOperation",
            headers={"X-User-Id": self.settings.user_id, "X-Auth-Token": self.settings.auth_token},
        )
        _raise_for_refusal(response)
        try:
            # A missing endpoint answers 404: a wrong base_url, not a missing job.
            raise_for_http_status(response, not_found=(), auth=(401,))
        except Throttled as throttled:
            if throttled.retry_after is None:
                raise Throttled(throttled.reason, _wait_in_body(response)) from None
            raise
        return decode_json(response)

    def parse(self, payload: Any, job_id: str) -> JobStatus:
        if not isinstance(payload, dict):
            raise PollFailure(FailureKind.MALFORMED, "malformed payload: not a JSON object")
        if payload.get("success") is False:
            said = payload.get("error")
            reason = reason_text(said) if isinstance(said, str) and said else "success: false"
            raise PollFailure(FailureKind.REJECTED, reason)
        operation = _operation_of(payload)
        if operation is None:
            raise PollFailure(FailureKind.NOT_FOUND, "job not found (no current import operation)")
        operation_id = _operation_id(operation)
        if job_id not in (CURRENT, operation_id):
            return JobStatus(
                state=State.UNKNOWN,
                raw_status=str(operation.get("status")),
                message=f"superseded by import operation {operation_id}",
                superseded_by=operation_id,
            )
        return _status_of(operation, operation_id, job_id)


def _raise_for_refusal(response: httpx.Response) -> None:
    """403 is a refusal of the credentials only when it says unauthorized (doc):
    `[error-unauthorized]` when the user lacks run-import (code)."""
    if response.status_code != 403:
        return
    said = error_message(response) or ""
    if "unauthorized" in said.lower():
        raise PollFailure(FailureKind.AUTH, reason_text(f"credentials refused (HTTP 403): {said}"))
    if said:
        raise PollFailure(FailureKind.REJECTED, reason_text(f"HTTP 403: {said}"))
    raise PollFailure(FailureKind.REJECTED, "HTTP 403")


def _wait_in_body(response: httpx.Response) -> float | None:
    """Seconds from the 429 body's "You must wait N seconds", for a reply that
    lacks the X-RateLimit-Reset header."""
    said = error_message(response) or ""
    found = _WAIT_SECONDS.search(said)
    return float(found.group(1)) if found else None


def _operation_of(payload: Any) -> dict[str, Any] | None:
    """The operation object; None when the server has none (the key is then absent)."""
    if not isinstance(payload, dict):
        raise PollFailure(FailureKind.MALFORMED, "malformed payload: not a JSON object")
    operation = payload.get("operation")
    if operation is None:
        return None
    if not isinstance(operation, dict):
        raise PollFailure(FailureKind.MALFORMED, "malformed payload: operation is not an object")
    return operation


def _operation_id(operation: dict[str, Any]) -> str:
    operation_id = operation.get("_id")
    if not isinstance(operation_id, str) or not operation_id:
        raise PollFailure(FailureKind.MALFORMED, "malformed payload: operation has no _id")
    return operation_id


def _status_of(operation: dict[str, Any], operation_id: str, job_id: str) -> JobStatus:
    raw_status = operation.get("status")
    if not isinstance(raw_status, str) or not raw_status:
        raise PollFailure(FailureKind.MALFORMED, "malformed payload: operation has no status")
    processed, errors, total = _counts(operation.get("count"))
    state = _state_of(raw_status, errors, operation_id)
    message = _message_for(state, errors)
    if operation.get("valid") is False and not state.terminal:
        # The server itself counts an invalidated operation that is not done as
        # an error (code): it will never move again.
        state, message = State.FAILED, "the operation was invalidated on the server"
    progress = None
    if total and processed is not None:
        progress = max(0.0, min(1.0, processed / total))
    started = _timestamp(operation.get("ts"))
    return JobStatus(
        state=state,
        raw_status=raw_status,
        progress=progress,
        processed=processed,
        errors=errors,
        total=total,
        message=message,
        started_at=started,
        # A finished operation is no longer updated: its last update is its end (inferred).
        finished_at=_timestamp(operation.get("_updatedAt")) if state.terminal else None,
        job_id=operation_id if job_id == CURRENT else None,
        details=_details_of(operation),
    )


def _state_of(raw_status: str, errors: int | None, operation_id: str) -> State:
    if raw_status in _PENDING_STEPS:
        return State.PENDING
    if raw_status.startswith(_RUNNING_PREFIXES):
        return State.RUNNING
    if raw_status == _DONE:
        return State.PARTIAL if errors else State.SUCCEEDED
    state = _FIXED_STEPS.get(raw_status)
    if state is None:
        raise unrecognized_status("rocketchat", operation_id, raw_status)
    return state


def _counts(count: Any) -> tuple[int | None, int | None, int | None]:
    """completed, error and total from `count`; `error` may be absent (doc): 0."""
    if not isinstance(count, dict):
        return None, None, None
    completed, total = _number(count.get("completed")), _number(count.get("total"))
    errors = _number(count.get("error"))
    return completed, errors if errors is not None else 0, total


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _message_for(state: State, errors: int | None) -> str | None:
    if state is State.WAITING:
        return "waiting for an admin to select the users and channels to import"
    if state is State.PARTIAL:
        return f"import done with {errors} records in error"
    return None


def _details_of(operation: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for key in ("type", "importerKey"):
        value = operation.get(key)
        if isinstance(value, str) and value:
            details[key] = value
    if isinstance(operation.get("valid"), bool):
        details["valid"] = operation["valid"]
    return details


def _timestamp(value: Any) -> datetime | None:
    """A date as the REST API writes it: ISO 8601 text (`_updatedAt`), epoch ms
    as text (`ts` in the doc example: "1635337234169") or a number, or EJSON
    `{"$date": ms}`."""
    if isinstance(value, dict):
        value = value.get("$date")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return _aware(moment)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
