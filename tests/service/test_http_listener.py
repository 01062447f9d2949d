"""The HTTP listener against clients that misbehave: bursts of connections,
dripped and truncated bodies, unknown methods, hostile JSON, bad names.
Every answer is JSON; bad input is never a 500; no client holds a thread."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import socket
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import load_config
from monitor.service import http as listener_module
from monitor.service.api import Api
from monitor.service.health import HealthCheck as Health
from monitor.service.health import Heartbeat
from monitor.service.http import HttpListener
from monitor.service.metrics import Metrics
from monitor.store.store import Store, WatchSpec
from tests.hostile import any_json

TOKEN = "listener-test-token-7f3a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class AlwaysBeating(Heartbeat):
    """A heartbeat with no loop behind it that never counts as silent."""

    def silent_for(self) -> float:
        return 0.0


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpListener]:
    monkeypatch.setattr(listener_module, "BODY_SECONDS", 1.0)
    monkeypatch.setattr(listener_module, "HEAD_SECONDS", 1.0)
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            database: sqlite:///{tmp_path / "db.sqlite"}
            http: {{listen: "127.0.0.1:0", token: {TOKEN}}}
            providers:
              hr: {{type: kpa_flex, base_url: "http://127.0.0.1:9", token: kpa-token-xyz}}
            notifiers:
              team: {{urls: ["json://127.0.0.1:9/hook"]}}
            watches: []
            """
        )
    )
    config = load_config(path, environ={})
    store = Store(config.database)
    store.upgrade()
    added: list[WatchSpec] = []

    def add_watch(spec: WatchSpec) -> bool:
        added.append(spec)
        return True

    api = Api(
        config=lambda: config,
        store=store,
        health=Health(AlwaysBeating(), lambda: True, lambda: False, store.ping),
        metrics=Metrics(store, loop_lag=lambda: 0.0),
        add_watch=add_watch,
        remove_watch=lambda name: False,
        now=lambda: datetime.now(UTC),
    )
    server = HttpListener("127.0.0.1", 0, api)
    server.start()
    yield server
    server.close()
    store.close()


def raw_exchange(port: int, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        connection.sendall(data)
        chunks = []
        while True:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_and_json(reply: bytes) -> tuple[int, Any]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head, head
    return status, json.loads(body)


def test_a_burst_of_parallel_requests_gets_answered_not_reset(listener: HttpListener) -> None:
    def get(_: int) -> int:
        with httpx.Client(timeout=20) as client:
            answer = client.get(f"{listener.url}/healthz")
            assert answer.status_code == 200, answer.text
            return answer.status_code

    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        statuses = list(pool.map(get, range(200)))
    assert statuses == [200] * 200


def test_a_body_shorter_than_its_length_costs_the_body_deadline_not_the_thread(
    listener: HttpListener,
) -> None:
    started = time.monotonic()
    reply = raw_exchange(
        listener.port,
        b'POST /api/watches HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"job"',
    )
    took = time.monotonic() - started
    assert status_and_json(reply) == (408, {"error": "the body did not arrive within 1s"})
    assert took < 4.0  # the connection timeout (10 s) and the old 30 s are far off


def test_headers_dripped_slowly_cost_the_head_deadline_not_the_thread(
    listener: HttpListener,
) -> None:
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as connection:
        started = time.monotonic()
        closed_after = None
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 100:
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                closed_after = time.monotonic() - started
                break
            time.sleep(0.05)  # the drip itself: each byte well within the idle timeout
            if time.monotonic() - started > 4:
                break
        if closed_after is None:
            connection.settimeout(5)
            with contextlib.suppress(ConnectionResetError):  # a reset is a hang-up too
                assert connection.recv(100) == b""  # the listener hung up
            closed_after = time.monotonic() - started
    assert closed_after < 4.0  # HEAD_SECONDS is 1 here; the idle timeout alone would never


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "BREW", "TRACE"])
def test_every_method_gets_a_json_answer(listener: HttpListener, method: str) -> None:
    reply = raw_exchange(
        listener.port,
        f"{method} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    status, body = status_and_json(reply)
    assert status == 405
    assert "error" in body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n" + b"X-Long: y\r\n" * 200 + b"\r\n",
        b"POST /api/watches HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /api/watches HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    ],
    ids=["garbage", "version", "long URL", "many headers", "huge length", "negative length"],
)
def test_malformed_requests_get_json_errors(listener: HttpListener, request_bytes: bytes) -> None:
    status, body = status_and_json(raw_exchange(listener.port, request_bytes))
    assert 400 <= status < 500 or status == 505  # 505: HTTP Version Not Supported
    assert isinstance(body["error"], str)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000 + b"]" * 30_000,
        b'{"provider": "hr", "job": ' + b"9" * 5000 + b"}",
        b'{"provider": "hr", "job": NaN}',
        b'{"provider": "hr", "job": "1", "name": "' + b"\\ud800" + b'"}',
        b"\xff\xfe\x00",
        b'{"provider": "hr", "job": 1e999}',
    ],
    ids=["deep", "5000 digits", "NaN", "surrogate", "not UTF-8", "1e999"],
)
def test_hostile_json_is_a_400_never_a_500(listener: HttpListener, body: bytes) -> None:
    answer = httpx.post(f"{listener.url}/api/watches", content=body, headers=AUTH, timeout=10)
    assert answer.status_code == 400, answer.text
    assert "error" in answer.json()


@pytest.mark.parametrize(
    "name", [".", "..", "-rf", "../etc", "a/b", "a b", "x" * 201, "new\nline", "", "\u202eevil"]
)
def test_bad_watch_names_are_refused(listener: HttpListener, name: str) -> None:
    answer = httpx.post(
        f"{listener.url}/api/watches",
        json={"provider": "hr", "job": "42", "name": name},
        headers=AUTH,
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    assert "\n" not in answer.json()["error"]


@pytest.mark.parametrize("job", ["1\n2", "\x1b[2J", "x" * 501, "a\u202eb"])
def test_job_ids_that_cannot_be_stored_are_refused(listener: HttpListener, job: str) -> None:
    answer = httpx.post(
        f"{listener.url}/api/watches", json={"provider": "hr", "job": job}, headers=AUTH, timeout=10
    )
    assert answer.status_code == 400, answer.text


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        any_json.map(lambda value: json.dumps(value).encode()),
        st.fixed_dictionaries(
            {"provider": st.sampled_from(["hr", "nope"])},
            optional={"job": any_json, "name": any_json, "notify": any_json},
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_any_body_posted_gets_a_json_answer_that_is_not_a_500(
    listener: HttpListener, body: bytes
) -> None:
    answer = httpx.post(f"{listener.url}/api/watches", content=body, headers=AUTH, timeout=10)
    assert answer.status_code in (201, 400, 409), answer.text
    assert isinstance(answer.json(), dict)
