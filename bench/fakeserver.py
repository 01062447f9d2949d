"""A fast fake KPA Flex endpoint and a json:// receiver, in a process of their own.

Answers `POST /dataload.info` like KPA Flex (a job stays `dataloading` until
its end time, then `dataloaded`) on a bare asyncio protocol, so that the
server is never what limits a benchmark: it reports its own CPU time. It
counts requests per job, notes when two requests for one job overlap (two
pollers at once), notes when each job first answered as ended, and receives
the daemon's json:// notifications, noting when each job's arrived.

    GET /stats   -> {"requests", "cpu", "overlaps", "per_job", "last_at", "ended", "delivered"}
    POST /end    -> {"jobs": [...], "at": epoch} end these jobs at that time
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import resource
import time
from collections import Counter
from typing import Any

TOKEN = "bench-token-0000"


class _State:
    def __init__(self) -> None:
        self.requests = 0
        self.per_job: Counter[str] = Counter()
        self.last_at: dict[str, float] = {}  # job -> when it was last asked about
        self.in_flight: Counter[str] = Counter()
        self.overlaps = 0
        self.end_at: dict[str, float] = {}
        self.ended: dict[str, float] = {}  # job -> first time it answered as ended
        self.delivered: dict[str, float] = {}  # job -> first notification's arrival

    def answer(self, path: str, body: bytes) -> bytes:
        if path == "/dataload.info":
            return self._dataload(body)
        if path == "/stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return json.dumps(
                {
                    "requests": self.requests,
                    "cpu": usage.ru_utime + usage.ru_stime,
                    "overlaps": self.overlaps,
                    "per_job": self.per_job,
                    "last_at": self.last_at,
                    "ended": self.ended,
                    "delivered": self.delivered,
                }
            ).encode()
        if path == "/end":
            order = json.loads(body)
            for job in order["jobs"]:
                self.end_at[job] = order["at"]
            return b"{}"
        if path == "/notify":  # Apprise json://: the job id is in the message
            message = json.loads(body).get("message", "")
            for job in re.findall(r"job-\d+", message):
                self.delivered.setdefault(job, time.time())
            return b"{}"
        return b'{"ok": false, "error": "api_method_not_found"}'

    def _dataload(self, body: bytes) -> bytes:
        self.requests += 1
        payload = json.loads(body)
        job = payload.get("id", "")
        self.per_job[job] += 1
        now = time.time()
        self.last_at[job] = now
        if now >= self.end_at.get(job, float("inf")):
            self.ended.setdefault(job, now)
            status = "dataloaded"
        else:
            status = "dataloading"
        return json.dumps(
            {"ok": True, "dataload": {"id": job, "status": status, "created": 1700000000000}}
        ).encode()


class _Protocol(asyncio.Protocol):
    def __init__(self, state: _State, delay: float) -> None:
        self._state = state
        self._delay = delay
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self._buffer[:head_end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self._buffer) < head_end + 4 + length:
                return
            body = self._buffer[head_end + 4 : head_end + 4 + length]
            self._buffer = self._buffer[head_end + 4 + length :]
            path = head[0].split(" ")[1]
            if self._delay and path == "/dataload.info":
                job = json.loads(body).get("id", "")
                self._state.in_flight[job] += 1
                if self._state.in_flight[job] > 1:
                    self._state.overlaps += 1
                loop = asyncio.get_running_loop()
                loop.call_later(self._delay, self._reply_later, path, body, job)
            else:
                self._reply(self._state.answer(path, body))

    def _reply_later(self, path: str, body: bytes, job: str) -> None:
        self._state.in_flight[job] -= 1
        self._reply(self._state.answer(path, body))

    def _reply(self, content: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(content)}\r\n\r\n"
        )
        self._transport.write(head.encode() + content)


def serve(ready: Any, stop: Any, delay: float) -> None:
    """Run the server until `stop` is set; put its port on `ready`."""

    async def main() -> None:
        state = _State()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Protocol(state, delay), "127.0.0.1", 0, backlog=1024
        )
        ready.put(server.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.2)
        server.close()

    asyncio.run(main())


class FakeServer:
    """The server in its own process, for a `with` block."""

    def __init__(self, delay: float = 0.0) -> None:
        self._ready: multiprocessing.Queue[int] = multiprocessing.Queue()
        self._stop = multiprocessing.Event()
        self._process = multiprocessing.Process(
            target=serve, args=(self._ready, self._stop, delay), daemon=True
        )
        self.url = ""

    def __enter__(self) -> FakeServer:
        self._process.start()
        self.url = f"http://127.0.0.1:{self._ready.get(timeout=10)}"
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()

    def stats(self) -> dict[str, Any]:
        return _post_json(f"{self.url}/stats", {})

    def end_jobs(self, jobs: list[str], at: float) -> None:
        _post_json(f"{self.url}/end", {"jobs": jobs, "at": at})


def _post_json(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result
