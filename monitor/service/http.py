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
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor import __version__
from monitor.problems import StartupProblem
from monitor.providers.sanitize import escape_controls as escape_text
from monitor.service.api import MAX_BODY_BYTES, Api, Response

log = logging.getLogger(__name__)

_CONNECTION_TIMEOUT = 10.0  # a client that sends nothing for this long is dropped
BODY_SECONDS = 5.0  # the whole body must arrive within this, however it is dripped
HEAD_SECONDS = 10.0  # the request line and headers likewise, counted from the wait's start
BACKLOG = 128  # connections the kernel queues while every thread is busy
MAX_URL_CHARS = 2048
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")


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
    request_queue_size = BACKLOG  # socketserver's default of 5 resets bursts of scrapes

    def __init__(self, address: tuple[str, int], handler: Any, api: Api) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive for Prometheus' scrapes
    # An unreadable request line still gets a status line and headers, not
    # HTTP/0.9's bare body.
    default_request_version = "HTTP/1.0"
    server_version = f"loadwatch/{__version__}"
    sys_version = ""
    timeout = _CONNECTION_TIMEOUT

    def handle_one_request(self) -> None:
        """One request, its line and headers within HEAD_SECONDS in all: the
        socket timeout alone restarts with every byte a slow client drips."""
        plain = self.rfile
        self.rfile = _Deadline(plain, self.connection, time.monotonic() + HEAD_SECONDS)  # type: ignore[assignment]
        try:
            super().handle_one_request()
        finally:
            self.rfile = plain
            self.connection.settimeout(self.timeout)

    def do_GET(self) -> None:
        self._answer(b"")

    def do_HEAD(self) -> None:
        self._answer(b"", method="GET")  # _send leaves the body out

    def do_DELETE(self) -> None:
        if self.headers.get("Content-Length", "0") != "0":
            self._any_other_method()  # the body is not read: answered, then closed
            return
        self._answer(b"")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(Response.error(411, "a Content-Length is required"), close=True)
            return
        if len(length) > 12 or int(length) > MAX_BODY_BYTES:
            self._send(Response.error(413, f"the body is over {MAX_BODY_BYTES} bytes"), close=True)
            return
        body = self._read_body(int(length))
        if body is None:
            self._send(
                Response.error(408, f"the body did not arrive within {BODY_SECONDS:g}s"),
                close=True,
            )
            return
        self._answer(body)

    def _any_other_method(self) -> None:
        """Methods no route takes: the API's own JSON 405 (or 404). The body,
        if any, is never read: the connection closes after the answer, so
        it cannot be taken for the next request."""
        self.close_connection = True
        self._answer(b"")

    do_PUT = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _any_other_method

    def _read_body(self, length: int) -> bytes | None:
        """`length` bytes of body, or None when they do not all arrive within
        BODY_SECONDS (a client that declares more than it sends must not
        hold a thread for the connection timeout, let alone for ever)."""
        deadline = time.monotonic() + BODY_SECONDS
        chunks: list[bytes] = []
        received = 0
        try:
            while received < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(length - received, 65536))
                if not chunk:
                    return None  # the client closed early
                chunks.append(chunk)
                received += len(chunk)
        except TimeoutError:
            return None
        finally:
            self.connection.settimeout(self.timeout)
        return b"".join(chunks)

    def _answer(self, body: bytes, method: str | None = None) -> None:
        if len(self.path) > MAX_URL_CHARS:
            self._send(Response.error(414, f"the URL is over {MAX_URL_CHARS} characters"))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        # The whole target: the read API takes query parameters.
        self._send(self.server.api.handle(method or self.command, self.path, headers, body))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the standard library raises itself (a bad request line,
        headers too long, a method it cannot parse) as JSON, like the API's."""
        try:
            reason = message or HTTPStatus(code).phrase
        except ValueError:
            reason = "error"
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command not in _METHODS:
            if getattr(self, "path", None):  # a method of its own: the routes answer (405, Allow)
                self._any_other_method()
                return
            code, reason = 405, f"method not allowed: {escape_text(self.command or '')[:40]}"
        self.close_connection = True
        self._send(Response.error(code, escape_text(reason)), close=True)

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
        log.debug("HTTP %s %s", self.address_string(), escape_text(format % args))


class _Deadline:
    """The request's input stream, whose line reads (request line, headers)
    share one deadline; other reads (the body, with its own) pass through."""

    def __init__(self, stream: Any, connection: socket.socket, deadline: float) -> None:
        self._stream = stream
        self._connection = connection
        self._deadline = deadline

    def readline(self, limit: int = -1) -> bytes:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request line and headers too slow")
        self._connection.settimeout(left)
        return bytes(self._stream.readline(limit))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
