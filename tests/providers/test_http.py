"""The HTTP client factory and the one mapping from transport errors and HTTP
statuses to poll failures."""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from monitor import redact
from monitor.clock import FakeClock
from monitor.providers import http
from monitor.providers.base import FailureKind, PollFailure, ProviderSettings, Throttled
from monitor.providers.http import (
    USER_AGENT,
    decode_json,
    make_client,
    raise_for_http_status,
    request,
    retry_after_seconds,
)
from monitor.simulators.base import (
    Drop,
    Garbage,
    Hang,
    HttpError,
    RecordedRequest,
    Reply,
    Simulator,
)

NOW = datetime(2026, 3, 2, 6, 0, 0, tzinfo=UTC)
SECRET = "s3cret-token-value"


class JsonSimulator(Simulator):
    """Answers every request with a small JSON object."""

    def handle(self, request: RecordedRequest) -> Reply:
        return Reply.json({"ok": True, "path": request.path})


@pytest.fixture
def server() -> Iterator[JsonSimulator]:
    with JsonSimulator() as simulator:
        yield simulator


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(ProviderSettings(type="test", base_url="", timeout=0.2)) as c:
        yield c


@pytest.fixture(autouse=True)
def secret() -> Iterator[str]:
    redact.add_secret(SECRET)
    yield SECRET
    redact.forget_all()


def reply(status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(
        status, request=httpx.Request("GET", "https://api.example.com/v1/x"), **kwargs
    )


async def failure_of(client: httpx.AsyncClient, url: str, **kwargs: Any) -> PollFailure:
    with pytest.raises(PollFailure) as failure:
        await request(client, "POST", url, **kwargs)
    return failure.value


# --- retry_after_seconds ------------------------------------------------------


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds(reply(429, headers={"Retry-After": "120"}), NOW) == 120.0


def test_retry_after_as_http_date() -> None:
    response = reply(429, headers={"Retry-After": "Mon, 02 Mar 2026 06:01:30 GMT"})
    assert retry_after_seconds(response, NOW) == 90.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    response = reply(429, headers={"Retry-After": "Mon, 02 Mar 2026 05:00:00 GMT"})
    assert retry_after_seconds(response, NOW) == 0.0


def test_rate_limit_reset_in_epoch_milliseconds() -> None:
    reset_ms = int(NOW.timestamp() * 1000) + 42_500
    response = reply(429, headers={"X-RateLimit-Reset": str(reset_ms)})
    assert retry_after_seconds(response, NOW) == pytest.approx(42.5)


def test_rate_limit_reset_in_epoch_seconds() -> None:
    response = reply(429, headers={"X-RateLimit-Reset": str(int(NOW.timestamp()) + 30)})
    assert retry_after_seconds(response, NOW) == pytest.approx(30)


def test_retry_after_wins_over_rate_limit_reset() -> None:
    headers = {"Retry-After": "5", "X-RateLimit-Reset": str(int(NOW.timestamp() * 1000) + 60_000)}
    assert retry_after_seconds(reply(429, headers=headers), NOW) == 5.0


@pytest.mark.parametrize("value", ["soon", "-5", "", "nan", "1e3", "Mon, 99 Foo 2026"])
def test_retry_after_garbage_is_none(value: str) -> None:
    assert retry_after_seconds(reply(429, headers={"Retry-After": value}), NOW) is None


def test_retry_after_absent_is_none() -> None:
    assert retry_after_seconds(reply(429), NOW) is None


# --- raise_for_http_status ----------------------------------------------------


def test_2xx_raises_nothing() -> None:
    raise_for_http_status(reply(200), now=NOW)


def test_429_is_throttled_with_the_vendors_wait() -> None:
    with pytest.raises(Throttled) as throttled:
        raise_for_http_status(reply(429, headers={"Retry-After": "30"}), now=NOW)
    assert throttled.value.retry_after == 30.0


def test_429_without_a_wait_is_throttled_for_the_engine_to_back_off() -> None:
    with pytest.raises(Throttled) as throttled:
        raise_for_http_status(reply(429), now=NOW)
    assert throttled.value.retry_after is None


@pytest.mark.parametrize("status", [401, 403])
def test_auth_statuses_are_refused_credentials(status: int) -> None:
    with pytest.raises(PollFailure) as failure:
        raise_for_http_status(reply(status), now=NOW)
    assert failure.value.kind is FailureKind.AUTH
    assert failure.value.reason == f"credentials refused (HTTP {status})"


def test_404_is_job_not_found() -> None:
    with pytest.raises(PollFailure) as failure:
        raise_for_http_status(reply(404), now=NOW)
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.NOT_FOUND,
        "job not found (HTTP 404)",
    )


def test_404_is_rejected_when_the_vendor_says_not_found_otherwise() -> None:
    with pytest.raises(PollFailure) as failure:
        raise_for_http_status(reply(404), now=NOW, not_found=())
    assert failure.value.kind is FailureKind.REJECTED


def test_5xx_is_a_server_error() -> None:
    with pytest.raises(PollFailure) as failure:
        raise_for_http_status(reply(503, text="<html>busy</html>"), now=NOW)
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.SERVER_ERROR,
        "server error (HTTP 503)",
    )


def test_other_4xx_is_rejected_with_the_vendors_message() -> None:
    response = reply(422, json={"message": "job id must be numeric", "code": "INVALID"})
    with pytest.raises(PollFailure) as failure:
        raise_for_http_status(response, now=NOW)
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.REJECTED,
        "HTTP 422: job id must be numeric",
    )


def test_vendor_message_is_redacted_and_shortened() -> None:
    response = reply(400, json={"message": f"bad token {SECRET} " + "x" * 1000})
    with pytest.raises(PollFailure) as failure:
        raise_for_http_status(response, now=NOW)
    assert SECRET not in failure.value.reason
    assert len(failure.value.reason) <= 320


def test_redirect_is_rejected_naming_the_target_without_its_query() -> None:
    response = reply(301, headers={"Location": f"https://new.example.com/v2/x?token={SECRET}"})
    with pytest.raises(PollFailure) as failure:
        raise_for_http_status(response, now=NOW)
    assert failure.value.kind is FailureKind.REJECTED
    assert failure.value.reason == (
        "unexpected redirect (HTTP 301) to https://new.example.com/v2/x: check base_url"
    )


# --- decode_json ------------------------------------------------------------------


def test_html_instead_of_json_is_malformed() -> None:
    response = reply(
        200, text="<!DOCTYPE html><html>Maintenance</html>", headers={"Content-Type": "text/html"}
    )
    with pytest.raises(PollFailure) as failure:
        decode_json(response)
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.MALFORMED,
        "malformed payload: HTML page instead of JSON (HTTP 200)",
    )


def test_text_that_is_not_json_is_malformed() -> None:
    with pytest.raises(PollFailure) as failure:
        decode_json(reply(200, text="OK"))
    assert failure.value.reason == "malformed payload: not JSON (HTTP 200)"


def test_empty_body_is_malformed() -> None:
    with pytest.raises(PollFailure) as failure:
        decode_json(reply(200, content=b""))
    assert failure.value.reason == "malformed payload: empty body (HTTP 200)"


# --- make_client ------------------------------------------------------------------


def test_client_names_itself_caps_connect_time_and_stays_on_the_url() -> None:
    settings = ProviderSettings(type="test", base_url="", timeout=60, max_concurrency=3)
    client = make_client(settings)
    assert client.headers["User-Agent"] == USER_AGENT
    assert client.timeout.read == 60
    assert client.timeout.connect == 10
    assert client.follow_redirects is False


# --- request against a live server --------------------------------------------------


async def test_request_reads_the_whole_body(
    server: JsonSimulator, client: httpx.AsyncClient
) -> None:
    response = await request(client, "POST", f"{server.url}/jobs/1", json={"id": 1})
    assert decode_json(response) == {"ok": True, "path": "/jobs/1"}
    assert server.requests[0].headers["user-agent"] == USER_AGENT


async def test_response_over_the_size_cap_is_malformed(
    server: JsonSimulator, client: httpx.AsyncClient
) -> None:
    server.inject(Garbage(body=b"[" + b"1," * 2000 + b"1]", content_type="application/json"))
    failure = await failure_of(client, server.url, max_bytes=1024)
    assert (failure.kind, failure.reason) == (
        FailureKind.MALFORMED,
        "response larger than 1024 bytes",
    )


async def test_streamed_response_over_the_size_cap_is_malformed() -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: only counting catches it
        for _ in range(100):
            yield b"x" * 100

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=chunks()))
    async with make_client(ProviderSettings(type="test", base_url=""), transport=transport) as c:
        failure = await failure_of(c, "https://api.example.com/", max_bytes=1000)
    assert failure.kind is FailureKind.MALFORMED


async def test_compressed_reply_comes_back_decoded() -> None:
    packed = gzip.compress(b'{"ok": true}')
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=packed, headers={"Content-Encoding": "gzip"})
    )
    async with make_client(ProviderSettings(type="test", base_url=""), transport=transport) as c:
        response = await request(c, "GET", "https://api.example.com/")
    assert decode_json(response) == {"ok": True}


async def test_reply_dripping_past_the_timeout_in_total_is_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(http, "_clock", clock)

    async def chunks() -> AsyncIterator[bytes]:  # each chunk in time, the whole too slow
        for _ in range(10):
            clock.advance(1)
            yield b" "

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=chunks()))
    settings = ProviderSettings(type="test", base_url="", timeout=5)
    async with make_client(settings, transport=transport) as c:
        failure = await failure_of(c, "https://api.example.com/")
    assert (failure.kind, failure.reason) == (FailureKind.TIMEOUT, "timeout after 5s")


async def test_server_that_hangs_is_a_timeout(
    server: JsonSimulator, client: httpx.AsyncClient
) -> None:
    server.inject(Hang(seconds=10))
    failure = await failure_of(client, server.url)
    assert failure.kind is FailureKind.TIMEOUT
    assert failure.reason.startswith("timeout after 0.2s")


async def test_closed_port_is_connection_refused(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failure = await failure_of(client, f"http://127.0.0.1:{port}/v1")
    assert (failure.kind, failure.reason) == (
        FailureKind.NETWORK,
        f"connection refused by 127.0.0.1:{port}",
    )


async def test_dropped_connection_is_a_network_failure(
    server: JsonSimulator, client: httpx.AsyncClient
) -> None:
    server.inject(Drop())
    failure = await failure_of(client, server.url)
    assert failure.kind is FailureKind.NETWORK
    assert "closed" in failure.reason


async def test_failure_reasons_never_show_query_body_or_headers(
    server: JsonSimulator, client: httpx.AsyncClient
) -> None:
    server.inject(Drop())
    server.inject(Hang(seconds=10))
    secrets = {
        "params": {"token": "q-" + SECRET},
        "json": {"token": "b-" + SECRET},
        "headers": {"X-Token": "h-" + SECRET},
    }
    for _ in range(2):
        failure = await failure_of(client, f"{server.url}/path-{SECRET[:4]}", **secrets)
        assert "token" not in failure.reason
        assert SECRET not in failure.reason


async def test_error_page_from_a_proxy_is_a_server_error(
    server: JsonSimulator, client: httpx.AsyncClient
) -> None:
    server.inject(HttpError(502))
    response = await request(client, "GET", server.url)
    with pytest.raises(PollFailure) as failure:
        raise_for_http_status(response, now=NOW)
    assert failure.value.reason == "server error (HTTP 502)"


async def test_html_page_with_status_200_is_malformed(
    server: JsonSimulator, client: httpx.AsyncClient
) -> None:
    server.inject(Garbage())
    response = await request(client, "GET", server.url)
    raise_for_http_status(response, now=NOW)
    with pytest.raises(PollFailure) as failure:
        decode_json(response)
    assert failure.value.reason == "malformed payload: HTML page instead of JSON (HTTP 200)"
