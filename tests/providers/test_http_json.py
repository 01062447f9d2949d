"""http_json: the block's validation (FILE:LINE), the request it sends, and the
generic mapping rules. Vendor mappings are in test_http_json_vendors.py."""

from __future__ import annotations

import json
import logging
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.config import ConfigError, load_config
from monitor.domain import State
from monitor.providers.base import FailureKind, PollFailure, Throttled
from monitor.providers.http import make_client
from monitor.providers.http_json import HttpJsonProvider, job_request
from monitor.providers.http_json_settings import HttpJsonSettings
from monitor.redact import redact

JOB = "job/42 a"
TOKEN = "hj-secret-token-7c1d"

BLOCK = {
    "type": "http_json",
    "request": {
        "url": "https://jobs.example.test/v1/jobs/{job}",
        "headers": {"Authorization": f"Bearer {TOKEN}"},
    },
    "status": "state",
    "rules": [
        {"when": "state == 'DONE' && errors > `0`", "state": "partial"},
        {"when": "state == 'DONE'", "state": "succeeded"},
        {"when": "state == 'RUNNING'", "state": "running"},
    ],
}


def settings(**changes: Any) -> HttpJsonSettings:
    return HttpJsonSettings.model_validate({**BLOCK, **changes})


def provider(transport: httpx.MockTransport | None = None, **changes: Any) -> HttpJsonProvider:
    block = settings(**changes)
    return HttpJsonProvider("jobs", block, make_client(block, transport=transport))


def config_issues(tmp_path: Path, block: str) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_text("providers:\n  jobs:\n" + textwrap.indent(textwrap.dedent(block), "    "))
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    return [str(issue) for issue in error.value.issues]


# --- validation at config load ------------------------------------------------


def test_a_rule_that_does_not_compile_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    issues = config_issues(
        tmp_path,
        """\
        type: http_json
        request: {url: "https://jobs.example.test/{job}"}
        status: state
        rules:
          - {when: "state == 'DONE'", state: succeeded}
          - when: "state == 'FAILED' && errors > `0"
            state: partial
        """,
    )
    assert issues == [
        f"{tmp_path / 'config.yaml'}:8: providers.jobs.rules[1].when: 'state == 'FAILED' && "
        "errors > `0' is not a valid JMESPath expression: unclosed ` delimiter at character 31"
    ]


def test_a_status_path_that_does_not_compile_is_a_config_error_at_its_line(
    tmp_path: Path,
) -> None:
    issues = config_issues(
        tmp_path,
        """\
        type: http_json
        request: {url: "https://jobs.example.test/{job}"}
        status: "job.["
        rules: [{when: "state", state: running}]
        """,
    )
    assert len(issues) == 1
    assert issues[0].startswith(f"{tmp_path / 'config.yaml'}:5: providers.jobs.status: ")


def test_an_unknown_jmespath_function_is_a_config_error(tmp_path: Path) -> None:
    issues = config_issues(
        tmp_path,
        """\
        type: http_json
        request: {url: "https://jobs.example.test/{job}"}
        status: state
        rules: [{when: "starts_with(state, 'D')", state: succeeded}]
        progress: {value: "percent(done)", scale: 100}
        """,
    )
    assert issues == [
        f"{tmp_path / 'config.yaml'}:7: providers.jobs.progress.value: "
        "'percent(done)' calls unknown JMESPath function percent()"
    ]


def test_error_when_that_does_not_compile_is_a_config_error_at_its_line(
    tmp_path: Path,
) -> None:
    issues = config_issues(
        tmp_path,
        """\
        type: http_json
        request: {url: "https://jobs.example.test/{job}"}
        status: state
        rules: [{when: "state", state: running}]
        error_when: "ok =="
        """,
    )
    assert issues == [
        f"{tmp_path / 'config.yaml'}:7: providers.jobs.error_when: 'ok ==' is not a valid "
        "JMESPath expression: the expression ends too early at character 6"
    ]


def test_a_rule_cannot_map_to_unknown(tmp_path: Path) -> None:
    issues = config_issues(
        tmp_path,
        """\
        type: http_json
        request: {url: "https://jobs.example.test/{job}"}
        status: state
        rules: [{when: "state", state: unknown}]
        """,
    )
    assert issues == [
        f"{tmp_path / 'config.yaml'}:6: providers.jobs.rules[0].state: "
        "a rule must name a state a job can be in, not unknown"
    ]


def test_a_relative_url_needs_base_url(tmp_path: Path) -> None:
    issues = config_issues(
        tmp_path,
        """\
        type: http_json
        request: {url: "/jobs/{job}"}
        status: state
        rules: [{when: "state", state: running}]
        """,
    )
    assert issues == [
        f"{tmp_path / 'config.yaml'}:4: providers.jobs.request: "
        "request.url starts with / but there is no base_url"
    ]


def test_a_body_with_get_is_refused() -> None:
    with pytest.raises(ValueError, match="a body is sent only with method: POST"):
        settings(request={"url": "https://jobs.example.test/{job}", "body": {"id": "{job}"}})


def test_progress_takes_one_form_only() -> None:
    with pytest.raises(ValueError, match=r"progress as \{done, total\} or as \{value, scale\}"):
        settings(progress={"done": "a", "total": "b", "value": "c"})


def test_not_found_status_must_be_an_error_status() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 400"):
        settings(not_found_status=[200])


def test_retry_after_is_only_for_throttled_errors() -> None:
    with pytest.raises(ValueError, match="retry_after is only for kind: throttled"):
        settings(error_when=[{"when": "error", "kind": "auth", "retry_after": 60}])


# --- secrets --------------------------------------------------------------------


def test_authorization_header_value_and_its_credential_are_secrets() -> None:
    assert set(settings().secrets()) == {f"Bearer {TOKEN}", TOKEN}


def test_token_and_key_headers_body_values_and_query_values_are_secrets() -> None:
    block = settings(
        request={
            "method": "POST",
            "url": "https://jobs.example.test/{job}?api_key=query-secret-1&page=1",
            "headers": {"X-Auth-Token": "header-secret-2", "X-Request-Id": "not-a-secret"},
            "body": {"auth": {"token": "body-secret-3"}, "id": "{job}"},
        }
    )
    assert set(block.secrets()) == {"query-secret-1", "header-secret-2", "body-secret-3"}


def test_loading_the_config_registers_the_header_token(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            providers:
              jobs:
                type: http_json
                request:
                  url: "https://jobs.example.test/{job}"
                  headers: {Authorization: "Bearer ${JOBS_TOKEN}"}
                status: state
                rules: [{when: "state", state: running}]
            """
        )
    )
    load_config(path, environ={"JOBS_TOKEN": TOKEN})
    assert redact(f"said {TOKEN}") == "said ***"


# --- the request ------------------------------------------------------------------


def test_job_id_is_url_encoded_in_the_url_and_plain_in_headers_and_body() -> None:
    block = settings(
        request={
            "method": "post",
            "url": "https://jobs.example.test/v1/jobs/{job}/status",
            "headers": {"X-Job": "{job}"},
            "body": {"query": {"ids": ["{job}"], "note": "job {job}"}, "limit": 1},
        }
    )
    asked = job_request(block, JOB)
    assert asked.method == "POST"
    assert asked.url == "https://jobs.example.test/v1/jobs/job%2F42%20a/status"
    assert asked.headers == {"X-Job": JOB}
    assert asked.body == {"query": {"ids": [JOB], "note": f"job {JOB}"}, "limit": 1}


def test_a_path_url_is_joined_to_base_url() -> None:
    block = settings(base_url="https://jobs.example.test/api/", request={"url": "/jobs/{job}"})
    assert job_request(block, "7").url == "https://jobs.example.test/api/jobs/7"


async def test_poll_sends_the_filled_in_request() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"state": "RUNNING"})

    jobs = provider(httpx.MockTransport(answer))
    async with jobs.client:
        status = await jobs.poll("42")
    (request,) = seen
    assert (request.method, str(request.url)) == ("GET", "https://jobs.example.test/v1/jobs/42")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert status.state is State.RUNNING


async def test_poll_posts_the_body_as_json() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"state": "RUNNING"})

    request = {"method": "POST", "url": "https://jobs.example.test/info", "body": {"id": "{job}"}}
    jobs = provider(httpx.MockTransport(answer), request=request)
    async with jobs.client:
        await jobs.poll("42")
    assert json.loads(seen[0].content) == {"id": "42"}


async def poll_answered(response: httpx.Response, **changes: Any) -> Any:
    jobs = provider(httpx.MockTransport(lambda request: response), **changes)
    async with jobs.client:
        return await jobs.poll("42")


async def test_429_is_throttled_for_retry_after_seconds() -> None:
    with pytest.raises(Throttled) as throttled:
        await poll_answered(httpx.Response(429, headers={"Retry-After": "17"}))
    assert throttled.value.retry_after == 17


async def test_html_page_is_a_malformed_payload() -> None:
    page = httpx.Response(200, text="<html><body>Sign in</body></html>")
    with pytest.raises(PollFailure) as failure:
        await poll_answered(page)
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.MALFORMED,
        "malformed payload: HTML page instead of JSON (HTTP 200)",
    )


async def test_not_found_status_is_job_not_found() -> None:
    with pytest.raises(PollFailure) as failure:
        await poll_answered(httpx.Response(410), not_found_status=[404, 410])
    assert failure.value.kind is FailureKind.NOT_FOUND


async def test_404_outside_not_found_status_is_rejected() -> None:
    with pytest.raises(PollFailure) as failure:
        await poll_answered(httpx.Response(404), not_found_status=[])
    assert (failure.value.kind, failure.value.reason) == (FailureKind.REJECTED, "HTTP 404")


async def test_auth_status_is_refused_credentials() -> None:
    with pytest.raises(PollFailure) as failure:
        await poll_answered(httpx.Response(401))
    assert failure.value.kind is FailureKind.AUTH


async def test_error_when_decides_an_undeclared_error_status_by_its_body() -> None:
    # Rocket.Chat's shape: 403 is refused credentials only when the body says so.
    forbidden = httpx.Response(403, json={"success": False, "error": "unauthorized"})
    with pytest.raises(PollFailure) as failure:
        await poll_answered(
            forbidden,
            auth_status=[401],
            error_when=[{"when": "error == 'unauthorized'", "kind": "auth"}],
        )
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.AUTH,
        "credentials refused (unauthorized)",
    )


async def test_an_error_status_no_error_when_rule_matches_keeps_the_http_mapping() -> None:
    forbidden = httpx.Response(403, json={"success": False, "error": "error-action-not-allowed"})
    with pytest.raises(PollFailure) as failure:
        await poll_answered(
            forbidden,
            auth_status=[401],
            error_when=[{"when": "error == 'unauthorized'", "kind": "auth"}],
        )
    assert failure.value.kind is FailureKind.REJECTED


# --- the mapping --------------------------------------------------------------------


def test_first_matching_rule_wins() -> None:
    status = provider().parse({"state": "DONE", "errors": 2}, "42")
    assert status.state is State.PARTIAL


def test_raw_status_is_kept_beside_the_state() -> None:
    assert provider().parse({"state": "DONE", "errors": 0}, "42").raw_status == "DONE"


def test_a_status_no_rule_matches_is_unrecognized_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(PollFailure) as failure:
        provider().parse({"state": "PAUSED"}, "42")
    assert (failure.value.kind, failure.value.reason, failure.value.raw_status) == (
        FailureKind.UNRECOGNIZED,
        "unrecognized status 'PAUSED'",
        "PAUSED",
    )
    assert "PAUSED" in caplog.text


def test_a_missing_status_is_malformed() -> None:
    with pytest.raises(PollFailure) as failure:
        provider().parse({"job": {}}, "42")
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.MALFORMED,
        "malformed payload: no status at 'state'",
    )


def test_a_numeric_status_is_kept_as_text() -> None:
    jobs = provider(rules=[{"when": "code == `3`", "state": "succeeded"}], status="code")
    assert jobs.parse({"code": 3}, "42").raw_status == "3"


def test_zero_is_true_in_a_rule_as_jmespath_says() -> None:
    jobs = provider(rules=[{"when": "errors", "state": "partial"}], status="state")
    assert jobs.parse({"state": "DONE", "errors": 0}, "42").state is State.PARTIAL


def test_an_expression_that_fails_on_the_payload_is_malformed() -> None:
    jobs = provider(rules=[{"when": "starts_with(state, 'D')", "state": "succeeded"}])
    with pytest.raises(PollFailure) as failure:
        jobs.parse({"state": 7}, "42")
    assert failure.value.kind is FailureKind.MALFORMED
    assert "starts_with(state, 'D')" in failure.value.reason


def test_error_when_string_is_a_rejected_poll_with_the_vendors_message() -> None:
    jobs = provider(error_when="ok == `false`")
    with pytest.raises(PollFailure) as failure:
        jobs.parse({"ok": False, "message": "job id is malformed"}, "42")
    assert (failure.value.kind, failure.value.reason) == (
        FailureKind.REJECTED,
        "job id is malformed",
    )


def test_error_when_throttled_pauses_for_retry_after() -> None:
    jobs = provider(
        error_when=[{"when": "error == 'slow_down'", "kind": "throttled", "retry_after": "2m"}]
    )
    with pytest.raises(Throttled) as throttled:
        jobs.parse({"error": "slow_down"}, "42")
    assert throttled.value.retry_after == 120


def test_error_message_path_gives_the_reason() -> None:
    jobs = provider(error_when="ok == `false`", error_message="join(' / ', errors[].msg)")
    with pytest.raises(PollFailure) as failure:
        jobs.parse({"ok": False, "errors": [{"msg": "a"}, {"msg": "b"}]}, "42")
    assert failure.value.reason == "a / b"


def test_progress_done_over_total() -> None:
    jobs = provider(progress={"done": "counters.done", "total": "counters.total"})
    status = jobs.parse({"state": "RUNNING", "counters": {"done": 30, "total": 120}}, "42")
    assert status.progress == pytest.approx(0.25)


def test_progress_value_over_scale() -> None:
    jobs = provider(progress={"value": "percent", "scale": 100})
    assert jobs.parse({"state": "RUNNING", "percent": 40}, "42").progress == pytest.approx(0.4)


def test_progress_with_zero_total_is_unknown() -> None:
    jobs = provider(progress={"done": "done", "total": "total"})
    assert jobs.parse({"state": "RUNNING", "done": 0, "total": 0}, "42").progress is None


def test_counts_message_children_and_details_are_read() -> None:
    jobs = provider(
        counts={"processed": "stats.ok", "errors": "stats.bad", "total": "stats.all"},
        message="notes",
        children="parts[?status != 'ok'].name",
        details={"region": "where", "absent": "nothing.here"},
    )
    status = jobs.parse(
        {
            "state": "DONE",
            "errors": 1,
            "stats": {"ok": 9, "bad": 1, "all": 10},
            "notes": ["row 3 rejected", "row 7 rejected"],
            "parts": [{"name": "a", "status": "ok"}, {"name": "b", "status": "bad"}],
            "where": "eu-1",
        },
        "42",
    )
    assert status.counts() == {"processed": 9, "errors": 1, "total": 10}
    assert status.message == "row 3 rejected; row 7 rejected"
    assert status.children == ("b",)
    assert status.details == {"region": "eu-1"}


def test_times_are_read_from_iso_text_and_epoch_numbers() -> None:
    jobs = provider(started_at="created_ms", finished_at="ended")
    status = jobs.parse(
        {"state": "RUNNING", "created_ms": 1772432100000, "ended": "2026-03-02T07:15:00+01:00"},
        "42",
    )
    assert status.started_at == datetime(2026, 3, 2, 6, 15, tzinfo=UTC)
    assert status.finished_at == datetime(2026, 3, 2, 6, 15, tzinfo=UTC)


def test_job_id_path_gives_the_vendors_own_id() -> None:
    jobs = provider(job_id="operation._id")
    status = jobs.parse({"state": "RUNNING", "operation": {"_id": "op-9"}}, "current")
    assert status.job_id == "op-9"


def test_lower_function_compares_without_case() -> None:
    jobs = provider(rules=[{"when": "contains(lower(state), 'error')", "state": "partial"}])
    assert jobs.parse({"state": "Finished with Errors"}, "42").state is State.PARTIAL


# --- check --online --------------------------------------------------------------------


async def test_credential_check_passes_when_a_made_up_job_is_not_found() -> None:
    jobs = provider(httpx.MockTransport(lambda request: httpx.Response(404)))
    async with jobs.client:
        said = await jobs.check_credentials()
    assert said == "credentials not refused (a made-up job id got: job not found (HTTP 404))"


async def test_credential_check_raises_refused_credentials() -> None:
    jobs = provider(httpx.MockTransport(lambda request: httpx.Response(401)))
    async with jobs.client:
        with pytest.raises(PollFailure) as failure:
            await jobs.check_credentials()
    assert failure.value.kind is FailureKind.AUTH
