"""KPA Flex data loads, polled through `dataload.info` (PROVIDERS.md, kpa_flex)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, NoReturn

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
from monitor.providers.http import decode_json, raise_for_http_status, reason_text, request

log = logging.getLogger(__name__)

_STATES = {
    "dataload": State.PENDING,
    "dataloading": State.RUNNING,
    "dataloaded": State.SUCCEEDED,
    "error": State.FAILED,
}

# token_* and account_inactive: the vendor refused the credentials (doc).
_AUTH_ERRORS = frozenset(
    {"token_missing", "token_invalid", "token_inactive", "token_permission", "account_inactive"}
)
# Failed polls with the identifier as reason (doc); anything else is also one,
# but worth a warning so the mapping can be checked.
_KNOWN_ERROR_PREFIXES = ("parameter_", "request_")
_KNOWN_ERRORS = frozenset({"api_method_not_found"})
# After rate_limit_exceeded the account is locked out for about 60 s (doc).
_LOCKOUT_SECONDS = 60.0
# An id KPA cannot hold, shaped like its 24-hex ids (doc example 5804f0f30ef50473af5870c6).
_NO_SUCH_JOB = "000000000000000000000000"


class KpaFlexSettings(ProviderSettings):
    """A `type: kpa_flex` provider block."""

    type: Literal["kpa_flex"] = "kpa_flex"
    base_url: str = "https://api.kpaehs.com/v1"
    token: str = Field(repr=False)
    # The whole customer shares ~80/min (doc); leave room for other clients.
    max_rps: Rate = Field(default="20/min", validate_default=True)

    def secrets(self) -> list[str]:
        return [self.token]


class KpaFlexProvider(Provider):
    """Polls one KPA Flex account's data loads."""

    type_name: ClassVar[str] = "kpa_flex"
    settings_model: ClassVar[type[ProviderSettings]] = KpaFlexSettings
    settings: KpaFlexSettings

    async def poll(self, job_id: str) -> JobStatus:
        return self.parse(await self._dataload_info(job_id), job_id)

    async def check_credentials(self) -> str:
        """Ask about a job that cannot exist: KPA has no whoami, and an answer
        other than a token error means the token was accepted."""
        payload = await self._dataload_info(_NO_SUCH_JOB)
        identifier = payload.get("error") if isinstance(payload, dict) else None
        if identifier == "content_not_found":
            return "token accepted (dataload.info answered content_not_found for a made-up id)"
        if isinstance(identifier, str) and identifier.startswith("parameter_"):
            # KPA might check parameters before the token: no proof, but no refusal.
            return f"token not refused (dataload.info answered {reason_text(identifier)})"
        self.parse(payload, _NO_SUCH_JOB)  # raises what any other error means
        return "token accepted"

    async def _dataload_info(self, job_id: str) -> Any:
        # POST with the token in the JSON body, never GET: the token would land
        # in URLs and access logs (doc).
        response = await request(
            self.client,
            "POST",
            f"{self.settings.base_url.rstrip('/')}/dataload.info",
            json={"token": self.settings.token, "id": job_id},
        )
        # App errors, a missing job included, come as HTTP 200 with ok: false
        # (doc), so an HTTP 404 can only mean a wrong base_url.
        raise_for_http_status(response, not_found=())
        return decode_json(response)

    def parse(self, payload: Any, job_id: str) -> JobStatus:
        if not isinstance(payload, dict):
            raise PollFailure(FailureKind.MALFORMED, "malformed payload: not a JSON object")
        if payload.get("ok") is False:
            _raise_error(payload)
        dataload = payload.get("dataload")
        if payload.get("ok") is not True or not isinstance(dataload, dict):
            raise PollFailure(FailureKind.MALFORMED, "malformed payload: no ok dataload object")
        raw_status = dataload.get("status")
        if not isinstance(raw_status, str):
            raise PollFailure(FailureKind.MALFORMED, "malformed payload: no dataload.status")
        state = _STATES.get(raw_status)
        if state is None:
            raise unrecognized_status("kpa_flex", job_id, raw_status)
        # history is free text: keep and show it, never parse it (doc). The
        # message templates show it for failures; it is not also the message.
        history = dataload.get("history")
        history = history if isinstance(history, str) and history.strip() else None
        return JobStatus(
            state=state,
            raw_status=raw_status,
            started_at=_from_epoch_ms(dataload.get("created")),
            details={"history": history} if history else {},
        )


def _raise_error(payload: dict[str, Any]) -> NoReturn:
    """Raise what an `ok: false` envelope means: `error` is an identifier,
    `description` optional (doc)."""
    identifier = payload.get("error")
    if not isinstance(identifier, str) or not identifier:
        raise PollFailure(FailureKind.REJECTED, "request refused without an error identifier")
    description = payload.get("description")
    said = reason_text(
        f"{identifier}: {description}" if isinstance(description, str) else identifier
    )
    if identifier == "rate_limit_exceeded":
        raise Throttled(f"rate limited ({said})", retry_after=_LOCKOUT_SECONDS)
    if identifier == "server_error":
        raise PollFailure(FailureKind.SERVER_ERROR, f"server error ({said})")
    if identifier in _AUTH_ERRORS:
        raise PollFailure(FailureKind.AUTH, f"credentials refused ({said})")
    if identifier == "content_not_found":
        raise PollFailure(FailureKind.NOT_FOUND, f"job not found ({said})")
    if identifier not in _KNOWN_ERRORS and not identifier.startswith(_KNOWN_ERROR_PREFIXES):
        log.warning("kpa_flex: unknown error identifier %r", reason_text(identifier))
    raise PollFailure(FailureKind.REJECTED, said)


def _from_epoch_ms(value: Any) -> datetime | None:
    """`created` is epoch milliseconds (doc)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
