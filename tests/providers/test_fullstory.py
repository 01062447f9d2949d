"""FullStory: how each batch import answer and error maps (payloads in
tests/payloads/fullstory)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure, Throttled
from monitor.providers.fullstory import FullStoryProvider, FullStorySettings
from monitor.providers.http import make_client

PAYLOADS = Path(__file__).parent.parent / "payloads" / "fullstory"
JOB = "abd123="
API_KEY = "fullstory-key-for-tests"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def provider_with(
    answer: Callable[[httpx.Request], httpx.Response] | None = None, **settings: Any
) -> FullStoryProvider:
    block = FullStorySettings(api_key=API_KEY, **settings)
    transport = httpx.MockTransport(answer) if answer else None
    return FullStoryProvider("analytics", block, make_client(block, transport=transport))


@pytest.fixture
def fullstory() -> FullStoryProvider:
    return provider_with()


# --- statuses ---------------------------------------------------------------


def test_fullstory_processing_is_running(fullstory: FullStoryProvider) -> None:
    status = fullstory.parse(payload("status_processing.json"), JOB)
    assert (status.state, status.raw_status) == (State.RUNNING, "PROCESSING")


def test_fullstory_completed_is_succeeded(fullstory: FullStoryProvider) -> None:
    status = fullstory.parse(payload("status_completed.json"), JOB)
    assert (status.state, status.raw_status) == (State.SUCCEEDED, "COMPLETED")


def test_fullstory_failed_with_imports_is_partial(fullstory: FullStoryProvider) -> None:
    # The vendor's documented example: 42 imported, 2 failed, status FAILED.
    status = fullstory.parse(payload("status_failed_doc_example.json"), JOB)
    assert (status.state, status.raw_status) == (State.PARTIAL, "FAILED")


def test_fullstory_failed_with_nothing_imported_is_failed(fullstory: FullStoryProvider) -> None:
    assert fullstory.parse(payload("status_failed_nothing_imported.json"), JOB).state is (
        State.FAILED
    )


def test_fullstory_unknown_status_is_unrecognized_with_raw_status(
    fullstory: FullStoryProvider,
) -> None:
    with pytest.raises(PollFailure) as failure:
        fullstory.parse(payload("status_unknown.json"), JOB)
    assert failure.value.kind is FailureKind.UNRECOGNIZED
    assert failure.value.reason == "unrecognized status 'PENDING'"
    assert failure.value.raw_status == "PENDING"


def test_fullstory_unknown_status_is_logged_as_warning(
    fullstory: FullStoryProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(PollFailure):
        fullstory.parse(payload("status_unknown.json"), JOB)
    assert "PENDING" in caplog.text


def test_fullstory_answer_without_job_is_malformed(fullstory: FullStoryProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        fullstory.parse({"imports": 3}, JOB)
    assert failure.value.kind is FailureKind.MALFORMED


# --- counts, ids, times ---------------------------------------------------------


def test_fullstory_counts_are_imports_and_errors(fullstory: FullStoryProvider) -> None:
    status = fullstory.parse(payload("status_failed_doc_example.json"), JOB)
    assert status.counts() == {"processed": 42, "errors": 2}


def test_fullstory_absent_errors_count_as_zero(fullstory: FullStoryProvider) -> None:
    status = fullstory.parse(payload("status_completed.json"), JOB)
    assert status.counts() == {"processed": 1200, "errors": 0}


def test_fullstory_failed_without_errors_key_is_failed_with_zero_errors(
    fullstory: FullStoryProvider,
) -> None:
    status = fullstory.parse(payload("status_failed_without_errors.json"), JOB)
    assert (status.state, status.errors) == (State.FAILED, 0)


def test_fullstory_answer_without_job_id_is_keyed_by_the_id_asked(
    fullstory: FullStoryProvider,
) -> None:
    status = fullstory.parse(payload("status_without_job_id.json"), JOB)
    assert (status.state, status.job_id) == (State.SUCCEEDED, None)


def test_fullstory_created_and_finished_are_the_job_times(fullstory: FullStoryProvider) -> None:
    status = fullstory.parse(payload("status_failed_doc_example.json"), JOB)
    assert status.started_at == datetime(2019, 4, 18, 14, 36, 11, 123000, tzinfo=UTC)
    assert status.finished_at == datetime(2019, 4, 18, 15, 36, 11, 123000, tzinfo=UTC)


def test_fullstory_reports_no_progress(fullstory: FullStoryProvider) -> None:
    assert fullstory.parse(payload("status_processing.json"), JOB).progress is None


# --- settings, request and HTTP statuses ----------------------------------------------


def test_fullstory_settings_hide_the_key() -> None:
    settings = FullStorySettings(api_key=API_KEY)
    assert settings.secrets() == [API_KEY]
    assert API_KEY not in repr(settings)


def test_fullstory_kind_is_events_or_users() -> None:
    with pytest.raises(ValueError):
        FullStorySettings(api_key=API_KEY, kind="sessions")


async def request_seen(**settings: Any) -> httpx.Request:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payload("status_processing.json"))

    fullstory = provider_with(answer, **settings)
    async with fullstory.client:
        await fullstory.poll(JOB)
    return seen[0]


async def test_fullstory_sends_the_raw_key_after_basic() -> None:
    request = await request_seen()
    assert request.headers["Authorization"] == f"Basic {API_KEY}"


async def test_fullstory_polls_the_events_batch_job() -> None:
    request = await request_seen()
    assert str(request.url) == "https://api.fullstory.com/v2/events/batch/abd123="


async def test_fullstory_users_kind_polls_the_users_batch_job() -> None:
    request = await request_seen(kind="users")
    assert request.url.path == "/v2/users/batch/abd123="


async def raised_by(
    status: int, body: str, headers: dict[str, str] | None = None
) -> PollFailure | Throttled:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=payload(body), headers=headers)

    fullstory = provider_with(answer)
    async with fullstory.client:
        with pytest.raises((PollFailure, Throttled)) as raised:
            await fullstory.poll(JOB)
    return raised.value


async def test_fullstory_429_throttles_for_retry_after_seconds() -> None:
    raised = await raised_by(429, "error_429_too_many_requests.json", {"Retry-After": "17"})
    assert isinstance(raised, Throttled)
    assert raised.retry_after == 17.0


async def test_fullstory_401_is_refused_credentials_with_the_vendor_words() -> None:
    raised = await raised_by(401, "error_401_unauthorized.json")
    assert isinstance(raised, PollFailure) and raised.kind is FailureKind.AUTH
    assert raised.reason == "credentials refused (HTTP 401): access is unauthorized (unauthorized)"


async def test_fullstory_403_is_refused_credentials_for_lack_of_permission() -> None:
    raised = await raised_by(403, "error_403_forbidden.json")
    assert isinstance(raised, PollFailure) and raised.kind is FailureKind.AUTH
    assert "insufficient permissions" in raised.reason


async def test_fullstory_404_is_job_not_found() -> None:
    raised = await raised_by(404, "error_404_not_found.json")
    assert isinstance(raised, PollFailure) and raised.kind is FailureKind.NOT_FOUND


async def test_fullstory_400_is_a_failed_poll_with_the_vendor_message() -> None:
    raised = await raised_by(400, "error_400_required_field.json")
    assert isinstance(raised, PollFailure) and raised.kind is FailureKind.REJECTED
    assert raised.reason == "HTTP 400: uid is required"


async def test_fullstory_500_is_a_server_error() -> None:
    raised = await raised_by(500, "error_500_internal.json")
    assert isinstance(raised, PollFailure) and raised.kind is FailureKind.SERVER_ERROR
