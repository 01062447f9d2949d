"""The optional HTTP listener (`http.listen`): the standard library's threading
server, on threads of its own beside the event loop.

Why threads and not the event loop: /healthz must still answer — 503, saying
so — when the loop is stuck, which a server on that loop cannot do; and the
store the endpoints read is synchronous anyway. Only POST /api/watches needs
the loop, and hands its work over (see ServiceRuntime.add_watch).
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor import __version__
from monitor.problems import StartupProblem
from monitor.service.api import MAX_BODY_BYTES, Api, Response

log = logging.getLogger(__name__)

_CONNECTION_TIMEOUT = 30.0  # a client that sends nothing for this long is dropped


class HttpListener:
    """Serves `api` on `host:port` until closed."""

    def __init__(self, host: str, port: int, api: Api) -> None:
        self._address = (host, port)
        self._api = api
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve; raises StartupProblem when the address cannot be had."""
        try:
            server = _Server(self._address, _Handler, self._api)
        except OSError as error:
            reason = error.strerror or str(error)
            raise StartupProblem(
                f"cannot listen on {self.url} (http.listen): {reason.lower()};"
                " is another loadwatch running? choose another port or remove `http:`"
            ) from None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="loadwatch-http"
        )
        self._thread.daemon = True
        self._thread.start()
        log.info("HTTP listening on %s", self.url)

    @property
    def port(self) -> int:
        if self._server is None:
            return self._address[1]
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._address[0]
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def close(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow client never holds up shutdown

    def __init__(self, address: tuple[str, int], handler: Any, api: Api) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive for Prometheus' scrapes
    server_version = f"loadwatch/{__version__}"
    sys_version = ""
    timeout = _CONNECTION_TIMEOUT

    def do_GET(self) -> None:
        self._answer(b"")

    do_HEAD = do_GET  # answered like GET; _send leaves the body out

    def do_DELETE(self) -> None:
        if self.headers.get("Content-Length", "0") != "0":
            self._send(Response.error(400, "DELETE takes no body"), close=True)
            return
        self._answer(b"")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(Response.error(411, "a Content-Length is required"), close=True)
            return
        if int(length) > MAX_BODY_BYTES:
            self._send(Response.error(413, f"the body is over {MAX_BODY_BYTES} bytes"), close=True)
            return
        self._answer(self.rfile.read(int(length)))

    def _answer(self, body: bytes) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        # The whole target: the read API takes query parameters.
        self._send(self.server.api.handle(self.command, self.path, headers, body))

    def _send(self, response: Response, close: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        # Access lines at debug level: a scrape every 15 s is not news.
        log.debug("HTTP %s %s", self.address_string(), format % args)
