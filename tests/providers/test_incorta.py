"""Incorta: how each load plan status tree maps (payloads in tests/payloads/incorta)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure
from monitor.providers.http import make_client
from monitor.providers.incorta import IncortaProvider, IncortaSettings

PAYLOADS = Path(__file__).parent.parent / "payloads" / "incorta"
EXECUTION = "23"
TOKEN = "incorta-token-for-tests"
BASE_URL = "https://my-cluster.cloud.incorta.com/incorta"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def settings(**changes: Any) -> IncortaSettings:
    return IncortaSettings(base_url=BASE_URL, tenant="Default", token=TOKEN, **changes)


def provider_with(transport: httpx.MockTransport | None = None, **changes: Any) -> IncortaProvider:
    block = settings(**changes)
    return IncortaProvider("bi", block, make_client(block, transport=transport))


def answering(status: int, body: Any) -> IncortaProvider:
    return provider_with(httpx.MockTransport(lambda request: httpx.Response(status, json=body)))


async def poll_failure(provider: IncortaProvider) -> PollFailure:
    async with provider.client:
        with pytest.raises(PollFailure) as failure:
            await provider.poll(EXECUTION)
    return failure.value


@pytest.fixture
def incorta() -> IncortaProvider:
    return provider_with()


# --- stateType and jobStatus -----------------------------------------------------------


@pytest.mark.parametrize("name", ["level1_plan_in_progress.json", "level1_plan_in_queue.json"])
def test_incorta_load_state_is_running_whatever_the_words(
    incorta: IncortaProvider, name: str
) -> None:
    status = incorta.parse(payload(name), EXECUTION)
    assert status.state is State.RUNNING
    assert status.raw_status == payload(name)["status"]["jobStatus"]


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("level1_plan_succeeded.json", State.SUCCEEDED),
        ("level1_plan_success.json", State.SUCCEEDED),
        ("level1_plan_finished.json", State.SUCCEEDED),
        ("level1_plan_finished_with_errors.json", State.PARTIAL),
        ("level1_plan_failed.json", State.FAILED),
        ("level1_plan_aborted.json", State.FAILED),
        ("level1_plan_interrupted.json", State.FAILED),
        ("level1_plan_canceled.json", State.CANCELED),
        ("level1_plan_cancelled_upper.json", State.CANCELED),
    ],
)
def test_incorta_finished_plan_outcome_comes_from_job_status(
    incorta: IncortaProvider, name: str, state: State
) -> None:
    assert incorta.parse(payload(name), EXECUTION).state is state


def test_incorta_finished_with_errors_is_partial_not_succeeded(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level1_plan_finished_with_errors.json"), EXECUTION)
    assert (status.state, status.raw_status) == (State.PARTIAL, "Finished with Errors")


def test_incorta_unknown_word_on_a_finished_plan_is_unrecognized(
    incorta: IncortaProvider,
) -> None:
    with pytest.raises(PollFailure) as failure:
        incorta.parse(payload("level1_plan_unknown_finished_word.json"), EXECUTION)
    assert failure.value.kind is FailureKind.UNRECOGNIZED
    assert failure.value.reason == "unrecognized status 'Skipped'"
    assert failure.value.raw_status == "Skipped"


def test_incorta_unknown_state_type_is_unrecognized(incorta: IncortaProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        incorta.parse(payload("level1_plan_unknown_state_type.json"), EXECUTION)
    assert failure.value.kind is FailureKind.UNRECOGNIZED


def test_incorta_unknown_word_is_logged_as_warning(
    incorta: IncortaProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(PollFailure):
        incorta.parse(payload("level1_plan_unknown_finished_word.json"), EXECUTION)
    assert "Skipped" in caplog.text and "status_map" in caplog.text


def test_incorta_plan_without_status_is_malformed(incorta: IncortaProvider) -> None:
    with pytest.raises(PollFailure) as failure:
        incorta.parse({"name": "Nightly", "type": "Load Plan"}, EXECUTION)
    assert failure.value.kind is FailureKind.MALFORMED


# --- status_map --------------------------------------------------------------------------


def test_incorta_status_map_names_a_word_the_rules_do_not_know() -> None:
    mapped = provider_with(status_map={"Completed OK": "succeeded"})
    status = mapped.parse(payload("level1_plan_completed_ok.json"), EXECUTION)
    assert (status.state, status.raw_status) == (State.SUCCEEDED, "Completed OK")


def test_incorta_status_map_is_matched_without_case() -> None:
    mapped = provider_with(status_map={"skipped": "canceled"})
    status = mapped.parse(payload("level1_plan_unknown_finished_word.json"), EXECUTION)
    assert status.state is State.CANCELED


def test_incorta_status_map_comes_before_the_built_in_rules() -> None:
    mapped = provider_with(status_map={"Finished with Errors": "failed"})
    status = mapped.parse(payload("level1_plan_finished_with_errors.json"), EXECUTION)
    assert status.state is State.FAILED


def test_incorta_status_map_can_make_a_queued_plan_pending() -> None:
    mapped = provider_with(status_map={"In Queue": "pending"})
    status = mapped.parse(payload("level1_plan_in_queue.json"), EXECUTION)
    assert status.state is State.PENDING


def test_incorta_status_map_cannot_end_a_plan_still_loading() -> None:
    mapped = provider_with(status_map={"In Progress": "succeeded"})
    status = mapped.parse(payload("level1_plan_in_progress.json"), EXECUTION)
    assert status.state is State.RUNNING


def test_incorta_status_map_exact_phrase_wins_over_a_contained_word() -> None:
    mapped = provider_with(status_map={"errors": "failed", "finished with errors": "partial"})
    status = mapped.parse(payload("level1_plan_finished_with_errors.json"), EXECUTION)
    assert status.state is State.PARTIAL


def test_incorta_status_map_refuses_an_unknown_state_name() -> None:
    with pytest.raises(ValidationError) as error:
        settings(status_map={"Completed OK": "done"})
    assert "'done' is not a state" in str(error.value)


def test_incorta_status_map_refuses_unknown_as_a_state() -> None:
    with pytest.raises(ValidationError):
        settings(status_map={"Completed OK": "unknown"})


# --- children --------------------------------------------------------------------------


def test_incorta_failed_tables_are_named_as_paths(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level4_finished_with_errors.json"), EXECUTION)
    assert status.children == (
        "Group 1 / OnlineStore / OnlineStore.productmodel: Failed",
        "Group 2 / Sales / Sales.order_lines: Interrupted",
    )


def test_incorta_succeeded_plan_names_no_children(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level4_succeeded.json"), EXECUTION)
    assert (status.state, status.children) == (State.SUCCEEDED, ())


def test_incorta_level_2_names_the_failed_group(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level2_failed.json"), EXECUTION)
    assert status.children == ("Group 2: Failed",)


def test_incorta_level_3_names_the_schema_with_errors(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level3_finished_with_errors.json"), EXECUTION)
    assert status.children == ("Group 1 / OnlineStore: Finished with Errors",)


def test_incorta_child_with_an_unknown_word_is_named(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level4_aborted_with_unknown_child.json"), EXECUTION)
    assert status.children == ("Group 1 / OnlineStore / OnlineStore.customers: Skipped",)


def test_incorta_running_plan_names_no_children(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level4_in_progress.json"), EXECUTION)
    assert status.children == ()


def test_incorta_running_progress_is_the_share_of_objects_over(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level4_in_progress.json"), EXECUTION)
    assert status.progress == pytest.approx(3 / 5)


def test_incorta_level_1_has_no_progress(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level1_plan_in_progress.json"), EXECUTION)
    assert status.progress is None


def test_incorta_plan_name_and_state_type_are_kept(incorta: IncortaProvider) -> None:
    status = incorta.parse(payload("level1_plan_succeeded.json"), EXECUTION)
    assert status.details == {"stateType": "Terminator State", "plan": "Nightly"}


# --- errors -------------------------------------------------------------------------------


async def test_incorta_401_is_refused_credentials_with_the_message() -> None:
    failure = await poll_failure(answering(401, payload("error_401.json")))
    assert failure.kind is FailureKind.AUTH
    assert "INC_03070101: Invalid or expired access token." in failure.reason


async def test_incorta_404_is_job_not_found() -> None:
    failure = await poll_failure(answering(404, payload("error_404.json")))
    assert failure.kind is FailureKind.NOT_FOUND
    assert "INC_05290504" in failure.reason


async def test_incorta_400_is_a_failed_poll_with_the_message() -> None:
    failure = await poll_failure(answering(400, payload("doc_error_400.json")))
    assert failure.kind is FailureKind.REJECTED
    assert failure.reason.startswith("HTTP 400: INC_05290501: A load job cannot be started")


async def test_incorta_422_is_a_failed_poll_with_the_message() -> None:
    failure = await poll_failure(answering(422, payload("error_422.json")))
    assert failure.kind is FailureKind.REJECTED
    assert "INC_05290505" in failure.reason


async def test_incorta_500_is_a_server_error_with_the_message() -> None:
    failure = await poll_failure(answering(500, payload("error_500.json")))
    assert failure.kind is FailureKind.SERVER_ERROR
    assert "INC_00000000: Internal server error" in failure.reason


# --- settings and the request ----------------------------------------------------------


def test_incorta_level_defaults_to_4() -> None:
    assert settings().level == 4


@pytest.mark.parametrize("level", [0, 5])
def test_incorta_level_outside_1_to_4_is_refused(level: int) -> None:
    with pytest.raises(ValidationError):
        settings(level=level)


def test_incorta_settings_hide_the_token() -> None:
    block = settings()
    assert block.secrets() == [TOKEN]
    assert TOKEN not in repr(block)


async def test_incorta_poll_gets_the_tenant_status_path_with_level_and_bearer() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payload("level1_plan_in_progress.json"))

    provider = provider_with(httpx.MockTransport(answer), level=2)
    async with provider.client:
        await provider.poll(EXECUTION)
    (request,) = seen
    assert str(request.url) == f"{BASE_URL}/api/v2/Default/load-plan/status/23?level=2"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
