"""The HTTP listener on a running daemon: health, metrics, jobs and the watch
API, over real HTTP, against the KPA simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from monitor import report
from monitor.config import load_config
from monitor.service import health
from monitor.simulators.kpa_flex import success_script
from monitor.store.store import Store
from tests.harness import jobs_ended, running
from tests.service.conftest import API_TOKEN, JOB, polls_of, service_config
from tests.service.tcp_proxy import TcpProxy

HTTP = f"""\
http:
  listen: 127.0.0.1:0
  token: {API_TOKEN}
"""
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def config_for(tmp_path, database_url, kpa, receiver, **options):
    path = service_config(tmp_path, database_url, kpa, receiver.url, extra=HTTP, **options)
    return load_config(path, environ={})


def api(daemon) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=daemon.service.http.url, timeout=20)


def metric_value(text: str, sample_name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            wanted = all(sample.labels.get(k) == v for k, v in labels.items())
            if sample.name == sample_name and wanted:
                return sample.value
    raise AssertionError(f"no sample {sample_name} {labels}")


async def test_healthz_is_200_while_loop_and_database_are_healthy(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, success_script(polls=1000))
    config = config_for(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        answer = await client.get("/healthz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "checks": {"loop": "ok", "database": "ok"}}


@pytest.mark.postgres
async def test_healthz_is_503_when_the_database_is_unreachable(
    tmp_path, database_url, kpa, json_receiver
):
    if not database_url.startswith("postgresql"):
        pytest.skip("the database is cut off through a TCP proxy: PostgreSQL only")
    url = make_url(database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    kpa.add_job(JOB, success_script(polls=1000))
    config = config_for(tmp_path, through_proxy, kpa, json_receiver)

    async with running(config) as daemon, api(daemon) as client:
        assert (await client.get("/healthz")).status_code == 200
        proxy.cut()
        answer = await client.get("/healthz")

    assert answer.status_code == 503
    assert answer.json()["checks"]["loop"] == "ok"
    assert answer.json()["checks"]["database"].startswith("database unreachable")


async def test_healthz_is_503_once_recording_has_stopped(
    tmp_path, database_url, kpa, json_receiver
):
    """Polls go on without a recorder, but none would be written again: the
    health check (and so systemd's watchdog) must say so."""
    kpa.add_job(JOB, success_script(polls=1000))
    config = config_for(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        assert (await client.get("/healthz")).status_code == 200
        recorder = daemon._recorder_task
        recorder.cancel()  # as a recorder that died of a bug would be
        await asyncio.gather(recorder, return_exceptions=True)
        answer = await client.get("/healthz")

    assert answer.status_code == 503
    assert answer.json()["checks"]["loop"].startswith("poll loop is not running")


async def test_healthz_is_503_while_the_event_loop_is_stuck(
    tmp_path, database_url, kpa, json_receiver, monkeypatch
):
    monkeypatch.setattr(health, "LOOP_SILENT_AFTER", 0.2)
    kpa.add_job(JOB, success_script(polls=1000))
    answers: list[httpx.Response] = []
    release = threading.Event()

    def probe(url: str) -> None:
        # Asks from another thread while the loop is blocked, until it says so.
        with httpx.Client(base_url=url, timeout=20) as client:
            while not release.wait(0.05):
                answers.append(client.get("/healthz"))
                if answers[-1].status_code == 503:
                    release.set()

    async with running(config_for(tmp_path, database_url, kpa, json_receiver)) as daemon:
        prober = threading.Thread(target=probe, args=(daemon.service.http.url,))
        prober.start()
        release.wait(20)  # blocks the event loop: the stuck loop under test
        prober.join(20)

    assert answers[-1].status_code == 503
    assert answers[-1].json()["checks"]["loop"].startswith("event loop has not run for")


async def test_metrics_parse_and_count_every_poll(tmp_path, database_url, kpa, json_receiver):
    kpa.add_job(JOB, success_script())
    async with running(config_for(tmp_path, database_url, kpa, json_receiver)) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)
        async with api(daemon) as client:
            text = (await client.get("/metrics")).text

    assert metric_value(text, "loadwatch_polls_total", provider="hr") == polls_of(kpa, JOB) == 3
    assert metric_value(text, "loadwatch_poll_duration_seconds_count", provider="hr") == 3


async def test_metrics_show_jobs_by_state_and_notifications_from_the_database(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, success_script())
    async with running(config_for(tmp_path, database_url, kpa, json_receiver)) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)
        async with api(daemon) as client:
            text = (await client.get("/metrics")).text

    assert metric_value(text, "loadwatch_jobs", state="succeeded") == 1
    assert metric_value(text, "loadwatch_jobs", state="running") == 0
    assert metric_value(text, "loadwatch_notifications", status="sent") == 1
    assert metric_value(text, "loadwatch_outbox_oldest_undelivered_seconds") == 0
    assert metric_value(text, "loadwatch_database_up") == 1


async def test_failed_polls_are_counted_by_reason(tmp_path, database_url, kpa, json_receiver):
    missing = "no-such-load"  # the simulator answers content_not_found
    watches = f'[{{name: hr-missing, provider: hr, job: "{missing}"}}]'
    config = config_for(tmp_path, database_url, kpa, json_receiver, watches=watches)
    async with running(config) as daemon:
        assert await daemon.wait_until(lambda s: s.all_jobs()[0].failed_polls >= 2, timeout=20)
        async with api(daemon) as client:
            text = (await client.get("/metrics")).text

    failed = metric_value(text, "loadwatch_failed_polls_total", provider="hr", reason="not_found")
    assert failed >= 2


async def test_api_jobs_holds_every_key_of_status_json(tmp_path, database_url, kpa, json_receiver):
    kpa.add_job(JOB, success_script())
    async with running(config_for(tmp_path, database_url, kpa, json_receiver)) as daemon:
        assert await daemon.wait_until(jobs_ended, timeout=20)
        async with api(daemon) as client:
            answer = await client.get("/api/jobs")

    store = Store(database_url)
    assert answer.status_code == 200
    (shown,) = answer.json()
    (row,) = report.status_rows(store)
    assert {key: shown[key] for key in row} == row
    assert shown["state"] == "succeeded"
    store.close()
