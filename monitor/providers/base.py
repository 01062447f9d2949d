"""The provider interface: one HTTP exchange in, one normalized JobStatus out.

A provider knows its vendor's API and nothing of the database or the schedule.
It answers `poll` with a JobStatus, or raises `Throttled` (the vendor asked us
to slow down: not a failure) or `PollFailure` (a failed poll, with a reason a
person can read).
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from monitor.config.types import Duration, Rate
from monitor.domain import JobStatus
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
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.raw_status = raw_status


class Throttled(Exception):
    """The vendor asked us to slow down. `retry_after` is seconds to wait, or
    None when the vendor gave no time (the engine backs off on its own)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


_REASON_LIMIT = 300


def reason_text(text: str) -> str:
    """`text` made fit for a PollFailure reason: secrets masked, whitespace
    collapsed to one line, at most 300 characters."""
    text = redact(" ".join(text.split()))
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 1] + "…"


def unrecognized_status(
    provider_type: str, job_id: str, raw_status: str, hint: str = "the mapping needs updating"
) -> PollFailure:
    """The failed poll for a status word the mapping does not know. PROVIDERS.md:
    never a crash; the job keeps its state, the raw word is recorded, and it is
    logged so the mapping can be fixed."""
    log.warning("%s job %s: unrecognized status %r; %s", provider_type, job_id, raw_status, hint)
    return PollFailure(
        FailureKind.UNRECOGNIZED,
        f"unrecognized status '{reason_text(raw_status)}'",
        raw_status=raw_status,
    )


class ProviderSettings(BaseModel):
    """The keys every provider block accepts; each type adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    base_url: str
    max_rps: Rate = 5.0
    max_concurrency: int = Field(default=4, ge=1)
    timeout: Duration = 30.0

    def secrets(self) -> list[str]:
        """Values in this block that must never be shown (tokens, keys)."""
        return []


class Provider(ABC):
    """One configured provider block, able to poll jobs of its type."""

    type_name: ClassVar[str]
    settings_model: ClassVar[type[ProviderSettings]] = ProviderSettings
    supports_discovery: ClassVar[bool] = False

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
