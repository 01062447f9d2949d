"""Who may read: open on loopback by default; with `http.read_token` set, the
page and the read API refuse a request without it. And whoever reads never
sees a configured secret."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import httpx
import pytest

from monitor.config.models import HttpSettings
from monitor.service.access import warn_if_exposed
from monitor.simulators.comestri import ComestriSimulator
from tests.harness import running
from tests.service.board_setup import (
    API_TOKEN,
    READ_TOKEN,
    RECEIVER_PASSWORD,
    TOKEN,
    board_config,
    board_is_full,
    board_state,
    start_runs,
)
from tests.service.test_read_api import client_of

GUARDED = f'{{listen: "127.0.0.1:0", token: {API_TOKEN}, read_token: {READ_TOKEN}}}'
SECRETS = [TOKEN, API_TOKEN, READ_TOKEN, RECEIVER_PASSWORD]


@pytest.fixture
def comestri() -> Iterator[ComestriSimulator]:
    with ComestriSimulator(token=TOKEN) as simulator:
        yield simulator


def read_paths(job_ids: list[int]) -> list[str]:
    """Every GET the page and the read API answer, with real names and ids."""
    paths = [
        "/",
        "/?partial=1",
        "/watches/catalog-imports",
        "/watches/catalog-nightly?partial=1",
        "/api/openapi.json",
        "/api/jobs",
        "/api/watches",
        "/api/watches/catalog-imports",
        "/api/history?limit=1000",
    ]
    return paths + [f"/api/jobs/{job_id}" for job_id in job_ids]


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_with_read_token_set_every_read_needs_it(
    tmp_path, database_url, comestri, json_receiver
):
    config = board_config(tmp_path, database_url, comestri, json_receiver.url, GUARDED)
    async with running(config) as daemon:
        start_runs(comestri)
        assert await daemon.wait_until(board_is_full, timeout=30), board_state(daemon.store)
        async with httpx.AsyncClient(base_url=daemon.service.http.url, timeout=20) as client:
            ids = [
                job["id"]
                for job in (await client.get("/api/jobs", headers=bearer(READ_TOKEN))).json()
            ]
            paths = read_paths(ids)
            refused = {path: await client.get(path) for path in paths}
            wrong = {
                path: await client.get(path, headers=bearer(READ_TOKEN + "x")) for path in paths
            }
            by_bearer = {path: await client.get(path, headers=bearer(READ_TOKEN)) for path in paths}
            by_basic = {path: await client.get(path, headers=basic(READ_TOKEN)) for path in paths}
            by_writer = {path: await client.get(path, headers=bearer(API_TOKEN)) for path in paths}
            open_paths = {
                path: (await client.get(path)).status_code
                for path in ("/healthz", "/metrics", "/static/page.css", "/static/page.js")
            }

    for path in paths:
        assert refused[path].status_code == 401, path
        assert refused[path].headers["WWW-Authenticate"].startswith("Basic"), path
        assert list(refused[path].json()) == ["error"], path
        assert wrong[path].status_code == 401, path
        assert by_bearer[path].status_code == 200, path
        assert by_basic[path].status_code == 200, path
        assert by_writer[path].status_code == 200, path
    assert set(open_paths.values()) == {200}


async def test_the_page_and_the_api_never_show_a_configured_secret(
    tmp_path, database_url, comestri, json_receiver
):
    config = board_config(tmp_path, database_url, comestri, json_receiver.url, GUARDED)
    async with running(config) as daemon:
        start_runs(comestri)
        assert await daemon.wait_until(board_is_full, timeout=30), board_state(daemon.store)
        async with httpx.AsyncClient(
            base_url=daemon.service.http.url, timeout=20, headers=bearer(READ_TOKEN)
        ) as client:
            ids = [job["id"] for job in (await client.get("/api/jobs")).json()]
            answers = {path: await client.get(path) for path in read_paths(ids)}
            refusal = await client.get("/", headers=bearer("a-wrong-guess"))

    assert all(answer.status_code == 200 for answer in answers.values())
    shown = "\n".join(answer.text for answer in [*answers.values(), refusal])
    assert "json://***:****@127.0.0.1" in shown  # the URL with a password is shown masked
    for secret in SECRETS:
        assert secret not in shown
    # The dead deliveries are there, with their errors, and still nothing secret.
    assert answers["/watches/catalog-imports"].text.count('data-status="dead"') == 6


async def test_without_read_token_reading_is_open_on_loopback(
    tmp_path, database_url, comestri, json_receiver
):
    config = board_config(
        tmp_path, database_url, comestri, json_receiver.url, '{listen: "127.0.0.1:0"}'
    )
    async with running(config) as daemon, client_of(daemon) as client:
        page = await client.get("/")
        jobs = await client.get("/api/jobs")

    assert (page.status_code, jobs.status_code) == (200, 200)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("listen", "read_token", "warned"),
    [
        ("0.0.0.0:9311", None, True),
        ("[::]:9311", None, True),
        ("192.0.2.10:9311", None, True),
        ("monitor.example.com:9311", None, True),
        ("0.0.0.0:9311", READ_TOKEN, False),
        ("127.0.0.1:9311", None, False),
        ("127.0.0.2:9311", None, False),
        ("[::1]:9311", None, False),
        ("localhost:9311", None, False),
    ],
)
def test_listening_beyond_loopback_without_read_token_warns(listen, read_token, warned, caplog):
    settings = HttpSettings(listen=listen, read_token=read_token)
    with caplog.at_level(logging.WARNING, logger="monitor.service.access"):
        assert warn_if_exposed(settings) is warned
    assert ("set http.read_token" in caplog.text) is warned
    assert READ_TOKEN not in caplog.text


async def test_the_daemon_warns_at_start_when_it_listens_beyond_loopback_unguarded(
    tmp_path, comestri, json_receiver, caplog
):
    database_url = f"sqlite:///{tmp_path / 'loadwatch.db'}"
    exposed = '{listen: "0.0.0.0:0"}'  # every interface; the test only talks to 127.0.0.1
    config = board_config(tmp_path, database_url, comestri, json_receiver.url, exposed)
    with caplog.at_level(logging.WARNING, logger="monitor.service.access"):
        async with running(config):
            pass

    warnings = [r.getMessage() for r in caplog.records if r.name == "monitor.service.access"]
    assert (
        len(warnings) == 1 and "0.0.0.0:0, beyond loopback, with no http.read_token" in warnings[0]
    )
