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
from collections.abc import AsyncIterator, Callable, Sequence

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
        return self._timeout_of((asked.get("connect"), asked.get("read"), asked.get("pool")))

    def _timeout_of(self, key: tuple[float | None, ...]) -> aiohttp.ClientTimeout:
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
        return streamed_response(reply, request)

    async def send_plain(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeout: httpx.Timeout,
        request: Callable[[], httpx.Request],
    ) -> aiohttp.ClientResponse:
        """Send a request already in aiohttp's terms (a URL without
        credentials, the headers as httpx would send them); the reply's body is
        not yet read (`plain_chunks`, then `close_plain`). `request` builds the
        httpx request, for errors to name."""
        session = self._session
        if session is None:
            session = self._session = self._open()
        try:
            return await session.request(
                method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                compress=False,
                timeout=self._timeout_of((timeout.connect, timeout.read, timeout.pool)),
            )
        except _ERRORS as error:
            raise _as_httpx(error, request()) from error

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


PlainTransport = _Transport


def _target(url: httpx.URL) -> str:
    """The URL aiohttp is to ask for. Credentials written into a URL are
    already in the Authorization header httpx built from them, and aiohttp
    refuses a request that carries both (httpx's own transport ignores them)."""
    return str(url.copy_with(userinfo=b"")) if url.userinfo else str(url)


def plain(transport: httpx.AsyncBaseTransport) -> PlainTransport | None:
    """`transport` when it takes requests in aiohttp's terms (`send_plain`)."""
    return transport if isinstance(transport, _Transport) else None


class _PlainResponse(httpx.Response):
    """A reply read through `send_plain`: the httpx request it answers is
    built only if someone asks for it (a redirect's Location, an error)."""

    _build: Callable[[], httpx.Request] | None = None

    @property
    def request(self) -> httpx.Request:
        if self._request is None and self._build is not None:
            self._request = self._build()
        return httpx.Response.request.fget(self)  # type: ignore[attr-defined]

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value


def plain_response(
    reply: aiohttp.ClientResponse, content: bytes, request: Callable[[], httpx.Request]
) -> httpx.Response:
    """`reply`, its body read as `content`, as a read and closed httpx response."""
    response = _PlainResponse(
        status_code=reply.status,
        headers=reply.raw_headers,
        stream=httpx.ByteStream(content),
        extensions=_HTTP_11,
    )
    response._build = request
    response._content = content  # what httpx's own `aread` sets
    response.is_stream_consumed = True
    response.is_closed = True
    return response


def streamed_response(reply: aiohttp.ClientResponse, request: httpx.Request) -> httpx.Response:
    """`reply` as httpx's response, its body still to be read through httpx."""
    return httpx.Response(
        status_code=reply.status,
        headers=reply.raw_headers,
        stream=_Stream(reply, request),
        request=request,
        extensions=_HTTP_11,
    )


async def plain_chunks(
    reply: aiohttp.ClientResponse, request: Callable[[], httpx.Request]
) -> AsyncIterator[bytes]:
    """The body of a reply from `send_plain`, as sent, its errors as httpx's."""
    try:
        async for chunk in reply.content.iter_chunked(_CHUNK):
            yield chunk
    except _ERRORS as error:
        raise _as_httpx(error, request(), reading=True) from error


async def close_plain(reply: aiohttp.ClientResponse) -> None:
    """Back to the pool when read to its end, else the connection is closed."""
    reply.release()
    await reply.wait_for_close()


class _Stream(httpx.AsyncByteStream):
    def __init__(self, reply: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._reply = reply
        self._request = request

    def __aiter__(self) -> AsyncIterator[bytes]:
        return plain_chunks(self._reply, lambda: self._request)

    async def aclose(self) -> None:
        await close_plain(self._reply)


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
