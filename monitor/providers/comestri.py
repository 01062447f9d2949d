"""Comestri (formerly CommerceConnect, Fusion Factory) jobs: one job by id, and
discovery through the paged job list (PROVIDERS.md, comestri)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote

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
from monitor.providers.timestamps import iso_time

log = logging.getLogger(__name__)

_STATES = {
    "request_received": State.PENDING,
    "ready_to_process": State.PENDING,
    "processing": State.RUNNING,
    # "complete" is succeeded or partial, by result and error_count: see _complete_state.
    "fail_to_receive": State.FAILED,
    "fail_to_process": State.FAILED,
    "canceled": State.CANCELED,
}
_COMPLETE = "complete"
# Field names for the job's times (inferred: the list filter is called
# created_time_from; the doc names no field for the end).
_STARTED_FIELD = "created_time"
_FINISHED_FIELD = "completed_time"
_PER_PAGE = 50  # the doc's example page size; `discover: {per_page: N}` overrides it
# A walk that long means a filter too wide (10,000 jobs at 50 a page); stop and say so.
_MAX_PAGES = 200
# The list is also checked here against created_time_from, with this much room
# for the vendor's clock and for times it rounds down to the second.
_CREATED_SLACK = timedelta(minutes=5)


class ComestriSettings(ProviderSettings):
    """A `type: comestri` provider block."""

    type: Literal["comestri"] = "comestri"
    base_url: str = "https://product.comestri.com/api/v2"
    token: str = Field(repr=False)
    # Legacy static tokens are sent with the account's email (doc).
    email: str | None = None

    def secrets(self) -> list[str]:
        return [self.token]


class ComestriProvider(Provider):
    """Polls and discovers one Comestri account's jobs."""

    type_name: ClassVar[str] = "comestri"
    settings_model: ClassVar[type[ProviderSettings]] = ComestriSettings
    supports_discovery: ClassVar[bool] = True
    settings: ComestriSettings

    async def poll(self, job_id: str) -> JobStatus:
        return self.parse(await self._get(f"/jobs/{quote(job_id, safe='')}"), job_id)

    async def discover(self, filters: dict[str, Any], since: datetime) -> list[str]:
        """Walk the job list page by page (until `page >= total_pages`, doc);
        `filters` pass through, `created_time_from` defaults to `since`."""
        params = {"per_page": _PER_PAGE, **{k: _param(k, v) for k, v in filters.items()}}
        params.setdefault("created_time_from", since.isoformat())
        created_from = iso_time(params["created_time_from"])
        found: dict[str, None] = {}  # ordered and without repeats: pages shift as jobs arrive
        page = 1
        while True:
            body = await self._get("/jobs", {**params, "page": page}, list_request=True)
            entries, total_pages = _list_page(body)
            for entry in entries:
                job_id = _listed_job_id(entry, created_from)
                if job_id is not None:
                    found[job_id] = None
            if page >= total_pages:
                return list(found)
            if page >= _MAX_PAGES:
                log.warning(
                    "comestri %s: job list has %d pages; read the first %d (narrow the filters)",
                    self.name,
                    total_pages,
                    _MAX_PAGES,
                )
                return list(found)
            page += 1

    async def check_credentials(self) -> str:
        """The first page of the job list, one entry long: the cheapest authenticated read."""
        body = await self._get("/jobs", {"page": 1, "per_page": 1}, list_request=True)
        total = body.get("total_entries") if isinstance(body, dict) else None
        listed = f" ({total} jobs listed)" if isinstance(total, int) else ""
        return f"token accepted{listed}"

    async def _get(
        self, path: str, params: dict[str, Any] | None = None, *, list_request: bool = False
    ) -> Any:
        response = await request(
            self.client,
            "GET",
            f"{self.settings.base_url.rstrip('/')}{path}",
            headers={"Authorization": self._authorization()},
            params=params,
        )
        # 401/403 refuse the credentials, 404 is a missing job, 422 and 500 are
        # failed polls (doc). A 404 on the list itself can only be a wrong base_url.
        raise_for_http_status(response, not_found=() if list_request else (404,))
        return decode_json(response)

    def _authorization(self) -> str:
        if self.settings.email is not None:
            # Legacy static tokens (doc): no space after the comma.
            return f"Token token={self.settings.token},email={self.settings.email}"
        return f"Bearer {self.settings.token}"

    def parse(self, payload: Any, job_id: str) -> JobStatus:
        if not isinstance(payload, dict):
            raise PollFailure(FailureKind.MALFORMED, "malformed payload: not a JSON object")
        raw_status = payload.get("status")
        if not isinstance(raw_status, str):
            raise PollFailure(FailureKind.MALFORMED, "malformed payload: no job status")
        error_count = _count(payload.get("error_count"))
        if raw_status == _COMPLETE:
            state, message = _complete_state(payload.get("result"), error_count)
        elif raw_status in _STATES:
            state, message = _STATES[raw_status], None
        else:
            raise unrecognized_status("comestri", job_id, raw_status)
        return JobStatus(
            state=state,
            raw_status=raw_status,
            progress=_fraction(payload.get("percent_completed")),
            errors=error_count,
            message=message,
            started_at=iso_time(payload.get(_STARTED_FIELD)),
            finished_at=iso_time(payload.get(_FINISHED_FIELD)) if state.terminal else None,
        )


def _complete_state(result: Any, error_count: int | None) -> tuple[State, str | None]:
    """A complete job succeeded only with result "Success" and no errors (doc).
    A missing error_count counts as none: then the result alone decides."""
    errors = error_count or 0
    if result == "Success" and errors == 0:
        return State.SUCCEEDED, None
    said = f"result '{reason_text(str(result))}'" if result is not None else "no result"
    return State.PARTIAL, f"completed with {said} and {errors} errors"


def _fraction(value: Any) -> float | None:
    """percent_completed is a fraction 0..1 (doc example shows 1 when complete);
    anything else is not a progress we can read."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 1 else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if value >= 0 and value == int(value) else None


def _param(name: str, value: Any) -> Any:
    """A `discover:` filter as a query parameter. YAML gives numbers, booleans
    and dates as such; the vendor reads text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return value  # sent as repeated parameters
    raise PollFailure(
        FailureKind.REJECTED, f"discover filter '{name}' must be text, a number or a list of them"
    )


def _list_page(body: Any) -> tuple[list[Any], int]:
    """The entries and total_pages of one page of the job list (doc shape:
    {page, per_page, total_pages, total_entries, entries})."""
    if not isinstance(body, dict):
        raise PollFailure(FailureKind.MALFORMED, "malformed job list: not a JSON object")
    entries, total_pages = body.get("entries"), body.get("total_pages")
    if not isinstance(entries, list) or isinstance(total_pages, bool):
        raise PollFailure(FailureKind.MALFORMED, "malformed job list: no entries list")
    if not isinstance(total_pages, int):
        raise PollFailure(FailureKind.MALFORMED, "malformed job list: no total_pages")
    return entries, total_pages


def _listed_job_id(entry: Any, created_from: datetime | None) -> str | None:
    """The id of a listed job, or None when there is none or the job was created
    before `created_from`: checked here too, because a list that ignored the
    filter would otherwise announce every past job at once."""
    if not isinstance(entry, dict):
        return None
    job_id = entry.get("id")
    if isinstance(job_id, bool) or not isinstance(job_id, str | int) or job_id == "":
        return None
    created = iso_time(entry.get(_STARTED_FIELD))
    if created_from is not None and created is not None and created < created_from - _CREATED_SLACK:
        return None
    return str(job_id)
