"""The HTTP transport under httpx: aiohttp's, chosen by measurement.

At 1,000 polls a second httpx's own transport cannot keep up on two cores,
and costs about twice the CPU per request of aiohttp under httpx
(bench/README.md). httpx stays the API every provider uses; this module hands
httpx's requests to an aiohttp session and its replies back as httpx
responses, and makes aiohttp's errors read as httpx's own, by their real
cause, so providers/http.py words them the same whichever transport runs.

It is a thin adapter of its own rather than the httpx-aiohttp package's: that
one wrapped every exchange in two responses and two streams once ours mapped
its errors (it reports a server that hung up as "connect timeout"), ~8 % of a
poll's CPU at 1,000 polls/s (bench/README.md, third round).

LOADWATCH_HTTP_TRANSPORT=httpx selects httpx's own transport (benchmarks,
or a bug in this one).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx

ENV = "LOADWATCH_HTTP_TRANSPORT"
_CHUNK = 64 * 1024
_HTTP_11 = {"http_version": b"HTTP/1.1"}
_ERRORS = (asyncio.TimeoutError, aiohttp.ClientError)


def make_transport(verify: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """The transport for a provider's client; None: httpx's own."""
    if os.environ.get(ENV, "aiohttp") == "httpx":
        return None
    return _Transport(verify, limits)


def keeps_deadline(transport: httpx.AsyncBaseTransport | None) -> bool:
    """Whether `transport` ends each exchange, reading its body included, once
    the request's read timeout has passed in total (httpx's own restarts its
    read timeout with every byte)."""
    return isinstance(transport, _Transport)


class _Transport(httpx.AsyncBaseTransport):
    """One aiohttp session (its own pool, as large as the client's limits) that
    follows no redirect, keeps no cookie and leaves decompression to httpx, so
    a size cap counts decoded bytes whichever transport runs."""

    def __init__(self, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        self._verify = verify
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry,
            ssl=self._verify,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
        )

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        asked = request.extensions.get("timeout", {})
        key = (asked.get("connect"), asked.get("read"), asked.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            # httpx's connect/read/pool as aiohttp's, and the read timeout once
            # more as a deadline for the whole exchange: aiohttp keeps that one
            # with the timer it runs anyway (see keeps_deadline).
            timeout = aiohttp.ClientTimeout(
                total=key[1], sock_connect=key[0], sock_read=key[1], connect=key[2]
            )
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None:
            session = self._session = self._open()
        try:
            content: bytes | httpx.AsyncByteStream | None = request.content or None
        except httpx.RequestNotRead:  # a streamed upload; aiohttp frames it itself
            content = request.stream  # type: ignore[assignment]
            request.headers.pop("transfer-encoding", None)
        try:
            reply = await session.request(
                request.method,
                _target(request.url),
                headers=request.headers.multi_items(),
                data=content,
                allow_redirects=False,
                compress=False,
                timeout=self._timeout(request),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except _ERRORS as error:
            raise _as_httpx(error, request) from error
        return httpx.Response(
            status_code=reply.status,
            headers=reply.raw_headers,
            stream=_Stream(reply, request),
            request=request,
            extensions=_HTTP_11,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _target(url: httpx.URL) -> str:
    """The URL aiohttp is to ask for. Credentials written into a URL are
    already in the Authorization header httpx built from them, and aiohttp
    refuses a request that carries both (httpx's own transport ignores them)."""
    return str(url.copy_with(userinfo=b"")) if url.userinfo else str(url)


class _Stream(httpx.AsyncByteStream):
    def __init__(self, reply: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._reply = reply
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._reply.content.iter_chunked(_CHUNK):
                yield chunk
        except _ERRORS as error:
            raise _as_httpx(error, self._request, reading=True) from error

    async def aclose(self) -> None:
        # Back to the pool when read to its end, else the connection is closed.
        self._reply.release()
        await self._reply.wait_for_close()


def _as_httpx(
    error: BaseException, request: httpx.Request, *, reading: bool = False
) -> httpx.TransportError:
    text = str(error) or type(error).__name__
    kind: type[httpx.TransportError]
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(error, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(error, aiohttp.ServerDisconnectedError):
        kind, text = httpx.RemoteProtocolError, "Server disconnected without sending a response."
    elif isinstance(error, aiohttp.ClientConnectorError | aiohttp.ClientSSLError):
        kind = httpx.ConnectError
    elif isinstance(error, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        kind = httpx.UnsupportedProtocol
    elif isinstance(error, aiohttp.ClientPayloadError) or reading:
        kind = httpx.ReadError
    elif isinstance(error, aiohttp.ClientResponseError):  # a reply that is not HTTP
        kind = httpx.RemoteProtocolError
    else:
        kind = httpx.NetworkError
    return kind(text, request=request)
