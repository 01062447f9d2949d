"""A small framework for fake vendor APIs: real HTTP servers on loopback, for
tests, `loadwatch demo` and benchmarks.

A simulator subclasses `Simulator` and answers `handle(request) -> Reply`. The
base class serves it from a daemon thread, records every request, and lets a
test arm faults (an HTTP error, garbage, a hang, a dropped connection) that
answer the next requests instead of `handle`. Jobs move on a `ScriptedJob`: a
list of steps, each answered for a number of polls (or seconds, for the demo),
so tests are deterministic and never sleep.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

_ERROR_PAGE = "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it."""

    method: str
    path: str  # without the query string
    query: str  # the raw query string, "" when none
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    json: Any  # the body parsed as JSON, None when it is not JSON
    at: float  # time.monotonic() on arrival

    @property
    def params(self) -> dict[str, list[str]]:
        """The query string, parsed."""
        return parse_qs(self.query)


@dataclass(frozen=True)
class Reply:
    """What a simulator answers."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Reply:
        body = json.dumps(payload).encode()
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def html(cls, status: int, text: str | None = None) -> Reply:
        page = text if text is not None else _ERROR_PAGE.format(status=status)
        return cls(status, page.encode(), {"Content-Type": "text/html; charset=utf-8"})


class Fault(ABC):
    """Something that answers a request instead of the simulator."""

    @abstractmethod
    def answer(self, stopping: threading.Event) -> Reply | None:
        """The reply to send, or None to close the connection without one."""


@dataclass(frozen=True)
class HttpError(Fault):
    """Answer with `status`: an HTML error page, as proxies and load balancers do."""

    status: int = 503
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def answer(self, stopping: threading.Event) -> Reply:
        page = Reply.html(self.status, self.body)
        return Reply(page.status, page.body, {**page.headers, **self.headers})


@dataclass(frozen=True)
class Garbage(Fault):
    """Answer 200 with a body that is not the vendor's JSON."""

    body: bytes = b"<html><body>Down for maintenance</body></html>"
    content_type: str = "text/html"
    status: int = 200

    def answer(self, stopping: threading.Event) -> Reply:
        return Reply(self.status, self.body, {"Content-Type": self.content_type})


@dataclass(frozen=True)
class Hang(Fault):
    """Say nothing for `seconds` (or until the simulator stops), then hang up."""

    seconds: float

    def answer(self, stopping: threading.Event) -> None:
        stopping.wait(self.seconds)
        return None


@dataclass(frozen=True)
class Drop(Fault):
    """Close the connection without a reply."""

    def answer(self, stopping: threading.Event) -> None:
        return None


@dataclass(frozen=True)
class Step:
    """One stage of a scripted job: the fields it shows, for `polls` polls, or
    for `seconds` of wall-clock time when set."""

    fields: Mapping[str, Any]
    polls: int = 1
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.polls < 1:
            raise ValueError("a step lasts at least one poll")


class ScriptedJob:
    """A job that moves through its steps as it is polled; the last step holds
    forever."""

    def __init__(
        self,
        steps: Sequence[Step | tuple[Mapping[str, Any], int]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not steps:
            raise ValueError("a scripted job needs at least one step")
        self._steps = [s if isinstance(s, Step) else Step(s[0], s[1]) for s in steps]
        self._clock = clock
        self._lock = threading.Lock()
        self._index = 0
        self._answered_in_step = 0
        self._entered_at = clock()  # timed steps count from the job's creation
        self.polls = 0

    @property
    def step(self) -> int:
        """The index of the step the next poll will see (polls-based steps)."""
        return self._index

    def answer(self) -> dict[str, Any]:
        """The fields for this poll; counts the poll."""
        with self._lock:
            now = self._clock()
            self._skip_elapsed(now)
            step = self._steps[self._index]
            self.polls += 1
            self._answered_in_step += 1
            if step.seconds is None and self._answered_in_step >= step.polls:
                self._move_on(now)
            return dict(step.fields)

    def peek(self) -> dict[str, Any]:
        """The fields a poll would see now, without counting one (for job
        lists, which show a job without moving it on)."""
        with self._lock:
            self._skip_elapsed(self._clock())
            return dict(self._steps[self._index].fields)

    def _skip_elapsed(self, now: float) -> None:
        while not self._at_last_step():
            seconds = self._steps[self._index].seconds
            if seconds is None or now - self._entered_at < seconds:
                return
            entered = self._entered_at + seconds  # steps form a timeline, not poll times
            self._move_on(entered)

    def _move_on(self, now: float) -> None:
        if not self._at_last_step():
            self._index += 1
            self._answered_in_step = 0
            self._entered_at = now

    def _at_last_step(self) -> bool:
        return self._index == len(self._steps) - 1


class RateLimit:
    """At most `limit` requests per fixed `window` seconds; past that, refused
    until the window ends, or for `lockout` seconds when set."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        lockout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start: float | None = None
        self._count = 0
        self._locked_until: float | None = None

    def hit(self) -> float | None:
        """Count one request: None when allowed, else seconds until allowed."""
        with self._lock:
            now = self._clock()
            if self._locked_until is not None:
                if now < self._locked_until:
                    return self._locked_until - now
                self._locked_until = None
                self._window_start = None
            if self._window_start is None or now - self._window_start >= self.window:
                self._window_start, self._count = now, 0
            if self._count < self.limit:
                self._count += 1
                return None
            if self.lockout is not None:
                self._locked_until = now + self.lockout
                return self.lockout
            return self._window_start + self.window - now


class Simulator(ABC):
    """A fake vendor API on 127.0.0.1. Subclasses implement `handle`."""

    base_path: ClassVar[str] = ""  # what `url` adds after host:port, e.g. "/v1"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: deque[tuple[Fault, int]] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Seconds each answer takes (a slower vendor: in-flight requests overlap).
        self.latency = 0.0
        # The same request (same path, query and body: one job's poll) in
        # flight twice at once, counted: two pollers of one job.
        self.overlaps = 0
        self._in_flight: dict[tuple[str, str, bytes], int] = {}

    @abstractmethod
    def handle(self, request: RecordedRequest) -> Reply:
        """The vendor's answer to `request`. Called on a server thread."""

    def start(self) -> Self:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self._address, self)
            name = f"{type(self).__name__}:{self._server.server_port}"
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, hang up open connections and release hanging replies."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL a provider block points at."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self._address[0]}:{self._server.server_port}{self.base_path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Answer the next `times` requests with `fault`, after the faults
        already armed."""
        with self._lock:
            self._faults.append((fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _answer(self, request: RecordedRequest) -> Reply | None:
        key = (request.path, request.query, request.body)
        with self._lock:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            if self._in_flight[key] > 1:
                self.overlaps += 1
        try:
            if self.latency:
                self._stopping.wait(self.latency)
            return self._answer_now(request)
        finally:
            with self._lock:
                self._in_flight[key] -= 1

    def _answer_now(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            self._requests.append(request)
            fault = self._take_fault()
        if fault is not None:
            return fault.answer(self._stopping)
        try:
            return self.handle(request)
        except Exception as exc:
            log.exception("%s failed on %s %s", type(self).__name__, request.method, request.path)
            return Reply(500, f"simulator error: {exc}".encode(), {"Content-Type": "text/plain"})

    def _take_fault(self) -> Fault | None:
        if not self._faults:
            return None
        fault, times = self._faults.popleft()
        if times > 1:
            self._faults.appendleft((fault, times - 1))
        return fault


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        super().__init__(address, _Handler)
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up kept-alive connections, so a stopped simulator answers nothing."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("simulator connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the vendors' servers do
    timeout = 60  # seconds an idle kept-alive connection is held
    # Headers and body leave in two writes; with Nagle on, the client's delayed
    # ACK holds the body back ~40 ms per reply.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        reply = self.server.simulator._answer(self._record())
        if reply is None:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        target = urlsplit(self.path)
        return RecordedRequest(
            method=self.command,
            path=target.path,
            query=target.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            json=_json_or_none(body),
            at=time.monotonic(),
        )

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is `Simulator.requests`


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
