"""The HTTP transport under httpx: aiohttp's, chosen by measurement.

At 1,000 polls a second httpx's own transport cannot keep up on two cores,
and costs about twice the CPU per request of the aiohttp transport under
httpx (bench/README.md). httpx stays the API every provider uses; this module
only makes aiohttp's errors read as httpx's own, by their real cause, so
providers/http.py words them the same whichever transport runs: the
httpx-aiohttp package maps a server that hung up to "connect timeout".

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
from httpx_aiohttp import AiohttpTransport

ENV = "LOADWATCH_HTTP_TRANSPORT"


def make_transport(verify: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """The transport for a provider's client; None: httpx's own."""
    if os.environ.get(ENV, "aiohttp") == "httpx":
        return None
    return _Transport(verify=verify, limits=limits)


class _Transport(AiohttpTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as error:
            raise _as_httpx(error, request) from _cause(error)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Stream(response.stream, request),  # type: ignore[arg-type]
            request=request,
            extensions=response.extensions,
        )


class _Stream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as error:
            raise _as_httpx(error, self._request, reading=True) from _cause(error)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _cause(error: BaseException) -> BaseException:
    """The aiohttp error behind an httpx-aiohttp mapping, else `error`."""
    cause = error.__cause__
    return cause if isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError) else error


def _as_httpx(
    error: BaseException, request: httpx.Request, *, reading: bool = False
) -> httpx.TransportError:
    cause = _cause(error)
    text = str(cause) or type(cause).__name__
    kind: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.ServerDisconnectedError):
        kind, text = httpx.RemoteProtocolError, "Server disconnected without sending a response."
    elif isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ClientSSLError):
        kind = httpx.ConnectError
    elif isinstance(cause, aiohttp.ClientPayloadError) or reading:
        kind = httpx.ReadError
    elif isinstance(cause, aiohttp.ClientResponseError):  # a reply that is not HTTP
        kind = httpx.RemoteProtocolError
    elif isinstance(error, httpx.TransportError) and not isinstance(error, httpx.TimeoutException):
        kind = type(error)
    else:
        kind = httpx.NetworkError
    return kind(text, request=request)
