"""Real notification receivers on loopback, for tests that send through Apprise.

Each receiver records what arrives and offers `wait_for(count, timeout)`, which
blocks on a condition variable until that many messages have arrived (no sleep
loops), and `.url`, the Apprise URL that reaches it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import uuid
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

import pytest
from aiosmtpd.controller import Controller

T = TypeVar("T")


class _Inbox(Generic[T]):
    """A list of arrived messages that a test can wait on."""

    def __init__(self) -> None:
        self.messages: list[T] = []
        self._arrived = threading.Condition()

    def add(self, message: T) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[T]:
        """The messages, once at least `count` have arrived; AssertionError after `timeout`."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(
                    f"expected {count} message(s) within {timeout}s, got {len(self.messages)}"
                )
            return list(self.messages)


class JsonReceiver(_Inbox[dict[str, Any]]):
    """An HTTP endpoint for Apprise's json:// service. Records each accepted
    POST body (`{version, title, message, type, attachments}`) and the request
    headers; answers 500 to the first `fail_first` requests."""

    def __init__(self, fail_first: int = 0) -> None:
        super().__init__()
        self.fail_first = fail_first
        self.requests = 0  # every POST, accepted or failed
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver._answer(self, payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"json://127.0.0.1:{self.port}/hook"
        # shutdown() waits for the serve loop's next poll: keep close() quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _answer(self, request: BaseHTTPRequestHandler, payload: dict[str, Any]) -> None:
        with self._arrived:
            self.requests += 1
            failing = self.requests <= self.fail_first
        if not failing:  # recorded before the answer: a sender that saw 200 finds it here
            self.headers.append(dict(request.headers))
            self.add(payload)
        request.send_response(500 if failing else 200)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _EphemeralController(Controller):
    """aiosmtpd's Controller on port 0: learns the port the OS chose before its
    readiness check connects to it."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpReceiver(_Inbox[EmailMessage]):
    """A plain SMTP server (no TLS, no AUTH) for Apprise's mailto://. Records
    each mail as a parsed EmailMessage."""

    def __init__(self) -> None:
        super().__init__()
        self._controller = _EphemeralController(self, hostname="127.0.0.1", port=0)
        self._controller.start()
        self.port = self._controller.port
        # No user:pass: with credentials Apprise tries AUTH, which this server refuses.
        self.url = f"mailto://127.0.0.1:{self.port}?from=loadwatch@example.test&to=ops@example.test"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.add(message)
        return "250 OK"

    def close(self) -> None:
        self._controller.stop()


MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


class MqttReceiver(_Inbox[str]):
    """A subscriber on the local MQTT broker, on a topic of its own. Records
    each payload as text. Skips the test when no broker listens on 1883."""

    def __init__(self) -> None:
        super().__init__()
        import paho.mqtt.client as mqtt

        _skip_unless_listening(MQTT_HOST, MQTT_PORT)
        self.topic = f"loadwatch-test/{uuid.uuid4().hex}"
        self.url = f"mqtt://{MQTT_HOST}:{MQTT_PORT}/{self.topic}?qos=1"
        subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self._client.on_connect = lambda client, *_: client.subscribe(self.topic, qos=1)
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = lambda _client, _data, message: self.add(message.payload.decode())
        self._client.connect(MQTT_HOST, MQTT_PORT)
        self._client.loop_start()
        # Apprise publishes without retain: a message sent before the
        # subscription is in place would be lost.
        if not subscribed.wait(5.0):
            self.close()
            raise AssertionError(f"could not subscribe to {self.topic} within 5s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _skip_unless_listening(host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        pytest.skip(f"no MQTT broker listens on {host}:{port} (start mosquitto to run this test)")
