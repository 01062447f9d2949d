"""Comestri: how each job object, job-list page and error maps (payloads in
tests/payloads/comestri)."""

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
from monitor.providers.base import FailureKind, PollFailure
from monitor.providers.comestri import ComestriProvider, ComestriSettings
from monitor.providers.http import make_client

PAYLOADS = Path(__file__).parent.parent / "payloads" / "comestri"
JOB = "102938"
TOKEN = "comestri-token-for-tests"
SINCE = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def provider_with(
    answer: Callable[[httpx.Request], httpx.Response] | None = None, **settings: Any
) -> ComestriProvider:
    block = ComestriSettings(token=TOKEN, **settings)
    transport = httpx.MockTransport(answer) if answer else None
    return ComestriProvider("catalog", block, make_client(block, transport=transport))


@pytest.fixture
def comestri() -> ComestriProvider:
    return provider_with()


def parsed(comestri: ComestriProvider, name: str) -> tuple[State, str]:
    status = comestri.parse(payload(name), JOB)
    return status.state, status.raw_status


# --- statuses ---------------------------------------------------------------


def test_comestri_request_received_is_pending(comestri: ComestriProvider) -> None:
    assert parsed(comestri, "status_request_received.json") == (State.PENDING, "request_received")


def test_comestri_ready_to_process_is_pending(comestri: ComestriProvider) -> None:
    assert parsed(comestri, "status_ready_to_process.json") == (State.PENDING, "ready_to_process")


def test_comestri_processing_is_running(comestri: ComestriProvider) -> None:
    assert parsed(comestri, "status_processing.json") == (State.RUNNING, "processing")


def test_comestri_complete_with_success_and_no_errors_is_succeeded(
    comestri: ComestriProvider,
) -> None:
    status = comestri.parse(payload("status_complete_success.json"), JOB)
    assert (status.state, status.raw_status, status.message) == (State.SUCCEEDED, "complete", None)


def test_comestri_complete_with_failure_result_is_partial(comestri: ComestriProvider) -> None:
    status = comestri.parse(payload("status_complete_failure_result.json"), JOB)
    assert status.state is State.PARTIAL
    assert status.message == "completed with result 'Failure' and 0 errors"


def test_comestri_complete_with_errors_is_partial(comestri: ComestriProvider) -> None:
    status = comestri.parse(payload("status_complete_with_errors.json"), JOB)
    assert status.state is State.PARTIAL
    assert status.errors == 4


def test_comestri_complete_success_without_error_count_is_succeeded(
    comestri: ComestriProvider,
) -> None:
    assert parsed(comestri, "status_complete_without_error_count.json")[0] is State.SUCCEEDED


def test_comestri_fail_to_receive_is_failed(comestri: ComestriProvider) -> None:
    assert parsed(comestri, "status_fail_to_receive.json") == (State.FAILED, "fail_to_receive")


def test_comestri_fail_to_process_is_failed_with_its_error_count(
    comestri: ComestriProvider,
) -> None:
    status = comestri.parse(payload("status_fail_to_process.json"), JOB)
    assert (status.state, status.errors) == (State.FAILED, 12)


def test_comestri_canceled_is_canceled(comestri: ComestriProvider) -> None:
    assert parsed(comestri, "status_canceled.json") == (State.CANCELED, "canceled")


def test_comestri_unknown_status_is_unrecognized_with_raw_status(
    comestri: ComestriProvider,
) -> None:
    with pytest.raises(PollFailure) as failure:
        comestri.parse(payload("status_unknown.json"), JOB)
    assert failure.value.kind is FailureKind.UNRECOGNIZED
    assert failure.value.reason == "unrecognized status 'on_hold'"
    assert failure.value.raw_status == "on_hold"


def test_comestri_unknown_status_is_logged_as_warning(
    comestri: ComestriProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(PollFailure):
        comestri.parse(payload("status_unknown.json"), JOB)
    assert "on_hold" in caplog.text


def test_comestri_job_without_status_is_malformed(comestri: ComestriProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        comestri.parse({"id": JOB, "percent_completed": 0.5}, JOB)
    assert failure.value.kind is FailureKind.MALFORMED


# --- progress, counts, times ------------------------------------------------------


def test_comestri_percent_completed_is_a_fraction(comestri: ComestriProvider) -> None:
    assert comestri.parse(payload("status_processing.json"), JOB).progress == 0.35


def test_comestri_percent_completed_of_one_is_done(comestri: ComestriProvider) -> None:
    assert comestri.parse(payload("status_complete_success.json"), JOB).progress == 1.0


def test_comestri_percent_completed_above_one_is_not_a_progress(
    comestri: ComestriProvider,
) -> None:
    body = {**payload("status_processing.json"), "percent_completed": 35}
    assert comestri.parse(body, JOB).progress is None


def test_comestri_error_count_is_the_only_count(comestri: ComestriProvider) -> None:
    status = comestri.parse(payload("status_complete_with_errors.json"), JOB)
    assert status.counts() == {"errors": 4}


def test_comestri_created_time_with_offset_is_started_at_in_utc(
    comestri: ComestriProvider,
) -> None:
    status = comestri.parse(payload("status_processing.json"), JOB)
    assert status.started_at == datetime(2026, 3, 2, 6, 15, tzinfo=UTC)


def test_comestri_completed_time_is_finished_at_of_a_terminal_job(
    comestri: ComestriProvider,
) -> None:
    status = comestri.parse(payload("status_complete_success.json"), JOB)
    assert status.finished_at == datetime(2026, 3, 2, 6, 42, 10, tzinfo=UTC)


def test_comestri_running_job_has_no_finished_at(comestri: ComestriProvider) -> None:
    body = {**payload("status_processing.json"), "completed_time": "2026-03-02T17:42:10+11:00"}
    assert comestri.parse(body, JOB).finished_at is None


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "2026-02-30T10:00:00Z"]
)
def test_comestri_a_time_that_is_no_utc_time_is_unknown_not_a_failed_poll(
    comestri: ComestriProvider, moment: str
) -> None:
    """A valid-looking timestamp whose UTC time does not exist (before year 1
    or after 9999 once the offset is applied) leaves the time unknown; the
    status is still read."""
    body = {**payload("status_complete_success.json"), "created_time": moment}
    status = comestri.parse(body, JOB)
    assert status.state == State.SUCCEEDED and status.started_at is None


# --- settings, headers and HTTP statuses ---------------------------------------------


def test_comestri_settings_hide_the_token() -> None:
    settings = ComestriSettings(token=TOKEN)
    assert settings.secrets() == [TOKEN]
    assert TOKEN not in repr(settings)


async def poll_seen(**settings: Any) -> httpx.Request:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payload("status_processing.json"))

    comestri = provider_with(answer, **settings)
    async with comestri.client:
        await comestri.poll(JOB)
    return seen[0]


async def test_comestri_polls_get_jobs_id_with_a_bearer_token() -> None:
    request = await poll_seen()
    assert (request.method, str(request.url)) == (
        "GET",
        f"https://product.comestri.com/api/v2/jobs/{JOB}",
    )
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_comestri_legacy_token_is_sent_with_its_email() -> None:
    request = await poll_seen(email="ops@example.com")
    assert request.headers["Authorization"] == f"Token token={TOKEN},email=ops@example.com"


async def failure_for(status: int, body: str) -> PollFailure:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=payload(body))

    comestri = provider_with(answer)
    async with comestri.client:
        with pytest.raises(PollFailure) as failure:
            await comestri.poll(JOB)
    return failure.value


async def test_comestri_401_is_refused_credentials() -> None:
    assert (await failure_for(401, "error_401.json")).kind is FailureKind.AUTH


async def test_comestri_403_is_refused_credentials() -> None:
    assert (await failure_for(403, "error_403.json")).kind is FailureKind.AUTH


async def test_comestri_404_is_job_not_found() -> None:
    assert (await failure_for(404, "error_404.json")).kind is FailureKind.NOT_FOUND


async def test_comestri_422_is_a_failed_poll_with_the_vendor_words() -> None:
    failure = await failure_for(422, "error_422.json")
    assert failure.kind is FailureKind.REJECTED
    assert failure.reason == "HTTP 422: created_time_from is not a valid time"


async def test_comestri_500_is_a_server_error() -> None:
    assert (await failure_for(500, "error_500.json")).kind is FailureKind.SERVER_ERROR


# --- discovery ---------------------------------------------------------------


def pages(*names: str) -> tuple[list[httpx.Request], Callable[[httpx.Request], httpx.Response]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = int(request.url.params["page"])
        return httpx.Response(200, json=payload(names[page - 1]))

    return seen, answer


async def test_comestri_discovery_walks_every_page() -> None:
    seen, answer = pages("list_page_1_of_2.json", "list_page_2_of_2.json")
    comestri = provider_with(answer)
    async with comestri.client:
        found = await comestri.discover({}, since=SINCE)
    assert found == ["102938", "102939", "102940"]
    assert [r.url.params["page"] for r in seen] == ["1", "2"]


async def test_comestri_discovery_passes_filters_through() -> None:
    seen, answer = pages("list_empty.json")
    comestri = provider_with(answer)
    async with comestri.client:
        await comestri.discover({"created_by": "etl@example.com", "entity": "orders"}, since=SINCE)
    params = seen[0].url.params
    assert (params["created_by"], params["entity"]) == ("etl@example.com", "orders")


async def test_comestri_discovery_lists_jobs_created_since_the_watch_began() -> None:
    seen, answer = pages("list_empty.json")
    comestri = provider_with(answer)
    async with comestri.client:
        await comestri.discover({}, since=SINCE)
    assert seen[0].url.params["created_time_from"] == "2026-03-02T06:00:00+00:00"
    assert seen[0].url.params["per_page"] == "50"


async def test_comestri_discovery_filter_overrides_created_time_from() -> None:
    seen, answer = pages("list_empty.json")
    comestri = provider_with(answer)
    async with comestri.client:
        await comestri.discover({"created_time_from": "2026-01-01T00:00:00Z"}, since=SINCE)
    assert seen[0].url.params["created_time_from"] == "2026-01-01T00:00:00Z"


async def test_comestri_discovery_of_an_empty_list_is_no_jobs() -> None:
    seen, answer = pages("list_empty.json")
    comestri = provider_with(answer)
    async with comestri.client:
        assert await comestri.discover({}, since=SINCE) == []
    assert len(seen) == 1


async def test_comestri_discovery_skips_jobs_created_before_the_watch_began() -> None:
    # A list that ignored created_time_from must not bring every past job in.
    # The jobs were created at 06:15, 06:20 and 06:25 UTC; 5 minutes of slack
    # are allowed for the vendor's clock.
    late = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
    _, answer = pages("list_page_1_of_2.json", "list_page_2_of_2.json")
    comestri = provider_with(answer)
    async with comestri.client:
        assert await comestri.discover({}, since=late) == ["102940"]


async def test_comestri_discovery_of_a_malformed_list_fails() -> None:
    comestri = provider_with(lambda request: httpx.Response(200, json={"jobs": []}))
    async with comestri.client:
        with pytest.raises(PollFailure) as failure:
            await comestri.discover({}, since=SINCE)
    assert failure.value.kind is FailureKind.MALFORMED


async def test_comestri_discovery_with_a_refused_token_is_refused_credentials() -> None:
    comestri = provider_with(lambda request: httpx.Response(401, json=payload("error_401.json")))
    async with comestri.client:
        with pytest.raises(PollFailure) as failure:
            await comestri.discover({}, since=SINCE)
    assert failure.value.kind is FailureKind.AUTH
