"""http_json expresses real job APIs: KPA Flex and FullStory with the same
outcomes as the built-in providers, and Salesforce Bulk API 2.0, Airbyte and
Zendesk job statuses through the example configs in examples/http_json/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.config import load_config
from monitor.domain import JobStatus, State
from monitor.providers.base import FailureKind, PollFailure, Provider, Throttled
from monitor.providers.http import make_client
from monitor.providers.http_json import HttpJsonProvider, job_request
from monitor.providers.kpa_flex import KpaFlexProvider, KpaFlexSettings
from monitor.providers.registry import UnknownProviderType, provider_class

ROOT = Path(__file__).parent.parent.parent
PAYLOADS = ROOT / "tests" / "payloads"
MAPPINGS = PAYLOADS / "http_json"
EXAMPLES = ROOT / "examples" / "http_json"
ENVIRON = {
    "KPA_TOKEN": "kpa-token-for-http-json",
    "FULLSTORY_KEY": "fullstory-key-for-http-json",
    "SALESFORCE_INSTANCE": "acme",
    "SALESFORCE_TOKEN": "00D5g000004Sk!AQ4AQ-example-token",
    "AIRBYTE_TOKEN": "airbyte-token-for-tests",
    "ZENDESK_SUBDOMAIN": "acme",
    "ZENDESK_BASIC": "b3BzQGV4YW1wbGUuY29tL3Rva2VuOnNlY3JldA==",
}
KPA_JOB = "5804f0f30ef50473af5870c6"


def provider_from(path: Path, name: str, transport: Any = None) -> HttpJsonProvider:
    settings = load_config(path, environ=ENVIRON).providers[name]
    return HttpJsonProvider(name, settings, make_client(settings, transport=transport))


def payload(folder: str, name: str) -> Any:
    return json.loads((PAYLOADS / folder / name).read_text())


def outcome(provider: Provider, body: Any, job_id: str) -> tuple[Any, ...]:
    """What a poll of `body` comes to, in terms both providers share."""
    try:
        status = provider.parse(body, job_id)
    except PollFailure as failure:
        return ("failure", failure.kind, failure.reason, failure.raw_status)
    except Throttled as throttled:
        return ("throttled", throttled.reason, throttled.retry_after)
    return ("status", _facts(status))


def _facts(status: JobStatus) -> tuple[Any, ...]:
    return (
        status.state,
        status.raw_status,
        status.progress,
        status.counts(),
        status.message,
        status.children,
        status.started_at,
        status.finished_at,
        status.details,
    )


# --- KPA Flex ------------------------------------------------------------------------


@pytest.fixture
def kpa_as_http_json() -> HttpJsonProvider:
    return provider_from(MAPPINGS / "kpa_flex.yaml", "hr")


@pytest.mark.parametrize(
    "name", sorted(path.name for path in (PAYLOADS / "kpa_flex").glob("*.json")), ids=str
)
def test_http_json_kpa_maps_every_payload_as_the_built_in_provider(
    kpa_as_http_json: HttpJsonProvider, name: str
) -> None:
    settings = KpaFlexSettings(token=ENVIRON["KPA_TOKEN"])
    built_in = KpaFlexProvider("hr", settings, make_client(settings))
    body = payload("kpa_flex", name)
    assert outcome(kpa_as_http_json, body, KPA_JOB) == outcome(built_in, body, KPA_JOB)


def test_http_json_kpa_posts_the_token_in_the_body(kpa_as_http_json: HttpJsonProvider) -> None:
    asked = job_request(kpa_as_http_json.settings, KPA_JOB)
    assert (asked.method, asked.url) == ("POST", "https://api.kpaehs.com/v1/dataload.info")
    assert asked.body == {"token": ENVIRON["KPA_TOKEN"], "id": KPA_JOB}
    assert ENVIRON["KPA_TOKEN"] not in asked.url


def test_http_json_kpa_ok_false_is_an_error_not_a_status(
    kpa_as_http_json: HttpJsonProvider,
) -> None:
    with pytest.raises(PollFailure) as failure:
        kpa_as_http_json.parse(payload("kpa_flex", "error_token_invalid.json"), KPA_JOB)
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.AUTH,
        "credentials refused (token_invalid: The token is not valid)",
    )


def test_http_json_kpa_envelope_without_ok_is_malformed(
    kpa_as_http_json: HttpJsonProvider,
) -> None:
    with pytest.raises(PollFailure) as failure:
        kpa_as_http_json.parse({"dataload": {"status": "dataload"}}, KPA_JOB)
    assert failure.value.kind is FailureKind.MALFORMED


# --- FullStory -------------------------------------------------------------------------

FULLSTORY_JOB = "b3c5a1e2-7d4f-4c1e-9a0b-5f2d8e6c4a10"


@pytest.fixture
def fullstory_as_http_json() -> HttpJsonProvider:
    return provider_from(MAPPINGS / "fullstory.yaml", "product-events")


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("processing.json", State.RUNNING),
        ("completed.json", State.SUCCEEDED),
        ("failed_with_imports.json", State.PARTIAL),
        ("failed_without_imports.json", State.FAILED),
        ("completed_without_job_id.json", State.SUCCEEDED),
    ],
)
def test_http_json_fullstory_states(
    fullstory_as_http_json: HttpJsonProvider, name: str, state: State
) -> None:
    status = fullstory_as_http_json.parse(payload("http_json/fullstory", name), FULLSTORY_JOB)
    assert status.state is state


def test_http_json_fullstory_failed_with_imports_is_partial_with_counts(
    fullstory_as_http_json: HttpJsonProvider,
) -> None:
    body = payload("http_json/fullstory", "failed_with_imports.json")
    status = fullstory_as_http_json.parse(body, FULLSTORY_JOB)
    assert (status.state, status.raw_status) == (State.PARTIAL, "FAILED")
    assert status.counts() == {"processed": 1187, "errors": 13}


def test_http_json_fullstory_absent_errors_count_as_zero(
    fullstory_as_http_json: HttpJsonProvider,
) -> None:
    status = fullstory_as_http_json.parse(
        payload("http_json/fullstory", "completed.json"), FULLSTORY_JOB
    )
    assert status.counts() == {"processed": 1200, "errors": 0}


def test_http_json_fullstory_unknown_status_is_unrecognized(
    fullstory_as_http_json: HttpJsonProvider,
) -> None:
    with pytest.raises(PollFailure) as failure:
        fullstory_as_http_json.parse(
            payload("http_json/fullstory", "unknown_status.json"), FULLSTORY_JOB
        )
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.UNRECOGNIZED,
        "unrecognized status 'QUEUED'",
    )


def test_http_json_fullstory_sends_the_raw_key_after_basic(
    fullstory_as_http_json: HttpJsonProvider,
) -> None:
    asked = job_request(fullstory_as_http_json.settings, FULLSTORY_JOB)
    assert asked.url == f"https://api.fullstory.com/v2/events/batch/{FULLSTORY_JOB}"
    assert asked.headers == {"Authorization": f"Basic {ENVIRON['FULLSTORY_KEY']}"}


async def test_http_json_fullstory_401_is_refused_credentials() -> None:
    body = payload("http_json/fullstory", "error_unauthorized.json")
    transport = httpx.MockTransport(lambda request: httpx.Response(401, json=body))
    fullstory = provider_from(MAPPINGS / "fullstory.yaml", "product-events", transport)
    async with fullstory.client:
        with pytest.raises(PollFailure) as failure:
            await fullstory.poll(FULLSTORY_JOB)
    assert failure.value.kind is FailureKind.AUTH


@pytest.mark.parametrize(
    "name", sorted(path.name for path in (MAPPINGS / "fullstory").glob("[!e]*.json"))
)
def test_http_json_fullstory_matches_the_built_in_provider(
    fullstory_as_http_json: HttpJsonProvider, name: str
) -> None:
    try:
        cls = provider_class("fullstory")
    except (UnknownProviderType, ImportError):
        pytest.skip("the built-in fullstory provider is not there yet")
    settings = cls.settings_model.model_validate(
        {"type": "fullstory", "api_key": ENVIRON["FULLSTORY_KEY"]}
    )
    built_in = cls("product-events", settings, make_client(settings))
    body = payload("http_json/fullstory", name)
    assert outcome(fullstory_as_http_json, body, FULLSTORY_JOB) == outcome(
        built_in, body, FULLSTORY_JOB
    )


# --- Salesforce Bulk API 2.0 -----------------------------------------------------------

SALESFORCE_JOB = "7505g00000Jk2PqAAJ"


@pytest.fixture
def salesforce() -> HttpJsonProvider:
    return provider_from(EXAMPLES / "salesforce-bulk2.yaml", "salesforce")


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("open.json", State.WAITING),
        ("upload_complete.json", State.RUNNING),
        ("in_progress.json", State.RUNNING),
        ("job_complete.json", State.SUCCEEDED),
        ("job_complete_with_failures.json", State.PARTIAL),
        ("failed.json", State.FAILED),
        ("aborted.json", State.CANCELED),
    ],
)
def test_salesforce_bulk2_job_states(salesforce: HttpJsonProvider, name: str, state: State) -> None:
    body = payload("http_json/salesforce_bulk2", name)
    status = salesforce.parse(body, SALESFORCE_JOB)
    assert (status.state, status.raw_status) == (state, body["state"])


def test_salesforce_bulk2_job_complete_with_failed_records_is_partial_with_counts(
    salesforce: HttpJsonProvider,
) -> None:
    body = payload("http_json/salesforce_bulk2", "job_complete_with_failures.json")
    status = salesforce.parse(body, SALESFORCE_JOB)
    assert status.state is State.PARTIAL
    assert status.counts() == {"processed": 10000, "errors": 37}


def test_salesforce_bulk2_failed_job_says_why(salesforce: HttpJsonProvider) -> None:
    status = salesforce.parse(payload("http_json/salesforce_bulk2", "failed.json"), SALESFORCE_JOB)
    assert status.message == "InvalidBatch : Field name not found : Acount_Number__c"


def test_salesforce_bulk2_finish_time_only_once_ended(salesforce: HttpJsonProvider) -> None:
    running = salesforce.parse(
        payload("http_json/salesforce_bulk2", "in_progress.json"), SALESFORCE_JOB
    )
    ended = salesforce.parse(
        payload("http_json/salesforce_bulk2", "job_complete.json"), SALESFORCE_JOB
    )
    assert running.finished_at is None
    assert ended.finished_at is not None and ended.finished_at.isoformat().startswith(
        "2026-03-02T06:19:04"
    )


async def test_salesforce_bulk2_404_is_job_not_found() -> None:
    body = payload("http_json/salesforce_bulk2", "error_not_found.json")
    transport = httpx.MockTransport(lambda request: httpx.Response(404, json=body))
    salesforce = provider_from(EXAMPLES / "salesforce-bulk2.yaml", "salesforce", transport)
    async with salesforce.client:
        with pytest.raises(PollFailure) as failure:
            await salesforce.poll(SALESFORCE_JOB)
    assert failure.value.kind is FailureKind.NOT_FOUND


async def test_salesforce_bulk2_expired_session_is_refused_credentials() -> None:
    body = payload("http_json/salesforce_bulk2", "error_invalid_session.json")
    transport = httpx.MockTransport(lambda request: httpx.Response(401, json=body))
    salesforce = provider_from(EXAMPLES / "salesforce-bulk2.yaml", "salesforce", transport)
    async with salesforce.client:
        with pytest.raises(PollFailure) as failure:
            await salesforce.poll(SALESFORCE_JOB)
    assert failure.value.kind is FailureKind.AUTH


# --- Airbyte ------------------------------------------------------------------------------


@pytest.fixture
def airbyte() -> HttpJsonProvider:
    return provider_from(EXAMPLES / "airbyte.yaml", "airbyte")


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("pending.json", State.PENDING),
        ("running.json", State.RUNNING),
        ("incomplete.json", State.RUNNING),
        ("succeeded.json", State.SUCCEEDED),
        ("failed.json", State.FAILED),
        ("cancelled.json", State.CANCELED),
    ],
)
def test_airbyte_job_statuses(airbyte: HttpJsonProvider, name: str, state: State) -> None:
    body = payload("http_json/airbyte", name)
    status = airbyte.parse(body, "4242")
    assert (status.state, status.raw_status) == (state, body["status"])


def test_airbyte_rows_synced_are_the_processed_count(airbyte: HttpJsonProvider) -> None:
    status = airbyte.parse(payload("http_json/airbyte", "succeeded.json"), "4242")
    assert status.counts() == {"processed": 54000}
    assert status.details == {"bytes_synced": 15728640, "duration": "PT6M12S"}


async def test_airbyte_404_is_job_not_found() -> None:
    body = payload("http_json/airbyte", "error_not_found.json")
    transport = httpx.MockTransport(lambda request: httpx.Response(404, json=body))
    airbyte = provider_from(EXAMPLES / "airbyte.yaml", "airbyte", transport)
    async with airbyte.client:
        with pytest.raises(PollFailure) as failure:
            await airbyte.poll("4242")
    assert failure.value.kind is FailureKind.NOT_FOUND


# --- Zendesk job statuses ------------------------------------------------------------------

ZENDESK_JOB = "8b726e606741012ffc2d782bcb7848fe"


@pytest.fixture
def zendesk() -> HttpJsonProvider:
    return provider_from(EXAMPLES / "zendesk.yaml", "zendesk")


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("queued.json", State.PENDING),
        ("working.json", State.RUNNING),
        ("completed.json", State.SUCCEEDED),
        ("completed_with_failures.json", State.PARTIAL),
        ("failed.json", State.FAILED),
    ],
)
def test_zendesk_job_statuses(zendesk: HttpJsonProvider, name: str, state: State) -> None:
    body = payload("http_json/zendesk", name)
    status = zendesk.parse(body, ZENDESK_JOB)
    assert (status.state, status.raw_status) == (state, body["job_status"]["status"])


def test_zendesk_progress_is_tasks_done_over_total(zendesk: HttpJsonProvider) -> None:
    status = zendesk.parse(payload("http_json/zendesk", "working.json"), ZENDESK_JOB)
    assert status.progress == pytest.approx(1 / 3)
    assert status.message == "Working 1/3"


def test_zendesk_failed_items_are_named_as_children(zendesk: HttpJsonProvider) -> None:
    body = payload("http_json/zendesk", "completed_with_failures.json")
    status = zendesk.parse(body, ZENDESK_JOB)
    assert status.children == ("create 1: RecordInvalid",)
    assert status.counts() == {"processed": 3, "errors": 1, "total": 3}


def test_zendesk_queued_job_reports_no_error_count_yet(zendesk: HttpJsonProvider) -> None:
    status = zendesk.parse(payload("http_json/zendesk", "queued.json"), ZENDESK_JOB)
    assert status.counts() == {"total": 3}


async def test_zendesk_expired_job_status_404_is_job_not_found() -> None:
    body = payload("http_json/zendesk", "error_not_found.json")
    transport = httpx.MockTransport(lambda request: httpx.Response(404, json=body))
    zendesk = provider_from(EXAMPLES / "zendesk.yaml", "zendesk", transport)
    async with zendesk.client:
        with pytest.raises(PollFailure) as failure:
            await zendesk.poll(ZENDESK_JOB)
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.NOT_FOUND,
        "job not found (HTTP 404)",
    )


# --- the example configs ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["salesforce-bulk2.yaml", "airbyte.yaml", "zendesk.yaml"])
def test_example_config_validates(name: str) -> None:
    config = load_config(EXAMPLES / name, environ=ENVIRON)
    assert [settings.type for settings in config.providers.values()] == ["http_json"]
    assert len(config.watches) == 1
