"""A poll's request goes straight to the client's transport (providers/http.py,
`_Client.open`): the same request httpx would build, sent where httpx would
send it, and httpx's own path whenever the request needs more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.providers.base import ProviderSettings
from monitor.providers.http import decode_json, make_client, request
from monitor.simulators.base import RecordedRequest, Reply, Simulator


class Echo(Simulator):
    def handle(self, request: RecordedRequest) -> Reply:
        return Reply.json({"ok": True})


@pytest.fixture
def server() -> Iterator[Echo]:
    with Echo() as simulator:
        yield simulator


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(ProviderSettings(type="test", base_url="", timeout=2)) as c:
        yield c


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_HEADER_VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=10)
_HEADERS = st.none() | st.dictionaries(
    st.sampled_from(
        ["Authorization", "Content-Type", "content-length", "Host", "Accept", "X-Api-Key"]
    ),
    _HEADER_VALUE,
    max_size=3,
)
_PARAMS = st.none() | st.dictionaries(st.sampled_from(["id", "page", "q"]), _TEXT, max_size=2)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "post"]),
    url=st.sampled_from(
        [
            "https://api.example.com/v1/dataload.info",
            "http://127.0.0.1:8080/jobs/7?expand=1",
            "https://example.com:8443/",
        ]
    ),
    payload=st.none() | _JSON,
    headers=_HEADERS,
    params=_PARAMS,
)
def test_the_request_sent_is_the_one_httpx_would_build(
    method: str, url: str, payload: Any, headers: dict[str, str] | None, params: Any
) -> None:
    client = make_client(ProviderSettings(type="test", base_url="", timeout=3))
    target = httpx.URL(url)
    ours = client.lean_request(method, target, json=payload, headers=headers, params=params)  # type: ignore[attr-defined]
    theirs = client.build_request(method, target, json=payload, headers=headers, params=params)
    assert (ours.method, ours.url) == (theirs.method, theirs.url)
    assert ours.headers.raw == theirs.headers.raw
    assert ours.content == theirs.content
    assert ours.extensions == theirs.extensions


async def test_a_poll_arrives_with_the_clients_headers_and_its_body(
    server: Echo, client: httpx.AsyncClient
) -> None:
    response = await request(client, "POST", f"{server.url}/x?a=1", json={"id": "é"})
    assert decode_json(response) == {"ok": True}
    assert response.request.url == httpx.URL(f"{server.url}/x?a=1")
    (seen,) = server.requests
    assert seen.json == {"id": "é"} and seen.query == "a=1"
    assert seen.headers["user-agent"].startswith("loadwatch/")
    assert seen.headers["content-type"] == "application/json"


async def test_event_hooks_on_a_client_still_run(server: Echo, client: httpx.AsyncClient) -> None:
    heard: list[str] = []

    async def hook(sent: httpx.Request) -> None:
        heard.append(sent.url.path)

    client.event_hooks = {"request": [hook], "response": []}
    await request(client, "GET", f"{server.url}/hooked")
    assert heard == ["/hooked"]


async def test_a_closed_client_sends_nothing(server: Echo) -> None:
    closed = make_client(ProviderSettings(type="test", base_url="", timeout=2))
    await closed.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await request(closed, "GET", f"{server.url}/x")
    assert server.requests == []
