"""A vendor's poison values never silence a job: each class of value that
used to make the poll's write fail (or the parse crash) still ends in an
announcement, its terminal event or `unreachable` with the reason, on SQLite
and PostgreSQL. A runaway template still lets the message out."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from monitor.store.store import Store
from tests.e2e.vendor import ScriptedBytes, vendor_config
from tests.harness import running

RUNNING = b'{"status": "running", "progress": 0.5}'


def done(**fields: object) -> bytes:
    return json.dumps({"status": "done", **fields}).encode()


# Each class of poison, and what must be announced for it.
SUCCEEDS = {
    "int beyond 64 bits": b'{"status": "done", "processed": 100000000000000000000000000000}',
    "negative huge int": b'{"status": "done", "errors": -99999999999999999999999999}',
    "NUL in text": done(message="bad\u0000byte", history="a\u0000b"),
    "lone surrogate": b'{"status": "done", "message": "half \\ud800 pair"}',
    "ANSI escapes": done(message="\x1b[2J\x1b[31mred alert\x1b[0m", failed_parts=["\x1b]0;x\x07"]),
    "text longer than its column": done(message="m" * 50_000, failed_parts=["c" * 5000] * 500),
    "deep details": done(history=[[[[[[[[[[["deep"]]]]]]]]]]]),
    "progress out of range": b'{"status": "done", "progress": 1e308}',
}
UNREACHABLE = {  # the reason that must be in the message
    "status word longer than its column": (
        done(status="s" * 5000).replace(b'"status": "done", ', b""),
        "unrecognized status",
    ),
    "NaN": (b'{"status": "done", "progress": NaN}', "NaN is not a JSON number"),
    "Infinity": (b'{"status": "done", "processed": Infinity}', "Infinity is not a JSON number"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "5000-digit number": (b'{"status": "done", "processed": ' + b"9" * 5000 + b"}", "digits"),
    "wrong shape": (b'["done"]', "no status at"),
}


@pytest.fixture
def vendor() -> Iterator[ScriptedBytes]:
    with ScriptedBytes() as simulator:
        yield simulator


def announced(receiver_messages: list[dict], count: int):
    def check(store: Store) -> bool:
        return len(receiver_messages) >= count

    return check


async def test_every_class_of_poison_value_still_ends_in_an_announcement(
    tmp_path, database_url, vendor, json_receiver
):
    names = [*SUCCEEDS, *UNREACHABLE]
    for index, name in enumerate(names):
        final = SUCCEEDS[name] if name in SUCCEEDS else UNREACHABLE[name][0]
        vendor.add_job(str(index), RUNNING, final)
    config = vendor_config(tmp_path, database_url, vendor, json_receiver.url, [
        str(index) for index in range(len(names))
    ])  # fmt: skip

    async with running(config) as daemon:
        assert await daemon.wait_until(announced(json_receiver.messages, len(names)), timeout=60)

    titles = {message["title"]: message for message in json_receiver.messages}
    for index, name in enumerate(names):
        if name in SUCCEEDS:
            assert f"job-{index} succeeded" in titles, name
        else:
            message = titles.get(f"job-{index} unreachable")
            assert message is not None, name
            assert UNREACHABLE[name][1] in message["message"], (name, message["message"])
    for message in json_receiver.messages:
        assert "\x1b" not in message["message"] and "\x00" not in message["message"]


async def test_a_runaway_template_still_lets_the_message_out_and_polling_go_on(
    tmp_path, database_url, vendor, json_receiver, caplog
):
    # Nothing in its shape gives it away to `check`: it takes 2^40 calls.
    runaway = (
        "    body: >-\n"
        "      {% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}\n"
        "      {{ f(40) }}\n"
    )
    vendor.add_job("1", RUNNING, done())
    vendor.add_job("2", RUNNING, RUNNING, RUNNING, done())
    config = vendor_config(
        tmp_path, database_url, vendor, json_receiver.url, ["1", "2"], notifier_extra=runaway
    )
    async with running(config) as daemon:
        assert await daemon.wait_until(announced(json_receiver.messages, 2), timeout=30)

    assert sorted(m["title"] for m in json_receiver.messages) == [
        "job-0 succeeded",
        "job-1 succeeded",
    ]
    assert all("provider: vendor" in m["message"] for m in json_receiver.messages)  # default
    assert "sent the default instead" in caplog.text
