"""Property tests: whatever a vendor answers, every provider type (built-in
and http_json mappings) ends in a safe status, a failed poll with a readable
reason, or throttling: never an exception, never a value that does not fit
its column (see monitor/providers/sanitize.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import load_config
from monitor.providers.base import PollFailure, Provider, Throttled
from monitor.providers.http import decode_json, make_client
from monitor.providers.registry import provider_class
from tests.hostile import (
    TOLERANT,
    any_json,
    assert_safe_failure,
    assert_safe_status,
    deep_nesting,
    poisoned,
)

ROOT = Path(__file__).parent.parent.parent
PAYLOADS = ROOT / "tests" / "payloads"
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
BUILT_IN = {
    "kpa_flex": {"token": "t0ken-value"},
    "comestri": {"token": "t0ken-value"},
    "fullstory": {"api_key": "t0ken-value"},
    "rocketchat": {"user_id": "u", "auth_token": "t0ken-value"},
    "incorta": {"tenant": "t", "token": "t0ken-value", "base_url": "https://i.example/incorta"},
}
MAPPINGS = {  # http_json blocks: (config file, provider name, payload folder)
    "kpa_flex.yaml": (PAYLOADS / "http_json" / "kpa_flex.yaml", "hr", PAYLOADS / "kpa_flex"),
    "fullstory.yaml": (
        PAYLOADS / "http_json" / "fullstory.yaml",
        "product-events",
        PAYLOADS / "http_json" / "fullstory",
    ),
    "salesforce": (
        EXAMPLES / "salesforce-bulk2.yaml",
        "salesforce",
        PAYLOADS / "http_json" / "salesforce_bulk2",
    ),
    "airbyte": (EXAMPLES / "airbyte.yaml", "airbyte", PAYLOADS / "http_json" / "airbyte"),
    "zendesk": (EXAMPLES / "zendesk.yaml", "zendesk", PAYLOADS / "http_json" / "zendesk"),
}
EXAMPLES_PER_PROVIDER = 150


def built_in(provider_type: str, transport: Any = None) -> Provider:
    cls = provider_class(provider_type)
    block = {"type": provider_type, "base_url": "https://api.example", **BUILT_IN[provider_type]}
    settings = cls.settings_model.model_validate(block)
    return cls("vendor", settings, make_client(settings, transport=transport))


def mapped(name: str, transport: Any = None) -> Provider:
    path, provider_name, _ = MAPPINGS[name]
    settings = load_config(path, environ=ENVIRON).providers[provider_name]
    cls = provider_class(settings.type)
    return cls(provider_name, settings, make_client(settings, transport=transport))


def recorded(folder: Path) -> list[Any]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def assert_parses_safely(provider: Provider, payload: Any) -> None:
    try:
        status = provider.parse(payload, "42")
    except PollFailure as failure:
        assert_safe_failure(failure)
    except Throttled:
        pass
    else:
        assert_safe_status(status)


def vendor_payloads(folder: Path) -> st.SearchStrategy[Any]:
    return st.sampled_from(recorded(folder)).flatmap(poisoned)


@pytest.mark.parametrize("provider_type", sorted(BUILT_IN))
def test_built_in_provider_parses_any_poisoned_answer_safely(provider_type: str) -> None:
    provider = built_in(provider_type)

    @settings(max_examples=EXAMPLES_PER_PROVIDER, deadline=None)
    @given(payload=vendor_payloads(PAYLOADS / provider_type))
    def check(payload: Any) -> None:
        assert_parses_safely(provider, payload)

    check()


@pytest.mark.parametrize("name", sorted(MAPPINGS))
def test_http_json_mapping_parses_any_poisoned_answer_safely(name: str) -> None:
    provider = mapped(name)

    @settings(max_examples=EXAMPLES_PER_PROVIDER, deadline=None)
    @given(payload=vendor_payloads(MAPPINGS[name][2]))
    def check(payload: Any) -> None:
        assert_parses_safely(provider, payload)

    check()


@pytest.mark.parametrize("provider", [*sorted(BUILT_IN), *sorted(MAPPINGS)])
def test_provider_parses_arbitrary_json_safely(provider: str) -> None:
    instance = built_in(provider) if provider in BUILT_IN else mapped(provider)

    @settings(max_examples=60, deadline=None)
    @given(payload=st.one_of(any_json, deep_nesting))
    def check(payload: Any) -> None:
        assert_parses_safely(instance, payload)

    check()


# --- the whole poll: bytes on the wire to a status ------------------------------------

wire_bodies = st.one_of(
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=100_000).map(lambda n: b"[" * n),
    st.sampled_from(
        [b"NaN", b"Infinity", b'{"status": -Infinity}', b"1" * 5000, b'"\\ud800"', b"\xff\xfe"]
    ),
    any_json.map(lambda value: json.dumps(value).encode()),
)


@pytest.mark.parametrize("provider", [*sorted(BUILT_IN), *sorted(MAPPINGS)])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=TOLERANT,
)
@given(body=wire_bodies, status=st.sampled_from([200, 200, 200, 400, 401, 404, 429, 500]))
def test_poll_of_any_body_is_a_status_or_a_failed_poll(
    provider: str, body: bytes, status: int
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    instance = (
        built_in(provider, transport) if provider in BUILT_IN else mapped(provider, transport)
    )

    async def poll() -> None:
        async with instance.client:
            try:
                result = await instance.poll("42")
            except PollFailure as failure:
                assert_safe_failure(failure)
            except Throttled:
                pass
            else:
                assert_safe_status(result)

    asyncio.run(poll())


@settings(max_examples=300, deadline=None)
@given(body=wire_bodies)
def test_decode_json_is_a_value_or_a_malformed_payload(body: bytes) -> None:
    response = httpx.Response(200, content=body)
    try:
        decode_json(response)
    except PollFailure as failure:
        assert failure.kind.value == "malformed"
        assert failure.reason.startswith("malformed payload: ")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "malformed payload: nested too deeply (HTTP 200)"),
        (b'{"progress": NaN}', "malformed payload: NaN is not a JSON number (HTTP 200)"),
        (b"-Infinity", "malformed payload: -Infinity is not a JSON number (HTTP 200)"),
        (b"9" * 5000, "malformed payload: a number with too many digits (HTTP 200)"),
    ],
)
def test_hostile_json_is_a_malformed_payload_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PollFailure) as raised:
        decode_json(httpx.Response(200, content=body))
    assert raised.value.reason == reason
