"""DELETE /api/watches/NAME: stops a run-time watch the way `loadwatch unwatch`
does; the watch's history stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import load_config
from monitor.simulators.kpa_flex import success_script
from monitor.store import claims
from monitor.store.store import Store
from tests.harness import running
from tests.service.conftest import service_config
from tests.service.test_http_api import AUTH, api
from tests.service.test_http_api import HTTP as HTTP_WITH_TOKEN
from tests.service.test_watch_api import NEW_JOB, no_watches


def claimable(store: Store, provider: str) -> list[str]:
    """The provider's jobs a claim would take, even an hour from now."""
    later = datetime.now(UTC) + timedelta(hours=1)
    request = claims.ClaimRequest(provider=provider, limit=100, due_by=later)
    return [job.job_id for job in claims.claim(store.writer, "probe", request, later, later, {})]


async def add_pipeline_watch(client) -> None:
    answer = await client.post(
        "/api/watches", json={"provider": "hr", "job": NEW_JOB, "name": "pipeline"}, headers=AUTH
    )
    assert answer.status_code == 201


async def test_delete_stops_a_runtime_watch_and_keeps_its_history(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(NEW_JOB, success_script(polls=10**6))
    config = no_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        await add_pipeline_watch(client)
        assert await daemon.wait_until(lambda store: store.all_jobs()[0].polls >= 1, timeout=20)
        removed = await client.delete("/api/watches/pipeline", headers=AUTH)
        again = await client.delete("/api/watches/pipeline", headers=AUTH)
        shown = (await client.get("/api/watches/pipeline")).json()

    assert (removed.status_code, removed.json()) == (200, {"name": "pipeline", "removed": True})
    assert (again.status_code, again.json()) == (
        404,
        {"error": "no run-time watch named 'pipeline'"},
    )
    assert shown["active"] is False and shown["source"] == "runtime"
    store = Store(database_url)
    assert [watch.name for watch in store.active_watches()] == []
    assert [job.job_id for job in store.all_jobs("pipeline")] == [NEW_JOB]  # history stays
    assert claimable(store, "hr") == []  # no instance polls it any more
    store.close()


async def test_delete_of_a_config_watch_is_409_and_says_where_to_remove_it(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job("5804f0f30ef50473af5870c6", success_script(polls=10**6))
    path = service_config(tmp_path, database_url, kpa, json_receiver.url, extra=HTTP_WITH_TOKEN)
    async with running(load_config(path, environ={})) as daemon, api(daemon) as client:
        answer = await client.delete("/api/watches/hr-nightly", headers=AUTH)
        unknown = await client.delete("/api/watches/no-such-watch", headers=AUTH)

    assert (answer.status_code, answer.json()) == (
        409,
        {"error": "'hr-nightly' is in the config file: remove it there"},
    )
    assert unknown.status_code == 404
    store = Store(database_url)
    assert [watch.name for watch in store.active_watches()] == ["hr-nightly"]
    store.close()


async def test_delete_needs_the_write_token(tmp_path, database_url, kpa, json_receiver):
    config = no_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        await add_pipeline_watch(client)
        without = await client.delete("/api/watches/pipeline")
        wrong = await client.delete(
            "/api/watches/pipeline", headers={"Authorization": "Bearer not-the-token"}
        )

    assert (without.status_code, wrong.status_code) == (401, 401)
    assert without.headers["WWW-Authenticate"].startswith("Bearer")
    store = Store(database_url)
    assert [watch.name for watch in store.active_watches()] == ["pipeline"]
    store.close()


async def test_delete_is_off_without_http_token(tmp_path, kpa, json_receiver):
    database_url = f"sqlite:///{tmp_path / 'loadwatch.db'}"
    path = service_config(
        tmp_path, database_url, kpa, json_receiver.url, extra="http: {listen: 127.0.0.1:0}\n"
    )
    async with running(load_config(path, environ={})) as daemon, api(daemon) as client:
        answer = await client.delete("/api/watches/hr-nightly")

    assert answer.status_code == 403
    assert answer.json() == {
        "error": "DELETE /api/watches/{name} is off: set http.token in the config"
    }
