"""KPA Flex: how each `dataload.info` answer maps (payloads in tests/payloads/kpa_flex)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure, Throttled
from monitor.providers.http import make_client
from monitor.providers.kpa_flex import KpaFlexProvider, KpaFlexSettings

PAYLOADS = Path(__file__).parent.parent / "payloads" / "kpa_flex"
JOB = "5804f0f30ef50473af5870c6"
TOKEN = "kpa-token-for-tests"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def provider_with(transport: httpx.MockTransport | None = None) -> KpaFlexProvider:
    settings = KpaFlexSettings(token=TOKEN)
    return KpaFlexProvider("hr", settings, make_client(settings, transport=transport))


@pytest.fixture
def kpa() -> KpaFlexProvider:
    return provider_with()


# --- statuses ---------------------------------------------------------------


def test_kpa_dataload_status_is_pending(kpa: KpaFlexProvider) -> None:
    status = kpa.parse(payload("status_dataload.json"), JOB)
    assert (status.state, status.raw_status) == (State.PENDING, "dataload")


def test_kpa_dataloading_status_is_running(kpa: KpaFlexProvider) -> None:
    status = kpa.parse(payload("status_dataloading.json"), JOB)
    assert (status.state, status.raw_status) == (State.RUNNING, "dataloading")


def test_kpa_dataloaded_status_is_succeeded(kpa: KpaFlexProvider) -> None:
    status = kpa.parse(payload("status_dataloaded.json"), JOB)
    assert (status.state, status.raw_status) == (State.SUCCEEDED, "dataloaded")
    assert status.message is None


def test_kpa_error_status_is_failed_with_history(kpa: KpaFlexProvider) -> None:
    body = payload("status_error.json")
    status = kpa.parse(body, JOB)
    assert status.state is State.FAILED
    assert status.details["history"] == body["dataload"]["history"]


def test_kpa_history_is_kept_unparsed_in_details(kpa: KpaFlexProvider) -> None:
    body = payload("status_dataloading.json")
    status = kpa.parse(body, JOB)
    assert status.details == {"history": body["dataload"]["history"]}


def test_kpa_created_epoch_ms_is_started_at_in_utc(kpa: KpaFlexProvider) -> None:
    status = kpa.parse(payload("status_dataload.json"), JOB)
    assert status.started_at == datetime(2026, 3, 2, 6, 15, tzinfo=UTC)


def test_kpa_reports_no_progress_or_counts(kpa: KpaFlexProvider) -> None:
    status = kpa.parse(payload("status_dataloaded.json"), JOB)
    assert status.progress is None
    assert status.counts() == {}


def test_kpa_unknown_status_is_unrecognized_with_raw_status(kpa: KpaFlexProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        kpa.parse(payload("status_unknown.json"), JOB)
    assert failure.value.kind is FailureKind.UNRECOGNIZED
    assert failure.value.reason == "unrecognized status 'dataqueued'"
    assert failure.value.raw_status == "dataqueued"


def test_kpa_unknown_status_is_logged_as_warning(
    kpa: KpaFlexProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(PollFailure):
        kpa.parse(payload("status_unknown.json"), JOB)
    assert "dataqueued" in caplog.text


# --- error envelopes ----------------------------------------------------------


def test_kpa_rate_limit_exceeded_pauses_at_least_60_seconds(kpa: KpaFlexProvider) -> None:
    with pytest.raises(Throttled) as throttled:
        kpa.parse(payload("error_rate_limit_exceeded.json"), JOB)
    assert throttled.value.retry_after is not None
    assert throttled.value.retry_after >= 60


def test_kpa_server_error_is_a_server_failure(kpa: KpaFlexProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        kpa.parse(payload("error_server_error.json"), JOB)
    assert failure.value.kind is FailureKind.SERVER_ERROR


@pytest.mark.parametrize(
    "identifier",
    ["token_missing", "token_invalid", "token_inactive", "token_permission", "account_inactive"],
)
def test_kpa_token_and_account_errors_are_refused_credentials(
    kpa: KpaFlexProvider, identifier: str
) -> None:
    with pytest.raises(PollFailure) as failure:
        kpa.parse(payload(f"error_{identifier}.json"), JOB)
    assert failure.value.kind is FailureKind.AUTH
    assert identifier in failure.value.reason


def test_kpa_content_not_found_is_job_not_found(kpa: KpaFlexProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        kpa.parse(payload("error_content_not_found.json"), JOB)
    assert failure.value.kind is FailureKind.NOT_FOUND


def test_kpa_parameter_error_is_rejected_with_identifier_and_description(
    kpa: KpaFlexProvider,
) -> None:
    with pytest.raises(PollFailure) as failure:
        kpa.parse(payload("error_parameter_missing.json"), JOB)
    assert failure.value.kind is FailureKind.REJECTED
    assert failure.value.reason == "parameter_missing: Missing parameter: id"


def test_kpa_api_method_not_found_is_rejected(kpa: KpaFlexProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        kpa.parse(payload("error_api_method_not_found.json"), JOB)
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.REJECTED,
        "api_method_not_found",
    )


def test_kpa_unknown_error_identifier_is_rejected_and_logged(
    kpa: KpaFlexProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(PollFailure) as failure:
        kpa.parse(payload("error_unheard_of_error.json"), JOB)
    assert (failure.value.kind, failure.value.reason) == (FailureKind.REJECTED, "unheard_of_error")
    assert "unheard_of_error" in caplog.text


def test_kpa_envelope_without_ok_is_malformed(kpa: KpaFlexProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        kpa.parse({"dataload": {"status": "dataload"}}, JOB)
    assert failure.value.kind is FailureKind.MALFORMED


# --- settings and the request ---------------------------------------------------


def test_kpa_settings_default_to_20_requests_a_minute() -> None:
    assert KpaFlexSettings(token=TOKEN).max_rps == pytest.approx(20 / 60)


def test_kpa_settings_hide_the_token() -> None:
    settings = KpaFlexSettings(token=TOKEN)
    assert settings.secrets() == [TOKEN]
    assert TOKEN not in repr(settings)


async def test_kpa_poll_posts_the_token_in_the_body_never_the_url() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payload("status_dataload.json"))

    kpa = provider_with(httpx.MockTransport(answer))
    async with kpa.client:
        await kpa.poll(JOB)
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://api.kpaehs.com/v1/dataload.info"
    assert json.loads(request.content) == {"token": TOKEN, "id": JOB}


async def test_kpa_http_404_means_a_wrong_base_url_not_a_missing_job() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(404, text="Not Found"))
    kpa = provider_with(transport)
    async with kpa.client:
        with pytest.raises(PollFailure) as failure:
            await kpa.poll(JOB)
    assert failure.value.kind is FailureKind.REJECTED
    assert failure.value.reason == "HTTP 404"


async def test_kpa_html_page_instead_of_json_is_malformed() -> None:
    page = (PAYLOADS / "html_error_page.html").read_text()
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, text=page, headers={"Content-Type": "text/html"})
    )
    kpa = provider_with(transport)
    async with kpa.client:
        with pytest.raises(PollFailure) as failure:
            await kpa.poll(JOB)
    assert failure.value.reason == "malformed payload: HTML page instead of JSON (HTTP 200)"
