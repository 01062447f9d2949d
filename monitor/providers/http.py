"""The one HTTP client factory, and the one place that turns transport errors and
HTTP statuses into poll failures.

A provider polls with `request` on a client from `make_client`, then calls
`raise_for_http_status` and `decode_json`. Reasons built here are for people:
they say what went wrong and with which host, never a request body, header or
query string (tokens live there), and they pass through `redact` anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
from collections.abc import AsyncIterable, Collection, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache, lru_cache, partial
from json import JSONEncoder
from typing import Any, NamedTuple

import httpx

from monitor import __version__
from monitor.clock import Clock
from monitor.providers.base import (
    FailureKind,
    PollFailure,
    ProviderSettings,
    Throttled,
    reason_text,
)
from monitor.providers.sanitize import UnsafeJson, load_json
from monitor.providers.transport import (
    PlainTransport,
    close_plain,
    keeps_deadline,
    make_transport,
    plain,
    plain_chunks,
    plain_response,
    streamed_response,
)

USER_AGENT = f"loadwatch/{__version__}"
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
MAX_CONNECT_TIMEOUT = 10.0  # a host that takes longer to accept a connection is down

_ERROR_BODY_LIMIT = 64 * 1024  # an error body larger than this is a page, not a message
_NUMBER = re.compile(r"\d+(\.\d+)?")
# X-RateLimit-Reset comes as epoch ms (Rocket.Chat), epoch seconds or delta seconds;
# the magnitudes cannot overlap: 1e11 s is the year 5138, 1e9 s is 31 years.
_EPOCH_MS_FROM = 1e11
_EPOCH_SECONDS_FROM = 1e9

_clock = Clock()


def make_client(
    settings: ProviderSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The HTTP client for one provider block: its timeout, a connection pool as
    large as its max_concurrency, TLS verified, redirects not followed.

    The transport is aiohttp's (providers/transport.py); `transport` replaces
    it (tests)."""
    timeout = httpx.Timeout(settings.timeout, connect=min(MAX_CONNECT_TIMEOUT, settings.timeout))
    limits = httpx.Limits(
        max_connections=settings.max_concurrency,
        max_keepalive_connections=settings.max_concurrency,
    )
    chosen = transport or make_transport(_tls_context(), limits)
    client = _Client(
        timeout=timeout,
        limits=limits,
        verify=_tls_context(),
        # A redirect from a job API means a wrong base_url. Following it would turn
        # a POST into a GET (301/302) or resend a token-bearing body elsewhere
        # (307/308), in requests that max_rps does not count. Say so instead.
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        transport=chosen,
    )
    client.deadline_kept = keeps_deadline(chosen)
    return client


class _NoCookies(httpx.Cookies):
    """A jar that stays empty: what a vendor sets is not kept."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        pass


class _Client(httpx.AsyncClient):
    """An httpx client that keeps no cookies, and sends a poll's request
    straight to its transport.

    Job APIs authenticate every request by token or key, and a cookie one
    vendor's load balancer sets must not ride along on later polls. Reading
    each reply's cookies into httpx's jar cost ~6 % of a poll's CPU at 1,000
    polls/s (bench/README.md).

    `open` is httpx's `send(build_request(...), stream=True)` without the
    layers a poll never uses: auth flows, redirect following, event hooks,
    cookies. Those cost about a fifth of an exchange's CPU (bench/README.md,
    seventh round). The request is the one `build_request` makes (the
    client's headers, httpx's JSON encoding, the timeout), it goes to the
    transport `send` would choose (a proxy's, if the environment names one),
    and a URL carrying credentials, or a client given auth or hooks, takes
    httpx's own path."""

    # Whether the transport keeps one deadline for each whole exchange; when
    # it does not, `request` keeps it (an asyncio timeout costs ~2 % of a poll).
    deadline_kept = False

    @property
    def headers(self) -> httpx.Headers:
        return self._headers

    @headers.setter
    def headers(self, headers: Any) -> None:
        httpx.AsyncClient.headers.fset(self, headers)  # type: ignore[attr-defined]
        self._plain_headers: dict[tuple[Any, ...], tuple[list[tuple[str, str]], int | None]] = {}

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        if cookies:
            raise ValueError("loadwatch's HTTP clients keep no cookies")

    async def open(
        self,
        method: str,
        url: httpx.URL,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """The response to one request, its body not yet read: the caller reads
        it and closes it."""
        if not _plain(self, url):
            built = self.build_request(method, url, json=json, headers=headers, params=params)
            return await self.send(built, stream=True)
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        built = self.lean_request(method, url, json=json, headers=headers, params=params)
        try:
            response = await self._transport_for_url(url).handle_async_request(built)
        except httpx.RequestError as error:  # as `send` does: the error knows its request
            _attach(error, built)
            raise
        response.request = built
        response.default_encoding = self._default_encoding
        return response

    def lean_request(
        self,
        method: str,
        url: httpx.URL,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Request:
        """The request `build_request` makes for these arguments, built in a
        third of its time: the headers are put together once, in their final
        order, instead of httpx normalising and searching them again for each
        header it adds (a test holds the two equal)."""
        if params is not None:
            url = httpx.URL(url, params=params)
        merged = self.headers
        if headers:
            merged = httpx.Headers(merged)
            merged.update(headers)
        listed = merged.raw
        names = {name.lower() for name, _ in listed}
        body = b""
        auto: list[tuple[bytes, bytes]] = []
        if b"host" not in names:
            auto.append((b"Host", url.netloc))
        if json is not None:
            body = _json_bytes(json)
            content = ((b"Content-Length", str(len(body)).encode()), _JSON_TYPE)
            listed = [*listed, *(pair for pair in content if pair[0].lower() not in names)]
        elif method.upper() in ("POST", "PUT", "PATCH") and not names & _LENGTHS:
            auto.append((b"Content-Length", b"0"))
        built = httpx.Request(
            method,
            url,
            headers=auto + listed,
            stream=httpx.ByteStream(body),
            extensions={"timeout": self.timeout.as_dict()},
        )
        built.read()
        return built

    def plain_headers(
        self, method: str, url: httpx.URL, headers: dict[str, str] | None, body: bytes | None
    ) -> list[tuple[str, str]]:
        """The headers `lean_request` makes, as text pairs for aiohttp. They
        differ between a provider's polls only in the body's length, so they
        are made once per host, method and set of extra headers. (The client's
        own headers are set once, in `make_client`; assigning new ones starts
        afresh.)"""
        extra = tuple(headers.items()) if headers else ()
        key = (method, url.scheme, url.netloc, extra, body is None)
        made = self._plain_headers.get(key)
        if made is None:
            if len(self._plain_headers) >= _PLAIN_HEADER_SETS:
                self._plain_headers.clear()  # headers made per job: no end of sets
            json = None if body is None else 0  # any JSON: only its length differs
            pairs = self.lean_request(method, url, json=json, headers=headers).headers.multi_items()
            sized = headers is None or not any(name.lower() == "content-length" for name in headers)
            at = None
            if body is not None and sized:
                names = [name.lower() for name, _ in pairs]
                at = names.index("content-length")
            made = self._plain_headers[key] = (pairs, at)
        pairs, at = made
        if at is None:
            return pairs
        pairs = list(pairs)
        pairs[at] = (pairs[at][0], str(len(body or b"")))
        return pairs


_PLAIN_HEADER_SETS = 256
_LENGTHS = frozenset({b"content-length", b"transfer-encoding"})
_JSON_TYPE = (b"Content-Type", b"application/json")
_json_text = JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _json_bytes(value: Any) -> bytes:
    """`value` as httpx encodes a `json=` body."""
    return _json_text(value).encode("utf-8")


def _plain(client: _Client, url: httpx.URL) -> bool:
    """Whether a request to `url` needs none of what `send` adds to `open`."""
    hooks = client.event_hooks
    return (
        url.is_absolute_url
        and not url.userinfo
        and client.auth is None
        and not client.params
        and not hooks["request"]
        and not hooks["response"]
    )


def _attach(error: httpx.RequestError, request: httpx.Request) -> None:
    try:
        error.request  # noqa: B018 (raises when the transport raised it without one)
    except RuntimeError:
        error.request = request


_NO_COOKIES = _NoCookies()


@cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client (SSL_CERT_FILE/SSL_CERT_DIR
    honoured): building one reads the whole CA bundle, ~30 ms."""
    return httpx.create_ssl_context(verify=True)


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> httpx.Response:
    """Send one request and read its whole body, at most `max_bytes` of it.

    Whatever the status, the response comes back read; transport errors, a body
    over the cap and a reply slower than the client's timeout in total raise
    PollFailure."""
    started = _clock.monotonic()
    total = client.timeout.read
    try:
        # One deadline for the whole exchange, status line and headers included:
        # httpx's own timeout restarts with every byte, so a server that drips
        # its headers would hold the poll (and a max_concurrency slot) for ever.
        # aiohttp's transport keeps it with the timer it runs anyway; for any
        # other, it is set here.
        kept = getattr(client, "deadline_kept", False)
        deadline = contextlib.nullcontext() if kept else asyncio.timeout(total)
        async with deadline:
            parsed = _parsed(url)
            lane = _lane(client, parsed, params)
            if lane is None:
                streamed = await _open(client, method, parsed, json, headers, params)
            else:
                streamed = await _exchange(lane, method, parsed, json, headers, max_bytes, started)
                if streamed.is_closed:  # read in the lane
                    return streamed
            try:
                body = await _read_capped(streamed, max_bytes, started, total)
            finally:
                await streamed.aclose()
    except TimeoutError as exc:
        raise PollFailure(
            FailureKind.TIMEOUT, f"timeout after {_seconds(total)} waiting for {_host(url)}"
        ) from exc
    except httpx.TimeoutException as exc:
        raise PollFailure(FailureKind.TIMEOUT, _timeout_reason(exc, client.timeout)) from exc
    except httpx.TransportError as exc:
        raise PollFailure(FailureKind.NETWORK, _network_reason(exc)) from exc
    except httpx.InvalidURL as exc:
        raise PollFailure(FailureKind.REJECTED, "invalid request URL: check base_url") from exc
    return _with_body(streamed, body)


def _lane(client: httpx.AsyncClient, url: httpx.URL, params: Any) -> _Lane | None:
    """The plain lane for a request, when it can take it: a plain request
    (see `_plain`) to our aiohttp transport."""
    if not isinstance(client, _Client) or params is not None or client.is_closed:
        return None  # (a closed client refuses in `open`)
    if not _plain(client, url):
        return None
    transport = plain(client._transport_for_url(url))
    return None if transport is None else _Lane(client, transport)


class _Lane(NamedTuple):
    client: _Client
    transport: PlainTransport


async def _exchange(
    lane: _Lane,
    method: str,
    url: httpx.URL,
    json: Any,
    headers: dict[str, str] | None,
    max_bytes: int,
    started: float,
) -> httpx.Response:
    """One exchange in the plain lane: the request `open` would send, handed
    to aiohttp in its own terms, and the reply read into one httpx response.
    What httpx builds around an exchange (its request and response objects,
    their header conversions and streams: a quarter of a poll's exchange,
    bench/README.md) is made only where needed: the headers once per host
    (`plain_headers`), the request only when an error or a caller asks.
    A compressed reply comes back unread, as `open`'s would, for `request`
    to read through httpx's decoders."""
    client = lane.client
    body = None if json is None else _json_bytes(json)
    build = partial(client.lean_request, method, url, json=json, headers=headers)
    pairs = client.plain_headers(method, url, headers, body)
    total = client.timeout.read
    sent = body or b""
    reply = await lane.transport.send_plain(method, str(url), pairs, sent, client.timeout, build)
    if "Content-Encoding" in reply.headers:  # still to read, through httpx's decoders
        streamed = streamed_response(reply, build())
        streamed.default_encoding = client._default_encoding
        return streamed
    try:
        declared = reply.headers.get("Content-Length", "")
        chunks = plain_chunks(reply, build)
        content = await _read_chunks(chunks, declared, max_bytes, started, total)
    finally:
        await close_plain(reply)
    response = plain_response(reply, content, build)
    response.default_encoding = client._default_encoding
    return response


async def _open(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    json: Any,
    headers: dict[str, str] | None,
    params: dict[str, Any] | None,
) -> httpx.Response:
    if isinstance(client, _Client):
        return await client.open(method, url, json=json, headers=headers, params=params)
    built = client.build_request(method, url, json=json, headers=headers, params=params)
    return await client.send(built, stream=True)


@lru_cache(maxsize=4096)
def _parsed(url: str) -> httpx.URL:
    """`url` parsed, once per distinct URL: a provider asks the same few URLs
    (or one per job) over and over, and httpx parsing one costs about half of
    building a request (bench/README.md)."""
    return httpx.URL(url)


async def _read_capped(
    streamed: httpx.Response, max_bytes: int, started: float, total: float | None
) -> bytes:
    # Decoded bytes, so that a gzip bomb counts whole; a body sent as it is
    # comes straight from the transport, without httpx's decoding layers.
    raw = streamed.stream
    source: AsyncIterable[bytes] = (
        raw
        if isinstance(raw, httpx.AsyncByteStream) and "content-encoding" not in streamed.headers
        else streamed.aiter_bytes()
    )
    declared = streamed.headers.get("content-length", "")
    try:
        return await _read_chunks(source, declared, max_bytes, started, total)
    except httpx.RequestError as error:
        _attach(error, streamed.request)
        raise


async def _read_chunks(
    source: AsyncIterable[bytes], declared: str, max_bytes: int, started: float, total: float | None
) -> bytes:
    """The whole body from `source`, at most `max_bytes` of it (`declared`:
    its Content-Length, if any), within `total` seconds of `started`."""
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in source:
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        # httpx's read timeout restarts with every chunk; a server that drips
        # bytes must not hold a poll longer than the timeout in total.
        if total is not None and _clock.monotonic() - started > total:
            raise PollFailure(FailureKind.TIMEOUT, f"timeout after {_seconds(total)}")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> PollFailure:
    return PollFailure(FailureKind.MALFORMED, f"response larger than {max_bytes} bytes")


def _with_body(streamed: httpx.Response, body: bytes) -> httpx.Response:
    """`streamed`, closed, as an already-read response holding `body` (decoded).

    This sets what httpx's own `Response.aread()` sets; httpx has no public way
    to read a body with a size cap. Building a second Response instead cost
    ~20 µs a poll, 5 % of its CPU (bench/README.md).

    The closed stream is replaced by the body's: httpx's stream refers back to
    its response, a reference cycle that only the garbage collector frees.
    At 1,000 polls a second those cycles drove it to run every few
    milliseconds over a heap of 10,000 jobs (bench/README.md)."""
    streamed._content = body
    streamed.stream = httpx.ByteStream(body)
    return streamed


def decode_json(response: httpx.Response) -> Any:
    """The response body as JSON, or PollFailure(MALFORMED) saying what it was instead."""
    status = f"HTTP {response.status_code}"
    body = response.content
    if not body.strip():
        raise PollFailure(FailureKind.MALFORMED, f"malformed payload: empty body ({status})")
    try:
        return load_json(body)
    except UnsafeJson as unsafe:
        reason = f"malformed payload: {unsafe} ({status})"
        raise PollFailure(FailureKind.MALFORMED, reason) from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        what = "HTML page instead of JSON" if _looks_like_html(response) else "not JSON"
        raise PollFailure(FailureKind.MALFORMED, f"malformed payload: {what} ({status})") from None


def _looks_like_html(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    return "html" in content_type or response.content.lstrip()[:1] == b"<"


def retry_after_seconds(response: httpx.Response, now: datetime) -> float | None:
    """Seconds the vendor asked us to wait, from `Retry-After` (delta seconds or
    an HTTP date) or else `X-RateLimit-Reset` (epoch ms, epoch seconds or delta
    seconds, told apart by size). None when neither header says; 0 for a time
    already past."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        seconds = _parse_retry_after(retry_after.strip(), now)
        if seconds is not None:
            return seconds
    reset = response.headers.get("x-ratelimit-reset", "").strip()
    if _NUMBER.fullmatch(reset):
        value = float(reset)
        if value >= _EPOCH_MS_FROM:
            return max(0.0, value / 1000 - now.timestamp())
        if value >= _EPOCH_SECONDS_FROM:
            return max(0.0, value - now.timestamp())
        return value
    return None


def _parse_retry_after(value: str, now: datetime) -> float | None:
    if _NUMBER.fullmatch(value):
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": UTC with no claim about local time
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def raise_for_http_status(
    response: httpx.Response,
    *,
    now: datetime | None = None,
    not_found: Collection[int] = (404,),
    auth: Collection[int] = (401, 403),
) -> None:
    """Return for a 2xx; raise what any other status means for a poll.

    429 is Throttled (with the vendor's wait); `auth` statuses are refused
    credentials, `not_found` ones a missing job (pass `()` where the vendor
    answers a missing job with 200 and a 404 can only mean a wrong URL); 3xx is
    a wrong base_url; 5xx a server error; any other status is rejected. The
    vendor's `message` is added when the body carries one."""
    status = response.status_code
    if 200 <= status < 300:
        return
    label = f"HTTP {status}"
    if status == 429:
        wait = retry_after_seconds(response, now or _clock.now())
        raise Throttled(f"rate limited ({label})", retry_after=wait)
    if status in auth:
        raise PollFailure(FailureKind.AUTH, f"credentials refused ({label})")
    if status in not_found:
        raise PollFailure(FailureKind.NOT_FOUND, f"job not found ({label})")
    if 300 <= status < 400:
        raise PollFailure(FailureKind.REJECTED, _redirect_reason(response, label))
    kind, text = (
        (FailureKind.SERVER_ERROR, f"server error ({label})")
        if status >= 500
        else (FailureKind.REJECTED, label)
    )
    message = error_message(response)
    raise PollFailure(kind, f"{text}: {message}" if message else text)


def error_message(response: httpx.Response) -> str | None:
    """The vendor's own words from a small JSON error body (`message`, else a
    string `error`), redacted and shortened; None when there are none."""
    if len(response.content) > _ERROR_BODY_LIMIT:
        return None
    try:
        payload = load_json(response.content)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    for key in ("message", "error"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return reason_text(value)
    return None


def _redirect_reason(response: httpx.Response, label: str) -> str:
    location = response.headers.get("location")
    if not location:
        return f"unexpected redirect ({label}): check base_url"
    try:
        target = response.request.url.join(location)
    except (httpx.InvalidURL, RuntimeError):
        return f"unexpected redirect ({label}): check base_url"
    # Scheme, host and path only: a query string or user info may hold a token.
    port = f":{target.port}" if target.port else ""
    shown = f"{target.scheme}://{target.host}{port}{target.path}"
    return reason_text(f"unexpected redirect ({label}) to {shown}: check base_url")


def _timeout_reason(exc: httpx.TimeoutException, timeout: httpx.Timeout) -> str:
    where = _where(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return reason_text(f"timeout after {_seconds(timeout.connect)} connecting to {where}")
    if isinstance(exc, httpx.PoolTimeout):
        return f"timeout after {_seconds(timeout.pool)} waiting for a free connection"
    if isinstance(exc, httpx.WriteTimeout):
        return reason_text(f"timeout after {_seconds(timeout.write)} sending to {where}")
    return reason_text(f"timeout after {_seconds(timeout.read)} waiting for {where}")


def _network_reason(exc: httpx.TransportError) -> str:
    where = _where(exc)
    causes = list(_causes(exc))
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return reason_text(f"connection refused by {where}")
        if any(isinstance(c, socket.gaierror) for c in causes):
            return reason_text(f"cannot resolve host {where}")
        for cause in causes:
            # aiohttp's certificate error is an SSLCertVerificationError too,
            # without the reason: that is on the ssl module's error behind it.
            verdict = getattr(cause, "verify_message", None)
            if isinstance(cause, ssl.SSLCertVerificationError) and verdict:
                return reason_text(f"TLS certificate of {where} not trusted: {verdict}")
        if any(isinstance(c, ssl.SSLError) for c in causes):
            return reason_text(f"TLS handshake with {where} failed")
        return reason_text(f"cannot connect to {where}: {exc}")
    if isinstance(exc, httpx.RemoteProtocolError) and "disconnected" in str(exc):
        return reason_text(f"connection closed by {where} without a reply")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return reason_text(f"cannot connect: {exc}")
    detail = str(exc) or type(exc).__name__
    return reason_text(f"network error with {where}: {detail}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it was raised from, exception groups opened."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def _where(exc: httpx.RequestError) -> str:
    """The host (and an explicit port) the failed request went to: never the path
    or query."""
    try:
        url = exc.request.url
    except RuntimeError:  # an error raised without its request
        return "the server"
    return f"{url.host}:{url.port}" if url.port else url.host


def _host(url: str) -> str:
    """The host (and an explicit port) of `url`, never its path or query."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "the server"
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host or "the server"


def _seconds(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g}s"
