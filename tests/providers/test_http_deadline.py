"""One total deadline per request, headers included: a server on 127.0.0.1
that sends its status line and headers a byte every half second costs a poll
no more than the provider's timeout, for every provider type."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from monitor.providers.base import FailureKind, PollFailure, ProviderSettings
from monitor.providers.http import make_client, request
from monitor.providers.registry import provider_class

TIMEOUT = 1.0
DRIP_SECONDS = 0.5
HEADERS = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)


class SlowHeaderServer:
    """A raw TCP server that reads a request, then drips its reply a byte at a time."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> SlowHeaderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                for byte in HEADERS:
                    if self._closing.wait(DRIP_SECONDS):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up: that is the point


@pytest.fixture
def slow_server() -> Iterator[SlowHeaderServer]:
    with SlowHeaderServer() as server:
        yield server


async def test_headers_dripped_slowly_cost_no_more_than_the_timeout(
    slow_server: SlowHeaderServer,
) -> None:
    settings = ProviderSettings(type="test", base_url="", timeout=TIMEOUT)
    async with make_client(settings) as client:
        started = time.monotonic()
        with pytest.raises(PollFailure) as raised:
            await request(client, "GET", f"http://127.0.0.1:{slow_server.port}/job")
        took = time.monotonic() - started
    assert raised.value.kind is FailureKind.TIMEOUT
    assert raised.value.reason == f"timeout after 1s waiting for 127.0.0.1:{slow_server.port}"
    assert took < 3 * TIMEOUT  # the drip would take 40 s; slack for a loaded machine


PROVIDER_BLOCKS = {
    "kpa_flex": {"token": "t0ken-value"},
    "comestri": {"token": "t0ken-value"},
    "fullstory": {"api_key": "t0ken-value"},
    "rocketchat": {"user_id": "u", "auth_token": "t0ken-value"},
    "incorta": {"tenant": "t", "token": "t0ken-value"},
    "http_json": {
        "request": {"url": "/jobs/{job}"},
        "status": "status",
        "rules": [{"when": "status == 'done'", "state": "succeeded"}],
    },
}


@pytest.mark.parametrize("provider_type", sorted(PROVIDER_BLOCKS))
async def test_every_provider_type_is_cut_off_at_its_timeout(
    slow_server: SlowHeaderServer, provider_type: str
) -> None:
    cls = provider_class(provider_type)
    block = {
        "type": provider_type,
        "base_url": f"http://127.0.0.1:{slow_server.port}",
        "timeout": TIMEOUT,
        **PROVIDER_BLOCKS[provider_type],
    }
    settings = cls.settings_model.model_validate(block)
    async with make_client(settings) as client:
        provider = cls("slow", settings, client)
        started = time.monotonic()
        with pytest.raises(PollFailure) as raised:
            await provider.poll("42")
        took = time.monotonic() - started
    assert raised.value.kind is FailureKind.TIMEOUT, raised.value.reason
    # Providers that sign in first (Incorta, FullStory) make more than one
    # request, each with its own deadline; none may take the drip's 40 s.
    assert took < 3 * TIMEOUT
