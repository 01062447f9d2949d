"""Sending one message to one Apprise URL, against real receivers on loopback."""

from __future__ import annotations

import socket

from monitor import redact
from monitor.notify.delivery import DeliveryResult, deliver, display_url, url_key
from tests.receivers import JsonReceiver, MqttReceiver, SmtpReceiver


async def test_json_delivery_reaches_the_receiver(json_receiver: JsonReceiver) -> None:
    result = await deliver(json_receiver.url, "hr-nightly failed", "job: 42", "failure")

    assert result.ok and result.error is None
    [payload] = json_receiver.wait_for(1)
    assert payload["title"] == "hr-nightly failed"
    assert payload["message"] == "job: 42"
    assert payload["type"] == "failure"


async def test_notify_type_travels_with_the_message(json_receiver: JsonReceiver) -> None:
    assert (await deliver(json_receiver.url, "catalog succeeded", "ok", "success")).ok
    assert json_receiver.wait_for(1)[0]["type"] == "success"


async def test_server_error_is_a_failed_delivery_without_the_password() -> None:
    receiver = JsonReceiver(fail_first=1)
    try:
        url = f"json://user:s3cr3tpass@127.0.0.1:{receiver.port}/hook"
        result = await deliver(url, "hr-nightly failed", "job: 42", "failure")
        retried = await deliver(url, "hr-nightly failed", "job: 42", "failure")
    finally:
        receiver.close()

    assert not result.ok
    assert result.error is not None and "500" in result.error
    assert "s3cr3tpass" not in result.error
    assert retried.ok
    assert receiver.requests == 2 and len(receiver.messages) == 1


async def test_unreachable_receiver_is_a_failed_delivery() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await deliver(f"json://127.0.0.1:{port}/hook", "t", "b", "info")
    assert not result.ok
    assert result.error is not None and "connection error" in result.error.lower()


async def test_invalid_url_is_a_failed_delivery() -> None:
    result = await deliver("nosuchservice://user:pw@host/x", "t", "b", "info")
    assert result == DeliveryResult(ok=False, error="invalid Apprise URL")


async def test_mail_delivery_uses_the_title_as_subject(smtp_receiver: SmtpReceiver) -> None:
    result = await deliver(smtp_receiver.url, "hr-nightly failed", "job: 42", "failure")

    assert result.ok, result.error
    [mail] = smtp_receiver.wait_for(1)
    assert mail["Subject"] == "hr-nightly failed"
    assert mail["To"] == "ops@example.test"
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None and "job: 42" in text.get_content()


async def test_mqtt_delivery_reaches_the_subscriber(mqtt_receiver: MqttReceiver) -> None:
    result = await deliver(mqtt_receiver.url, "hr-nightly failed", "job: 42", "failure")

    assert result.ok, result.error
    [payload] = mqtt_receiver.wait_for(1)
    assert "job: 42" in payload


def test_display_url_hides_the_password() -> None:
    shown = display_url("json://user:s3cr3tpass@127.0.0.1:8080/hook")
    assert shown == "json://user:****@127.0.0.1:8080/hook"


def test_display_url_masks_a_secret_registered_after_the_url_was_first_shown() -> None:
    """The URL's shown form is made once per URL; the masking of registered
    secrets is not, so a token the config registers later is masked too."""
    url = "json://127.0.0.1:8080/hook/tok-ab12cd34ef"
    before = display_url(url)
    redact.add_secret("tok-ab12cd34ef")
    after = display_url(url)
    assert "tok-ab12cd34ef" in before and "tok-ab12cd34ef" not in after
    assert after == before.replace("tok-ab12cd34ef", "***")


def test_display_url_keeps_only_the_query_the_user_wrote() -> None:
    shown = display_url("mailto://127.0.0.1:2525?from=lw@example.test&to=ops@example.test")
    assert "from=lw%40example.test" in shown
    assert "retry=" not in shown and "overflow=" not in shown


def test_display_url_of_an_unreadable_url_shows_only_the_scheme() -> None:
    assert display_url("nosuchservice://user:pw@host/x") == "nosuchservice://***"
    assert display_url("not a url pw") == "***"


def test_url_key_is_short_stable_and_distinct() -> None:
    first = url_key("json://127.0.0.1:8080/hook")
    assert first == url_key("json://127.0.0.1:8080/hook")
    assert len(first) == 16 and int(first, 16) >= 0
    assert first != url_key("json://127.0.0.1:8081/hook")
