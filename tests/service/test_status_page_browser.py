"""The status page in a real headless Chromium, served by a running daemon
against the Comestri simulator. Each test keeps a screenshot of what it saw
(tests/artifacts, or $LOADWATCH_ARTIFACTS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.service import page
from monitor.simulators.comestri import ComestriSimulator
from tests.browser import Browser, needs_chromium
from tests.harness import running
from tests.service.board_setup import (
    LOST_JOB,
    PENDING_JOB,
    RUNNING_JOB,
    RUNS,
    TOKEN,
    board_config,
    board_is_full,
    board_state,
    finish_running_job,
    newest_run,
    start_runs,
)

pytestmark = needs_chromium

HTTP = '{listen: "127.0.0.1:0"}'


@pytest.fixture
def comestri() -> Iterator[ComestriSimulator]:
    with ComestriSimulator(token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    # One database is enough here: the API tests cover both; this is about the browser.
    return f"sqlite:///{tmp_path / 'loadwatch.db'}"


def row(job_id: str, what: str) -> str:
    """JavaScript: `what` of the now page's row for provider job `job_id`."""
    return (
        "[...document.querySelectorAll('tr.job')]"
        f".filter(r => r.querySelector('.jobid').textContent === {job_id!r})"
        f".map(r => {what})[0]"
    )


async def test_now_page_lists_every_job_with_state_and_progress(
    tmp_path, sqlite_url, comestri, json_receiver
):
    config = board_config(tmp_path, sqlite_url, comestri, json_receiver.url, HTTP)
    async with running(config) as daemon, Browser() as browser:
        start_runs(comestri)
        assert await daemon.wait_until(board_is_full, timeout=30), board_state(daemon.store)
        latest = newest_run(daemon.store)
        await browser.open(daemon.service.http.url + "/")
        states = await browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('tr.job')].map(r => "
            "[r.querySelector('.jobid').textContent, r.dataset.state]))"
        )
        progress = await browser.evaluate(row(RUNNING_JOB, "r.querySelector('progress').value"))
        percent = await browser.evaluate(row(RUNNING_JOB, "r.querySelector('.percent').innerText"))
        counts = await browser.evaluate("document.querySelector('.counts').innerText")
        await browser.screenshot("now-page")
        await browser.viewport(390, 844, mobile=True)
        await browser.open(daemon.service.http.url + "/")
        await browser.screenshot("now-page-phone")

    # Current jobs: each job watch's job, and the discovery watch's latest run.
    assert states == {
        RUNNING_JOB: "running",
        PENDING_JOB: "pending",
        LOST_JOB: "unknown",
        latest: "succeeded",
    }
    assert (progress, percent) == (0.4, "40%")
    assert "4 jobs" in counts.replace("\n", " ")
    assert "1 running" in counts.replace("\n", " ")


async def test_a_job_that_ends_changes_on_the_open_page_without_a_reload(
    tmp_path, sqlite_url, comestri, json_receiver, monkeypatch
):
    monkeypatch.setattr(page, "REFRESH_SECONDS", 1)
    monkeypatch.setattr(page, "REUSE_SECONDS", 0.0)
    config = board_config(tmp_path, sqlite_url, comestri, json_receiver.url, HTTP)
    async with running(config) as daemon, Browser() as browser:
        assert await daemon.wait_until(
            lambda store: any(j.progress == 0.4 for j in store.all_jobs()), timeout=30
        )
        await browser.open(daemon.service.http.url + "/")
        before = await browser.evaluate(row(RUNNING_JOB, "r.dataset.state"))
        await browser.evaluate("window.sameDocument = true")  # a reload would lose it
        finish_running_job(comestri)
        after = await browser.wait_for(
            row(RUNNING_JOB, "r.dataset.state")
            + " === 'succeeded' && "
            + row(RUNNING_JOB, "r.dataset.state"),
            timeout=30,
        )
        kept = await browser.evaluate("window.sameDocument === true")
        await browser.screenshot("now-page-after-the-job-ended")

    assert (before, after, kept) == ("running", "succeeded", True)


async def test_watch_page_shows_the_duration_chart_and_a_dead_notification(
    tmp_path, sqlite_url, comestri, json_receiver
):
    config = board_config(tmp_path, sqlite_url, comestri, json_receiver.url, HTTP)
    async with running(config) as daemon, Browser() as browser:
        start_runs(comestri)
        assert await daemon.wait_until(board_is_full, timeout=30), board_state(daemon.store)
        await browser.open(daemon.service.http.url + "/watches/catalog-imports")
        bars = await browser.evaluate(
            "[...document.querySelectorAll('#duration-chart rect.run')]"
            ".map(bar => bar.getAttribute('class'))"
        )
        learned = await browser.evaluate(
            "!!document.querySelector('#duration-chart #learned-deadline')"
        )
        label = await browser.evaluate("document.querySelector('.deadline-label').textContent")
        deliveries = await browser.evaluate(
            "[...document.querySelectorAll('tr.delivery')].map(r => r.dataset.status)"
        )
        dead_error = await browser.evaluate(
            "document.querySelector('tr.status-dead .error-text').textContent"
        )
        timelines = await browser.evaluate("document.querySelectorAll('ol.timeline li').length")
        await browser.screenshot("watch-page")

    outcomes = ["succeeded"] * 4 + ["partial", "failed"]
    assert sorted(bars) == sorted(f"run state-{state}" for state in outcomes)
    assert learned and label.startswith("deadline: auto")
    assert "p90 of last 6 runs" in label
    assert deliveries.count("dead") == len(RUNS) and deliveries.count("sent") == len(RUNS)
    assert "gave up" in dead_error
    assert timelines >= len(RUNS)


async def test_with_javascript_off_both_pages_are_complete(
    tmp_path, sqlite_url, comestri, json_receiver
):
    config = board_config(tmp_path, sqlite_url, comestri, json_receiver.url, HTTP)
    async with running(config) as daemon, Browser() as browser:
        start_runs(comestri)
        assert await daemon.wait_until(board_is_full, timeout=30), board_state(daemon.store)
        await browser.send("Emulation.setScriptExecutionDisabled", {"value": True})
        await browser.open(daemon.service.http.url + "/")
        await browser.send("Emulation.setScriptExecutionDisabled", {"value": False})
        rows = await browser.evaluate("document.querySelectorAll('tr.job').length")
        # Parsed with scripting off, the <noscript> refresh is a live <meta>.
        refresh = await browser.evaluate(
            "document.querySelector('meta[http-equiv=refresh]')?.content"
        )
        await browser.send("Emulation.setScriptExecutionDisabled", {"value": True})
        await browser.open(daemon.service.http.url + "/watches/catalog-imports")
        await browser.send("Emulation.setScriptExecutionDisabled", {"value": False})
        bars = await browser.evaluate("document.querySelectorAll('rect.run').length")
        await browser.screenshot("watch-page-without-javascript")

    assert (rows, refresh, bars) == (4, "30", len(RUNS))
