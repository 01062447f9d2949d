"""A plain poll takes the lane to aiohttp (providers/http.py, `_exchange`):
on the wire it is the request httpx's own path sends through the same
transport, and what comes back is the httpx response that path makes. Real
sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from monitor.providers.base import FailureKind, PollFailure, ProviderSettings
from monitor.providers.http import decode_json, make_client, request


class Wire:
    """A server that keeps each request as it arrived (its head's lines, in
    order, and its body) and answers each with `reply`."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.seen: list[tuple[list[bytes], bytes]] = []
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.rstrip(b"\r\n").split(b"\r\n")
                length = next(
                    (int(line.split(b":", 1)[1]) for line in lines
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                self.seen.append((lines, await reader.readexactly(length)))
                writer.write(self.reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


def reply_of(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    server = Wire(reply_of(b'{"ok": true}', "Content-Type: application/json"))
    server.server = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    async with server.server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(ProviderSettings(type="test", base_url="", timeout=3)) as c:
        yield c


CASES: list[tuple[str, Any, dict[str, str] | None]] = [
    ("GET", None, None),
    ("POST", None, None),  # a bodyless POST says Content-Length: 0
    ("POST", {"token": "t", "id": "job-1"}, None),
    ("POST", {"id": "é" * 40, "n": [1, 2.5, None]}, {"Authorization": "Bearer x"}),
    ("PUT", [], {"Content-Type": "application/vnd.api+json", "X-Api-Key": "k"}),
    ("DELETE", None, {"Host": "vendor.example", "Accept": "*/*"}),
    ("post", {"a": 1}, {"Accept": "text/plain"}),
]


@pytest.mark.parametrize(("method", "payload", "headers"), CASES)
async def test_a_plain_poll_is_on_the_wire_what_httpx_sends(
    wire: Wire,
    client: httpx.AsyncClient,
    method: str,
    payload: Any,
    headers: dict[str, str] | None,
) -> None:
    url = f"{wire.url}/v1/dataload.info?x=1"
    for _ in range(2):  # the second from headers made once for the host
        ours = await request(client, method, url, json=payload, headers=headers)
        built = client.build_request(method, url, json=payload, headers=headers)
        theirs = await client.send(built)
        assert decode_json(ours) == theirs.json() == {"ok": True}
    first, _, second, httpx_path = wire.seen
    assert first == second == httpx_path
    if payload is not None:
        assert json.loads(first[1]) == payload


async def test_bodies_of_other_lengths_say_their_own_length(
    wire: Wire, client: httpx.AsyncClient
) -> None:
    for job in ["1", "22", "333", ""]:
        await request(client, "POST", f"{wire.url}/x", json={"id": job})
    lengths = [
        int(line.split(b":")[1]) for lines, _ in wire.seen for line in lines
        if line.lower().startswith(b"content-length:")
    ]  # fmt: skip
    assert lengths == [len(body) for _, body in wire.seen] == [10, 11, 12, 9]


async def test_the_response_is_httpxs_and_knows_its_request(
    wire: Wire, client: httpx.AsyncClient
) -> None:
    url = f"{wire.url}/jobs/7?expand=1"
    response = await request(client, "POST", url, json={"id": 7})
    assert isinstance(response, httpx.Response)
    assert (response.status_code, response.http_version) == (200, "HTTP/1.1")
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"ok": true}' and response.text == '{"ok": true}'
    assert response.is_closed
    assert response._request is None  # the lane built no request: nobody asked yet
    theirs = client.build_request("POST", url, json={"id": 7})
    assert (response.request.method, response.url) == ("POST", httpx.URL(url))
    assert response.request.headers.raw == theirs.headers.raw
    assert response.request.content == theirs.content


async def test_new_client_headers_are_sent_from_then_on(
    wire: Wire, client: httpx.AsyncClient
) -> None:
    await request(client, "GET", f"{wire.url}/x")
    client.headers = {"User-Agent": "other/1", "Accept": "application/json"}
    await request(client, "GET", f"{wire.url}/x")
    agents = [
        line.lower() for lines, _ in wire.seen for line in lines
        if line.lower().startswith(b"user-agent")
    ]  # fmt: skip
    assert agents[0].startswith(b"user-agent: loadwatch/")
    assert agents[1] == b"user-agent: other/1"


@pytest.fixture
async def packed() -> AsyncIterator[Wire]:
    """A server whose every reply is gzip: 200 KB of spaces around `{}`."""
    body = gzip.compress(b"{" + b" " * 200_000 + b"}")
    server = Wire(reply_of(body, "Content-Encoding: gzip", "Content-Type: application/json"))
    server.server = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    async with server.server:
        yield server


async def test_a_compressed_reply_is_decoded_and_counted_decoded(
    packed: Wire, client: httpx.AsyncClient
) -> None:
    response = await request(client, "GET", f"{packed.url}/x")
    assert decode_json(response) == {}
    assert response.headers["content-encoding"] == "gzip"
    with pytest.raises(PollFailure) as failure:  # a few hundred bytes sent, 200 KB decoded
        await request(client, "GET", f"{packed.url}/x", max_bytes=100_000)
    assert failure.value.kind is FailureKind.MALFORMED
    assert failure.value.reason == "response larger than 100000 bytes"
