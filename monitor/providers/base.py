"""The provider interface: one HTTP exchange in, one normalized JobStatus out.

A provider knows its vendor's API and nothing of the database or the schedule.
It answers `poll` with a JobStatus, or raises `Throttled` (the vendor asked us
to slow down: not a failure) or `PollFailure` (a failed poll, with a reason a
person can read).
"""

from __future__ import annotations

import enum
import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.config.types import Duration, Rate
from monitor.domain import JobStatus
from monitor.providers.sanitize import (
    RAW_STATUS_CHARS,
    clean_status,
    clean_text,
    escape_controls,
    storable_job_id,
)
from monitor.redact import redact

log = logging.getLogger(__name__)


class FailureKind(enum.StrEnum):
    """Why a poll failed; each counts toward `unreachable` (SPEC §2)."""

    NETWORK = "network"  # connection refused, DNS, reset
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"  # 5xx, or the vendor's own "server error"
    MALFORMED = "malformed"  # not JSON, HTML, wrong shape, too large
    AUTH = "auth"  # credentials refused: reported once per provider
    NOT_FOUND = "not_found"
    UNRECOGNIZED = "unrecognized"  # a raw status the mapping does not know
    REJECTED = "rejected"  # any other vendor error (bad parameter, 4xx)


class PollFailure(Exception):
    """A failed poll. `reason` is for people and must hold no secret."""

    def __init__(self, kind: FailureKind, reason: str, *, raw_status: str | None = None) -> None:
        reason = reason_text(reason)
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        # The vendor's word, stored beside the failure: made safe like any status.
        self.raw_status = None if raw_status is None else clean_text(raw_status, RAW_STATUS_CHARS)


class Throttled(Exception):
    """The vendor asked us to slow down. `retry_after` is seconds to wait, or
    None when the vendor gave no time (the engine backs off on its own)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        reason = reason_text(reason)
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


_REASON_LIMIT = 300


def reason_text(text: str) -> str:
    """`text` made fit for a PollFailure reason: secrets masked, whitespace
    collapsed to one line, controls escaped, at most 300 characters."""
    text = escape_controls(redact(" ".join(text.split())))
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 1] + "…"


def unrecognized_status(
    provider_type: str, job_id: str, raw_status: str, hint: str = "the mapping needs updating"
) -> PollFailure:
    """The failed poll for a status word the mapping does not know. PROVIDERS.md:
    never a crash; the job keeps its state, the raw word is recorded, and it is
    logged so the mapping can be fixed."""
    shown = clean_text(raw_status, 200)
    log.warning("%s job %s: unrecognized status '%s'; %s", provider_type, job_id, shown, hint)
    return PollFailure(
        FailureKind.UNRECOGNIZED, f"unrecognized status '{shown}'", raw_status=raw_status
    )


class ProviderSettings(BaseModel):
    """The keys every provider block accepts; each type adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    base_url: str
    max_rps: Rate = 5.0
    max_concurrency: int = Field(default=4, ge=1)
    timeout: Duration = 30.0

    @field_validator("base_url")
    @classmethod
    def _base_url_is_a_url(cls, value: str) -> str:
        """An http(s) URL with a host (empty only where a type allows it)."""
        if value == "":
            return value
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError, ValueError) as error:
            raise ValueError(f"base_url is not a URL: {escape_controls(str(error))}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("base_url must be an http:// or https:// URL with a host")
        return value

    def secrets(self) -> list[str]:
        """Values in this block that must never be shown (tokens, keys)."""
        return []


class Provider(ABC):
    """One configured provider block, able to poll jobs of its type."""

    type_name: ClassVar[str]
    settings_model: ClassVar[type[ProviderSettings]] = ProviderSettings
    supports_discovery: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every provider type, built in or from a plugin, hands back only safe
        values (providers/sanitize.py), and a payload of a shape its code did
        not expect is a malformed-payload failed poll, never a crash."""
        super().__init_subclass__(**kwargs)
        for method, wrap in (("poll", _safe_poll), ("parse", _safe_parse)):
            own = cls.__dict__.get(method)
            if own is not None and not getattr(own, "_sanitized", False):
                setattr(cls, method, wrap(own))
        own_discover = cls.__dict__.get("discover")
        if own_discover is not None and not getattr(own_discover, "_sanitized", False):
            cls.discover = _safe_discover(own_discover)  # type: ignore[method-assign]
        own_check = cls.__dict__.get("check_credentials")
        if own_check is not None and not getattr(own_check, "_sanitized", False):
            cls.check_credentials = _safe_check(own_check)  # type: ignore[method-assign]

    def __init__(self, name: str, settings: ProviderSettings, client: httpx.AsyncClient) -> None:
        if not isinstance(settings, self.settings_model):
            raise TypeError(
                f"{self.type_name} provider {name} needs {self.settings_model.__name__}"
            )
        self.name = name
        self.settings = settings
        self.client = client

    @abstractmethod
    async def poll(self, job_id: str) -> JobStatus:
        """Ask the vendor about one job. Raises PollFailure or Throttled."""

    @abstractmethod
    def parse(self, payload: Any, job_id: str) -> JobStatus:
        """Map one decoded response body to a JobStatus, with no I/O.

        Raises PollFailure for vendor error envelopes and unknown statuses.
        `loadwatch explain` and the payload tests call this directly."""

    async def discover(self, filters: dict[str, Any], since: datetime) -> list[str]:
        """Ids of the jobs matching `filters` created since `since`."""
        raise NotImplementedError(f"provider type {self.type_name} has no job list to discover")

    async def check_credentials(self) -> str:
        """One cheap read that proves the credentials work; returns what it saw."""
        raise NotImplementedError(f"provider type {self.type_name} has no credential check")


# Exceptions a payload of an unexpected shape makes ordinary code raise.
SHAPE_ERRORS = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)


def shape_failure(error: BaseException) -> PollFailure:
    """The failed poll for a payload the provider's code could not read."""
    if isinstance(error, RecursionError):
        return PollFailure(FailureKind.MALFORMED, "malformed payload: nested too deeply")
    detail = clean_text(str(error), 150) if str(error) else ""
    name = type(error).__name__
    return PollFailure(
        FailureKind.MALFORMED,
        f"malformed payload: unexpected shape ({name}: {detail})"
        if detail
        else f"malformed payload: unexpected shape ({name})",
    )


def _safe_parse(parse: Callable[..., JobStatus]) -> Callable[..., JobStatus]:
    @functools.wraps(parse)
    def parse_safely(self: Provider, payload: Any, job_id: str) -> JobStatus:
        try:
            return clean_status(parse(self, payload, job_id))
        except (PollFailure, Throttled):
            raise
        except SHAPE_ERRORS as error:
            log.debug("%s parse failed", self.type_name, exc_info=True)
            raise shape_failure(error) from None

    parse_safely._sanitized = True  # type: ignore[attr-defined]
    return parse_safely


def _safe_poll(poll: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(poll)
    async def poll_safely(self: Provider, job_id: str) -> JobStatus:
        try:
            return clean_status(await poll(self, job_id))
        except (PollFailure, Throttled):
            raise
        except SHAPE_ERRORS as error:
            log.debug("%s poll of %s failed", self.type_name, job_id, exc_info=True)
            raise shape_failure(error) from None

    poll_safely._sanitized = True  # type: ignore[attr-defined]
    return poll_safely


def _safe_discover(discover: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(discover)
    async def discover_safely(
        self: Provider, filters: dict[str, Any], since: datetime
    ) -> list[str]:
        try:
            found = await discover(self, filters, since)
        except (PollFailure, Throttled, NotImplementedError):
            raise
        except SHAPE_ERRORS as error:
            log.debug("%s discovery failed", self.type_name, exc_info=True)
            raise shape_failure(error) from None
        kept: list[str] = []
        for value in found:
            job_id = storable_job_id(value)
            if job_id is None:
                log.warning(
                    "%s %s: skipped a listed job id that cannot be stored: %s",
                    self.type_name,
                    self.name,
                    clean_text(value, 80),
                )
            else:
                kept.append(job_id)
        return kept

    discover_safely._sanitized = True  # type: ignore[attr-defined]
    return discover_safely


def _safe_check(check: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(check)
    async def check_safely(self: Provider) -> str:
        try:
            return clean_text(await check(self), 300)
        except (PollFailure, Throttled, NotImplementedError):
            raise
        except SHAPE_ERRORS as error:
            raise shape_failure(error) from None

    check_safely._sanitized = True  # type: ignore[attr-defined]
    return check_safely
