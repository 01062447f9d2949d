"""Rocket.Chat: how each `getCurrentImportOperation` answer maps (payloads in
tests/payloads/rocketchat)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure, Throttled
from monitor.providers.http import make_client
from monitor.providers.rocketchat import RocketChatProvider, RocketChatSettings

PAYLOADS = Path(__file__).parent.parent / "payloads" / "rocketchat"
OPERATION = "5XQ3kSgYp2LmWd9Rz"  # the _id in the status_* payloads
USER_ID = "rc-user-id-for-tests"
AUTH_TOKEN = "rc-auth-token-for-tests"
BASE_URL = "https://chat.example.com"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def provider_with(transport: httpx.MockTransport | None = None) -> RocketChatProvider:
    settings = RocketChatSettings(base_url=BASE_URL, user_id=USER_ID, auth_token=AUTH_TOKEN)
    return RocketChatProvider("chat", settings, make_client(settings, transport=transport))


def answering(status: int, body: Any, headers: dict[str, str] | None = None) -> RocketChatProvider:
    return provider_with(
        httpx.MockTransport(lambda request: httpx.Response(status, json=body, headers=headers))
    )


async def poll_failure(provider: RocketChatProvider) -> PollFailure:
    async with provider.client:
        with pytest.raises(PollFailure) as failure:
            await provider.poll(OPERATION)
    return failure.value


@pytest.fixture
def chat() -> RocketChatProvider:
    return provider_with()


# --- ProgressStep values ----------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    ["importer_new", "importer_uploading", "importer_downloading_file", "importer_file_loaded"],
)
def test_rocketchat_steps_before_preparing_are_pending(chat: RocketChatProvider, step: str) -> None:
    status = chat.parse(payload(f"status_{step}.json"), OPERATION)
    assert (status.state, status.raw_status) == (State.PENDING, step)


@pytest.mark.parametrize(
    "step",
    [
        "importer_preparing_started",
        "importer_preparing_users",
        "importer_preparing_channels",
        "importer_preparing_messages",
        "importer_preparing_contacts",
        "importer_importing_started",
        "importer_importing_users",
        "importer_importing_channels",
        "importer_importing_messages",
        "importer_importing_contacts",
        "importer_importing_files",
        "importer_finishing",
    ],
)
def test_rocketchat_preparing_importing_and_finishing_are_running(
    chat: RocketChatProvider, step: str
) -> None:
    status = chat.parse(payload(f"status_{step}.json"), OPERATION)
    assert (status.state, status.raw_status) == (State.RUNNING, step)


def test_rocketchat_user_selection_is_waiting_for_an_admin(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_user_selection.json"), OPERATION)
    assert status.state is State.WAITING
    assert status.message is not None and "admin" in status.message


def test_rocketchat_done_without_errors_is_succeeded(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_done.json"), OPERATION)
    assert (status.state, status.errors) == (State.SUCCEEDED, 0)


def test_rocketchat_done_with_error_count_is_partial(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_done_with_errors.json"), OPERATION)
    assert status.state is State.PARTIAL
    assert status.counts() == {"processed": 1188, "errors": 12, "total": 1200}
    assert status.message == "import done with 12 records in error"


def test_rocketchat_done_without_error_key_counts_zero_errors(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_done_without_error_count.json"), OPERATION)
    assert (status.state, status.errors) == (State.SUCCEEDED, 0)


def test_rocketchat_import_failed_is_failed(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_import_failed.json"), OPERATION)
    assert status.state is State.FAILED


def test_rocketchat_import_cancelled_is_canceled(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_import_cancelled.json"), OPERATION)
    assert status.state is State.CANCELED


def test_rocketchat_invalidated_operation_not_done_is_failed(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_invalidated_while_importing.json"), OPERATION)
    assert (status.state, status.raw_status) == (State.FAILED, "importer_importing_messages")
    assert status.message == "the operation was invalidated on the server"


def test_rocketchat_unknown_step_is_unrecognized_with_raw_status(
    chat: RocketChatProvider,
) -> None:
    with pytest.raises(PollFailure) as failure:
        chat.parse(payload("status_unknown.json"), OPERATION)
    assert failure.value.kind is FailureKind.UNRECOGNIZED
    assert failure.value.reason == "unrecognized status 'importer_reticulating_splines'"
    assert failure.value.raw_status == "importer_reticulating_splines"


def test_rocketchat_unknown_step_is_logged_as_warning(
    chat: RocketChatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(PollFailure):
        chat.parse(payload("status_unknown.json"), OPERATION)
    assert "importer_reticulating_splines" in caplog.text


# --- progress, counts and times -----------------------------------------------------


def test_rocketchat_progress_is_completed_over_total(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_importing_messages.json"), OPERATION)
    assert status.progress == pytest.approx(300 / 1200)
    assert status.counts() == {"processed": 300, "errors": 0, "total": 1200}


def test_rocketchat_no_progress_while_total_is_zero(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_new.json"), OPERATION)
    assert status.progress is None


def test_rocketchat_ts_in_epoch_ms_text_is_started_at(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_new.json"), OPERATION)
    assert status.started_at == datetime(2026, 3, 2, 6, 15, tzinfo=UTC)


def test_rocketchat_finished_at_is_the_last_update_of_a_finished_operation(
    chat: RocketChatProvider,
) -> None:
    status = chat.parse(payload("status_importer_done.json"), OPERATION)
    assert status.finished_at == datetime(2026, 3, 2, 6, 40, 12, 345000, tzinfo=UTC)


def test_rocketchat_documented_example_is_a_succeeded_operation(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("doc_current_operation.json"), "current")
    assert (status.state, status.job_id) == (State.SUCCEEDED, "7PbvsnKJD9ZAqw38C")
    assert status.started_at == datetime(2021, 10, 27, 12, 20, 34, 169000, tzinfo=UTC)
    assert status.details["type"] == "Pending Avatars"


# --- which operation ---------------------------------------------------------------


def test_rocketchat_current_learns_the_operation_id(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_new.json"), "current")
    assert status.job_id == OPERATION


def test_rocketchat_tracked_operation_keeps_its_id(chat: RocketChatProvider) -> None:
    status = chat.parse(payload("status_importer_new.json"), OPERATION)
    assert status.job_id is None  # nothing to rename
    assert status.superseded_by is None


def test_rocketchat_newer_operation_marks_the_tracked_one_superseded(
    chat: RocketChatProvider,
) -> None:
    status = chat.parse(payload("status_other_operation.json"), OPERATION)
    assert status.superseded_by == "Nw8cTg4hKpQ2xYz7B"
    assert status.message == "superseded by import operation Nw8cTg4hKpQ2xYz7B"


def test_rocketchat_no_current_operation_is_job_not_found(chat: RocketChatProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        chat.parse(payload("no_current_operation.json"), "current")
    assert failure.value.kind is FailureKind.NOT_FOUND


def test_rocketchat_operation_without_id_is_malformed(chat: RocketChatProvider) -> None:
    body = payload("status_importer_new.json")
    del body["operation"]["_id"]
    with pytest.raises(PollFailure) as failure:
        chat.parse(body, "current")
    assert failure.value.kind is FailureKind.MALFORMED


def test_rocketchat_success_false_is_rejected_with_the_error(chat: RocketChatProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        chat.parse({"success": False, "error": "Import is disabled"}, OPERATION)
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.REJECTED,
        "Import is disabled",
    )


# --- HTTP errors -----------------------------------------------------------------------


async def test_rocketchat_401_is_refused_credentials() -> None:
    failure = await poll_failure(answering(401, payload("doc_error_401.json")))
    assert failure.kind is FailureKind.AUTH


async def test_rocketchat_403_missing_permission_is_refused_credentials() -> None:
    failure = await poll_failure(answering(403, payload("doc_error_403.json")))
    assert failure.kind is FailureKind.AUTH
    assert "[error-unauthorized]" in failure.reason


async def test_rocketchat_403_saying_unauthorized_is_refused_credentials() -> None:
    failure = await poll_failure(answering(403, payload("error_403_unauthorized.json")))
    assert failure.kind is FailureKind.AUTH


async def test_rocketchat_403_not_saying_unauthorized_is_rejected() -> None:
    failure = await poll_failure(answering(403, payload("error_403_forbidden.json")))
    assert (failure.kind, failure.reason) == (
        FailureKind.REJECTED,
        "HTTP 403: Forbidden by the proxy policy",
    )


async def test_rocketchat_400_failure_is_rejected_with_the_error() -> None:
    failure = await poll_failure(answering(400, payload("error_400_failure.json")))
    assert failure.kind is FailureKind.REJECTED
    assert "error-operation-not-found" in failure.reason


async def test_rocketchat_404_means_a_wrong_base_url_not_a_missing_job() -> None:
    failure = await poll_failure(answering(404, payload("error_404_endpoint.json")))
    assert failure.kind is FailureKind.REJECTED


async def test_rocketchat_429_waits_until_x_ratelimit_reset_in_epoch_ms() -> None:
    reset_ms = str(int((time.time() + 42) * 1000))
    provider = answering(
        429, payload("error_429_too_many_requests.json"), {"X-RateLimit-Reset": reset_ms}
    )
    async with provider.client:
        with pytest.raises(Throttled) as throttled:
            await provider.poll(OPERATION)
    assert throttled.value.retry_after == pytest.approx(42, abs=2)


async def test_rocketchat_429_without_reset_header_waits_what_the_body_says() -> None:
    provider = answering(429, payload("error_429_too_many_requests.json"))
    async with provider.client:
        with pytest.raises(Throttled) as throttled:
            await provider.poll(OPERATION)
    assert throttled.value.retry_after == 37


# --- settings, the request and discovery ----------------------------------------------


def test_rocketchat_settings_default_to_4_requests_a_minute() -> None:
    settings = RocketChatSettings(base_url=BASE_URL, user_id=USER_ID, auth_token=AUTH_TOKEN)
    assert settings.max_rps == pytest.approx(4 / 60)


def test_rocketchat_settings_hide_user_id_and_token() -> None:
    settings = RocketChatSettings(base_url=BASE_URL, user_id=USER_ID, auth_token=AUTH_TOKEN)
    assert settings.secrets() == [USER_ID, AUTH_TOKEN]
    assert AUTH_TOKEN not in repr(settings) and USER_ID not in repr(settings)


async def test_rocketchat_poll_reads_the_current_operation_with_auth_headers() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payload("status_importer_new.json"))

    provider = provider_with(httpx.MockTransport(answer))
    async with provider.client:
        await provider.poll("current")
    (request,) = seen
    assert (request.method, str(request.url)) == (
        "GET",
        f"{BASE_URL}/api/v1/getCurrentImportOperation",
    )
    assert request.headers["X-User-Id"] == USER_ID
    assert request.headers["X-Auth-Token"] == AUTH_TOKEN


async def test_rocketchat_discover_returns_an_operation_begun_since() -> None:
    provider = answering(200, payload("status_importer_new.json"))
    async with provider.client:
        found = await provider.discover({}, datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    assert found == [OPERATION]


async def test_rocketchat_discover_ignores_an_operation_begun_before() -> None:
    provider = answering(200, payload("status_importer_new.json"))
    async with provider.client:
        found = await provider.discover({}, datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    assert found == []


async def test_rocketchat_discover_filters_on_the_importer_type() -> None:
    provider = answering(200, payload("status_importer_new.json"))
    since = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    async with provider.client:
        assert await provider.discover({"type": "Slack"}, since) == [OPERATION]
        assert await provider.discover({"type": "CSV"}, since) == []


async def test_rocketchat_discover_with_no_operation_finds_nothing() -> None:
    provider = answering(200, payload("no_current_operation.json"))
    async with provider.client:
        assert await provider.discover({}, datetime(2026, 1, 1, tzinfo=UTC)) == []


async def test_rocketchat_discover_refuses_an_unknown_filter() -> None:
    provider = answering(200, payload("status_importer_new.json"))
    async with provider.client:
        with pytest.raises(PollFailure) as failure:
            await provider.discover({"created_by": "x"}, datetime(2026, 1, 1, tzinfo=UTC))
    assert "unknown discover filter 'created_by'" in failure.value.reason
