"""POST /api/watches: a pipeline registers the job it has just started."""

from __future__ import annotations

import pytest

from monitor.config import load_config
from monitor.simulators.kpa_flex import success_script
from monitor.store.store import Store
from tests.harness import running
from tests.service.conftest import API_TOKEN, JOB, polls_of, service_config
from tests.service.test_http_api import AUTH, HTTP, api, config_for

NEW_JOB = "6a1f00000000000000000042"


def no_watches(tmp_path, database_url, kpa, receiver):
    """A daemon with the HTTP API and no watch of its own."""
    return config_for(tmp_path, database_url, kpa, receiver, watches="[]")


async def test_post_watch_without_token_is_401(tmp_path, database_url, kpa, json_receiver):
    config = no_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        answer = await client.post("/api/watches", json={"provider": "hr", "job": NEW_JOB})

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert not Store(database_url).watch_exists(f"hr-{NEW_JOB}")


async def test_post_watch_with_a_wrong_token_is_401(tmp_path, database_url, kpa, json_receiver):
    config = no_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        answer = await client.post(
            "/api/watches",
            json={"provider": "hr", "job": NEW_JOB},
            headers={"Authorization": "Bearer " + API_TOKEN[:-1] + "x"},
        )

    assert answer.status_code == 401
    assert "wrong" in answer.json()["error"]


async def test_post_watch_with_the_token_starts_polling_the_job(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(NEW_JOB, success_script())
    async with running(no_watches(tmp_path, database_url, kpa, json_receiver)) as daemon:
        async with api(daemon) as client:
            answer = await client.post(
                "/api/watches",
                json={"provider": "hr", "job": NEW_JOB, "name": "pipeline-load", "notify": "team"},
                headers=AUTH,
            )
        assert answer.status_code == 201
        assert await daemon.wait_until(lambda store: polls_of(kpa, NEW_JOB) >= 1, timeout=20)

    assert answer.json() == {
        "name": "pipeline-load",
        "provider": "hr",
        "job": NEW_JOB,
        "notify": ["team"],
    }


async def test_post_watch_with_an_unknown_provider_is_400_naming_it(
    tmp_path, database_url, kpa, json_receiver
):
    config = no_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        answer = await client.post(
            "/api/watches", json={"provider": "crm", "job": NEW_JOB}, headers=AUTH
        )

    assert answer.status_code == 400
    assert answer.json()["error"] == "no provider named 'crm' (configured: hr)"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b'{"provider": "hr"}', "'job' is required"),
        (b'{"provider": "hr", "job": ""}', "'job' must be a non-empty string"),
        (b'{"provider": "hr", "job": "1", "colour": "red"}', "unknown key 'colour'"),
        (b'{"provider": "hr", "job": "1", "notify": ["pager"]}', "no notifier named 'pager'"),
    ],
)
async def test_post_watch_with_bad_input_is_400_saying_what_is_wrong(
    tmp_path, kpa, json_receiver, body, error
):
    config = no_watches(tmp_path, f"sqlite:///{tmp_path / 'lw.db'}", kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        answer = await client.post("/api/watches", content=body, headers=AUTH)

    assert answer.status_code == 400
    assert answer.json()["error"].startswith(error)


async def test_post_watch_with_a_taken_name_is_409(tmp_path, database_url, kpa, json_receiver):
    kpa.add_job(NEW_JOB, success_script(polls=1000))
    watch = {"provider": "hr", "job": NEW_JOB, "name": "pipeline-load"}
    config = no_watches(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        first = await client.post("/api/watches", json=watch, headers=AUTH)
        second = await client.post("/api/watches", json=watch, headers=AUTH)

    assert (first.status_code, second.status_code) == (201, 409)


async def test_post_watch_named_like_a_config_watch_is_refused(
    tmp_path, database_url, kpa, json_receiver
):
    kpa.add_job(JOB, success_script(polls=1000))
    watch = {"provider": "hr", "job": NEW_JOB, "name": "hr-nightly"}
    config = config_for(tmp_path, database_url, kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        answer = await client.post("/api/watches", json=watch, headers=AUTH)

    assert answer.status_code == 400
    assert answer.json()["error"] == "a watch named 'hr-nightly' is in the config file already"


async def test_post_watch_is_refused_when_no_token_is_configured(tmp_path, kpa, json_receiver):
    no_token = HTTP.replace(f"  token: {API_TOKEN}\n", "")
    database = f"sqlite:///{tmp_path / 'lw.db'}"
    path = service_config(tmp_path, database, kpa, json_receiver.url, extra=no_token, watches="[]")
    async with running(load_config(path, environ={})) as daemon, api(daemon) as client:
        answer = await client.post(
            "/api/watches", json={"provider": "hr", "job": NEW_JOB}, headers=AUTH
        )

    assert answer.status_code == 403
    assert "http.token" in answer.json()["error"]


async def test_unknown_paths_are_404_and_wrong_methods_405(tmp_path, kpa, json_receiver):
    config = no_watches(tmp_path, f"sqlite:///{tmp_path / 'lw.db'}", kpa, json_receiver)
    async with running(config) as daemon, api(daemon) as client:
        missing = await client.get("/api/nothing")
        wrong_method = await client.delete("/api/jobs")

    assert missing.status_code == 404
    assert (wrong_method.status_code, wrong_method.headers["Allow"]) == (405, "GET, HEAD")
    assert wrong_method.json() == {"error": "/api/jobs takes GET, HEAD"}
