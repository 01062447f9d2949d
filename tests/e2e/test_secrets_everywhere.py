"""A vendor that echoes the configured secrets back, in every field it
controls, never gets them shown: not in the logs (text and JSON), the
database, `status`, `status --json`, `history`, `/api/jobs`, `/metrics` or a
delivered message. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from monitor.redact import RedactingFormatter
from monitor.service.logging import EscapingFormatter, JsonFormatter
from monitor.simulators.base import Reply
from monitor.store.store import Store
from tests.e2e.vendor import ScriptedBytes, vendor_config
from tests.harness import dump_database, running

TOKEN = "vendor-secret-token-a91f3c"
API_TOKEN = "api-secret-token-77b2e0"
SECRETS = (TOKEN, API_TOKEN)
ECHO = f"{TOKEN} and {API_TOKEN}"


def echoing(status: str, **more: object) -> bytes:
    """A status that plants both secrets in every text field a vendor controls."""
    body = {
        "status": status,
        "message": f"you sent {ECHO}",
        "failed_parts": [f"part {TOKEN}", f"part {API_TOKEN}"],
        "history": f"10:00 {ECHO}\n10:01 again {TOKEN}",
        **more,
    }
    return json.dumps(body).encode()


@pytest.fixture
def vendor() -> Iterator[ScriptedBytes]:
    with ScriptedBytes() as simulator:
        yield simulator


@pytest.fixture
def production_logs() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """The daemon's own text and JSON log formatters, at debug level."""
    text, machine = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(text), logging.StreamHandler(machine)]
    handlers[0].setFormatter(
        RedactingFormatter(EscapingFormatter(logging.Formatter("%(levelname)s %(message)s")))
    )
    handlers[1].setFormatter(RedactingFormatter(JsonFormatter()))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    yield text, machine
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)


def cli(config_path: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "monitor", *args, "-c", config_path],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def settled(count: int, messages: list[dict]):
    def check(store: Store) -> bool:
        return len(messages) >= count and store.notification_counts().get("pending", 0) == 0

    return check


async def test_secrets_echoed_by_a_vendor_appear_in_no_output(
    tmp_path, database_url, vendor, json_receiver, production_logs, caplog
):
    caplog.set_level(logging.DEBUG)
    vendor.add_job(
        "echo",
        echoing("running", progress=0.4),
        echoing(f"weird-{TOKEN}"),  # unrecognized: stored raw, counted as failed
        echoing(f"weird-{TOKEN}"),
        echoing("broken"),
    )
    vendor.add_job("down", Reply.json({"message": f"server says {ECHO}"}, 500))
    vendor.add_job("refused", Reply.json({"message": f"bad token {ECHO}"}, 401))
    config = vendor_config(
        tmp_path,
        database_url,
        vendor,
        json_receiver.url,
        ["echo", "down", "refused"],
        token=TOKEN,
        top_extra=f"http: {{listen: '127.0.0.1:0', token: {API_TOKEN}}}",
    )

    async with running(config) as daemon:
        # job-0 failed, and unreachable before it; job-1 unreachable; job-2's provider refused.
        assert await daemon.wait_until(settled(4, json_receiver.messages), timeout=60)
        async with httpx.AsyncClient(base_url=daemon.service.http.url, timeout=20) as client:
            api_jobs = (await client.get("/api/jobs")).text
            metrics = (await client.get("/metrics")).text

    outputs = {
        "delivered messages": json.dumps(json_receiver.messages),
        "text log": production_logs[0].getvalue(),
        "JSON log": production_logs[1].getvalue(),
        "log records": caplog.text,
        "database": dump_database(database_url),
        "/api/jobs": api_jobs,
        "/metrics": metrics,
        "status": cli(str(config.path), "status"),
        "status --json": cli(str(config.path), "status", "--json"),
        "history": cli(str(config.path), "history"),
        "history --json": cli(str(config.path), "history", "--json"),
    }
    for where, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} shown in {where}"
    # And the echoes were really there to be masked.
    assert "***" in outputs["database"] and "***" in outputs["delivered messages"]
    assert "weird-***" in outputs["database"]
    assert "job-0 failed" in {m["title"] for m in json_receiver.messages}
