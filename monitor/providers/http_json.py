"""Any JSON job API declared in YAML (PROVIDERS.md, http_json): one templated
request per poll, the answer mapped by JMESPath (http_json_mapping.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from monitor.domain import JobStatus
from monitor.providers.base import FailureKind, PollFailure, Provider, ProviderSettings
from monitor.providers.http import decode_json, raise_for_http_status, request
from monitor.providers.http_json_list import list_jobs
from monitor.providers.http_json_mapping import Evaluation, ResponseMapping
from monitor.providers.http_json_settings import JOB_PLACEHOLDER, HttpJsonSettings
from monitor.providers.sanitize import load_json

# An id no job has, for the credential check.
_NO_SUCH_JOB = "loadwatch-credential-check"
# Failed polls that refuse the credentials, or say nothing about them.
_CHECK_FAILS_ON = frozenset(
    {FailureKind.AUTH, FailureKind.NETWORK, FailureKind.TIMEOUT, FailureKind.SERVER_ERROR}
)
# An error body larger than this is a page, not a vendor's error envelope.
_ERROR_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class JobRequest:
    """The request template filled in for one job."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any


def job_request(settings: HttpJsonSettings, job_id: str) -> JobRequest:
    """The request that asks about `job_id`: `{job}` URL-encoded in the url, as
    is in header values and in every string of the body."""
    url = settings.request_url().replace(JOB_PLACEHOLDER, quote(job_id, safe=""))
    headers = {
        name: value.replace(JOB_PLACEHOLDER, job_id)
        for name, value in settings.request.headers.items()
    }
    return JobRequest(settings.request.method, url, headers, _fill(settings.request.body, job_id))


def _fill(body: Any, job_id: str) -> Any:
    if isinstance(body, str):
        return body.replace(JOB_PLACEHOLDER, job_id)
    if isinstance(body, dict):
        return {key: _fill(value, job_id) for key, value in body.items()}
    if isinstance(body, list):
        return [_fill(item, job_id) for item in body]
    return body


class HttpJsonProvider(Provider):
    """Polls one JSON job API as its provider block declares."""

    type_name: ClassVar[str] = "http_json"
    settings_model: ClassVar[type[ProviderSettings]] = HttpJsonSettings
    supports_discovery: ClassVar[bool] = True  # with a `list:` block
    settings: HttpJsonSettings

    def __init__(self, name: str, settings: ProviderSettings, client: httpx.AsyncClient) -> None:
        super().__init__(name, settings, client)
        self.mapping = ResponseMapping(name, self.settings)

    async def poll(self, job_id: str) -> JobStatus:
        asked = job_request(self.settings, job_id)
        response = await request(
            self.client, asked.method, asked.url, json=asked.body, headers=asked.headers
        )
        if not response.is_success:
            self._raise_for_status(response)
        return self.parse(decode_json(response), job_id)

    async def discover(self, filters: dict[str, Any], since: datetime) -> list[str]:
        """Ids from the block's `list:` endpoint (http_json_list.py)."""
        if self.settings.listing is None:
            problem = f"provider {self.name} has no list: block to discover jobs with"
            raise PollFailure(FailureKind.REJECTED, problem)
        return await list_jobs(self.client, self.settings, self.settings.listing, filters, since)

    async def check_credentials(self) -> str:
        """Ask about a job that cannot exist: refused credentials (and an API
        that cannot be reached) raise; any other answer means they passed."""
        try:
            status = await self.poll(_NO_SUCH_JOB)
        except PollFailure as failure:
            if failure.kind in _CHECK_FAILS_ON:
                raise
            return f"credentials not refused (a made-up job id got: {failure.reason})"
        return f"credentials accepted (status '{status.raw_status}')"

    def parse(self, payload: Any, job_id: str) -> JobStatus:
        return self.evaluate(payload, job_id).status

    def evaluate(self, payload: Any, job_id: str) -> Evaluation:
        """parse(), telling also which rule decided the state (for `explain`)."""
        return self.mapping.evaluate(payload, job_id)

    def _raise_for_status(self, response: httpx.Response) -> None:
        """A non-2xx answer: 429, `auth_status` and `not_found_status` mean what
        they say; for other 4xx/5xx, a JSON body that an `error_when` rule
        matches decides (e.g. a 403 whose body says the token expired); the
        rest is the usual HTTP mapping."""
        status = response.status_code
        declared = {429, *self.settings.auth_status, *self.settings.not_found_status}
        if status >= 400 and status not in declared:
            payload = _small_json(response)
            if payload is not None:
                self.mapping.raise_for_errors(payload)
        raise_for_http_status(
            response,
            not_found=self.settings.not_found_status,
            auth=self.settings.auth_status,
        )


def _small_json(response: httpx.Response) -> Any:
    if len(response.content) > _ERROR_BODY_LIMIT:
        return None
    try:
        return load_json(response.content)
    except ValueError:
        return None
