"""Both transports under httpx (aiohttp's, the default, and httpx's own) say
the same thing about the same broken server, and keep no cookies: against
real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.providers.base import FailureKind, PollFailure, ProviderSettings
from monitor.providers.http import make_client, request
from monitor.providers.transport import ENV
from monitor.simulators.base import RecordedRequest, Reply, Simulator

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=["aiohttp", "httpx"])
async def client(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv(ENV, request.param)
    async with make_client(ProviderSettings(type="test", base_url="", timeout=2)) as c:
        yield c


async def failure_of(client: httpx.AsyncClient, url: str) -> PollFailure:
    with pytest.raises(PollFailure) as failure:
        await request(client, "GET", url)
    return failure.value


async def serving(serve: Serve, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


class CookieSetter(Simulator):
    """Sets a session cookie on every reply."""

    def handle(self, request: RecordedRequest) -> Reply:
        return Reply.json({"ok": True}, headers={"Set-Cookie": "AWSALB=sticky-abc; Path=/"})


async def test_a_cookie_the_vendor_sets_is_not_sent_back(client: httpx.AsyncClient) -> None:
    with CookieSetter() as vendor:
        for _ in range(3):
            response = await request(client, "GET", f"{vendor.url}/job/1")
            assert response.headers["set-cookie"].startswith("AWSALB=")
        asked = vendor.requests
    assert len(asked) == 3
    assert all("cookie" not in seen.headers for seen in asked)
    assert not client.cookies


async def test_credentials_written_in_the_url_go_as_basic_auth(
    client: httpx.AsyncClient,
) -> None:
    """aiohttp refuses a URL with credentials beside httpx's Authorization
    header built from them; both transports send the header alone."""
    with CookieSetter() as vendor:
        await request(client, "GET", vendor.url.replace("http://", "http://ops:pa55@") + "/x")
        (seen,) = vendor.requests
    assert seen.headers["authorization"] == httpx.BasicAuth("ops", "pa55")._auth_header


def test_a_client_refuses_cookies_it_would_not_keep() -> None:
    client = make_client(ProviderSettings(type="test", base_url=""))
    with pytest.raises(ValueError, match="no cookies"):
        client.cookies = {"session": "x"}


async def test_a_reply_that_is_not_http_is_a_network_failure(client: httpx.AsyncClient) -> None:
    async def ssh_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        writer.close()

    async with await serving(ssh_banner) as server:
        port = port_of(server)
        failure = await failure_of(client, f"http://127.0.0.1:{port}/v1")
    assert failure.kind is FailureKind.NETWORK
    assert failure.reason.startswith(f"network error with 127.0.0.1:{port}")


async def test_a_body_cut_short_is_a_network_failure(client: httpx.AsyncClient) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"state": ')
        await writer.drain()
        writer.close()

    async with await serving(cut) as server:
        port = port_of(server)
        failure = await failure_of(client, f"http://127.0.0.1:{port}/v1")
    assert failure.kind is FailureKind.NETWORK
    assert failure.reason.startswith(f"network error with 127.0.0.1:{port}")


async def test_a_server_that_accepts_and_says_nothing_is_a_timeout(
    client: httpx.AsyncClient,
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up

    settings = ProviderSettings(type="test", base_url="", timeout=0.3)
    async with await serving(silent) as server, make_client(settings) as quick:
        port = port_of(server)
        failure = await failure_of(quick, f"http://127.0.0.1:{port}/v1")
    assert (failure.kind, failure.reason) == (
        FailureKind.TIMEOUT,
        f"timeout after 0.3s waiting for 127.0.0.1:{port}",
    )


async def test_a_closed_port_is_connection_refused(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failure = await failure_of(client, f"http://127.0.0.1:{port}/v1")
    assert (failure.kind, failure.reason) == (
        FailureKind.NETWORK,
        f"connection refused by 127.0.0.1:{port}",
    )


async def test_a_certificate_nobody_signed_is_not_trusted(
    client: httpx.AsyncClient, self_signed: ssl.SSLContext
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await reader.read()

    async with await serving(answer, self_signed) as server:
        port = port_of(server)
        failure = await failure_of(client, f"https://127.0.0.1:{port}/v1")
    assert failure.kind is FailureKind.NETWORK
    assert failure.reason.startswith(f"TLS certificate of 127.0.0.1:{port} not trusted")


async def test_a_url_that_is_not_http_is_refused_before_any_connection(
    client: httpx.AsyncClient,
) -> None:
    failure = await failure_of(client, "ftp://127.0.0.1/jobs")
    assert failure.kind is FailureKind.NETWORK
    assert failure.reason.startswith("cannot connect:")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ssl.SSLContext]:
    """A TLS server context with a certificate for 127.0.0.1 that no CA signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    yield context


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"", id="headers"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n", id="body"),
    ],
)
async def test_a_server_that_drips_is_cut_off_at_the_timeout_in_total(
    client: httpx.AsyncClient, head: bytes
) -> None:
    """A byte every 50 ms restarts a read timeout every time; the whole
    exchange still ends at the client's timeout (here 0.5 s)."""
    drip = head or b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 4000

    async def dripping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if head:
            writer.write(head)
        for byte in drip if not head else b"{" * 4000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    settings = ProviderSettings(type="test", base_url="", timeout=0.5)
    loop = asyncio.get_running_loop()
    async with await serving(dripping) as server, make_client(settings) as quick:
        port = port_of(server)
        started = loop.time()
        failure = await failure_of(quick, f"http://127.0.0.1:{port}/v1")
        took = loop.time() - started
    assert failure.kind is FailureKind.TIMEOUT
    assert failure.reason == f"timeout after 0.5s waiting for 127.0.0.1:{port}"
    assert took < 3.0  # ended by the deadline, not by the 200 s the server would drip


async def test_a_request_leaves_no_reference_cycles(client: httpx.AsyncClient) -> None:
    """At 1,000 polls a second, garbage only the cycle collector can free
    makes it run over the whole heap many times a second: a poll's request
    must leave none (the daemon raises the collector's threshold on that basis)."""
    with CookieSetter() as vendor:
        for _ in range(3):  # the pool's connection and caches, made once
            await request(client, "GET", f"{vendor.url}/job/1")
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(5):
                response = await request(client, "GET", f"{vendor.url}/job/1")
                assert response.json() == {"ok": True}
            del response
            gc.collect()
            left = [type(thing).__qualname__ for thing in gc.garbage]
        finally:
            gc.garbage.clear()
            gc.set_debug(0)
            gc.enable()
    assert left == []
