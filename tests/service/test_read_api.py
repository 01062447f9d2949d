"""The read API under /api/ on a running daemon with something to show (see
board_setup.py), over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from monitor.engine.conditions import p90
from monitor.service import page
from monitor.simulators.comestri import ComestriSimulator
from monitor.store.store import Store
from monitor.store.tables import jobs as job_table
from tests.harness import running
from tests.service.board_setup import (
    API_TOKEN,
    LOST_JOB,
    PENDING_JOB,
    RUNNING_JOB,
    RUNS,
    TOKEN,
    board_config,
    board_is_full,
    board_state,
    start_runs,
)

HTTP = f'{{listen: "127.0.0.1:0", token: {API_TOKEN}}}'


@pytest.fixture
def comestri() -> Iterator[ComestriSimulator]:
    with ComestriSimulator(token=TOKEN) as simulator:
        yield simulator


@asynccontextmanager
async def full_board(
    tmp_path, database_url, comestri, receiver
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a daemon whose board is full (six runs ended, one job
    running, one pending); the daemon runs until the block ends."""
    config = board_config(tmp_path, database_url, comestri, receiver.url, HTTP)
    async with running(config) as daemon:
        start_runs(comestri)
        assert await daemon.wait_until(board_is_full, timeout=30), board_state(daemon.store)
        async with client_of(daemon) as client:
            yield client


def client_of(daemon) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=daemon.service.http.url, timeout=20)


async def jobs(client: httpx.AsyncClient, query: str = "") -> dict[str, dict]:
    answer = await client.get("/api/jobs" + query)
    assert answer.status_code == 200, answer.text
    return {row["job"]: row for row in answer.json()}


async def test_jobs_filter_by_state_watch_and_current(
    tmp_path, database_url, comestri, json_receiver
):
    async with full_board(tmp_path, database_url, comestri, json_receiver) as client:
        running_now = await jobs(client, "?state=running")
        bad_ends = await jobs(client, "?state=failed,partial")
        repeated = await jobs(client, "?state=failed&state=partial")
        queued = await jobs(client, "?watch=catalog-queued")
        current = await jobs(client, "?current=true")
        everything = await jobs(client)

    assert set(running_now) == {RUNNING_JOB}
    assert set(bad_ends) == set(repeated) == {"503", "505"}
    assert set(queued) == {PENDING_JOB}
    # The discovery watch's newest job stands for its latest result.
    newest = max((row for row in everything.values() if row["job"] in RUNS), key=lambda r: r["id"])
    assert set(current) == {RUNNING_JOB, PENDING_JOB, LOST_JOB, newest["job"]}
    assert set(everything) == {RUNNING_JOB, PENDING_JOB, LOST_JOB, *RUNS}


async def test_a_running_job_shows_progress_and_an_estimated_end(
    tmp_path, database_url, comestri, json_receiver
):
    async with full_board(tmp_path, database_url, comestri, json_receiver) as client:
        job = (await jobs(client))[RUNNING_JOB]

    assert (job["state"], job["raw_status"], job["progress"]) == ("running", "processing", 0.4)
    began, estimated = (datetime.fromisoformat(job[key]) for key in ("began", "estimated_end"))
    assert estimated >= began  # the arithmetic itself: tests/service/test_board.py
    assert job["next_poll"] is not None and job["ended"] is None


async def test_one_job_has_its_transitions_and_each_delivery(
    tmp_path, database_url, comestri, json_receiver
):
    async with full_board(tmp_path, database_url, comestri, json_receiver) as client:
        failed = (await jobs(client))["505"]
        answer = await client.get(f"/api/jobs/{failed['id']}")

    assert answer.status_code == 200
    shown = answer.json()
    moves = [(move["from"], move["to"]) for move in shown["transitions"]]
    assert moves == [("unknown", "pending"), ("pending", "running"), ("running", "failed")]
    by_status = {delivery["status"]: delivery for delivery in shown["deliveries"]}
    assert set(by_status) == {"sent", "dead"}
    assert by_status["dead"]["attempts"] >= 1 and "gave up" in by_status["dead"]["last_error"]
    assert by_status["sent"]["event"] == "failed" and by_status["sent"]["sent"] is not None
    assert shown["notifications"] == {"sent": 1, "pending": 0, "dead": 1}


async def test_a_watch_shows_its_runs_and_the_learned_deadline(
    tmp_path, database_url, comestri, json_receiver
):
    async with full_board(tmp_path, database_url, comestri, json_receiver) as client:
        answer = await client.get("/api/watches/catalog-imports")
        listed = (await client.get("/api/watches")).json()

    shown = answer.json()
    runs = shown["runs"]
    assert {run["job"] for run in runs} == set(RUNS)
    assert [run["ended"] for run in runs] == sorted(run["ended"] for run in runs)  # oldest first
    assert sorted(run["state"] for run in runs) == sorted(["succeeded"] * 4 + ["partial", "failed"])
    assert shown["deadline"] == "auto"
    assert shown["learned_deadline_seconds"] == pytest.approx(p90([r["seconds"] for r in runs]))
    assert shown["jobs"] == {"failed": 1, "partial": 1, "succeeded": 4}
    assert [watch["name"] for watch in listed] == [
        "catalog-imports",
        "catalog-lost",
        "catalog-nightly",
        "catalog-queued",
    ]


async def test_history_pages_with_since_and_limit(tmp_path, database_url, comestri, json_receiver):
    async with full_board(tmp_path, database_url, comestri, json_receiver) as client:
        first = (await client.get("/api/history?limit=5")).json()
        since = first[-1]["at"]
        later = (await client.get("/api/history", params={"since": since, "limit": 1000})).json()
        one_watch = (await client.get("/api/history?watch=catalog-queued")).json()

    assert len(first) == 5
    assert [entry["at"] for entry in first] == sorted(entry["at"] for entry in first)
    assert later and all(entry["at"] >= since for entry in later)
    assert {entry["kind"] for entry in later} == {"transition", "notification"}
    assert [(e["kind"], e["watch"], e["to"]) for e in one_watch] == [
        ("transition", "catalog-queued", "pending")
    ]


async def test_an_unreachable_job_shows_its_open_condition(
    tmp_path, database_url, comestri, json_receiver
):
    async with full_board(tmp_path, database_url, comestri, json_receiver) as client:
        lost = (await jobs(client, "?watch=catalog-lost"))[LOST_JOB]

    assert lost["state"] == "unknown"
    assert [condition["kind"] for condition in lost["conditions"]] == ["unreachable"]
    assert "not found" in lost["conditions"][0]["reason"]


ERRORS = [
    ("GET", "/api/nothing", 404),
    ("GET", "/api/jobs/123456", 404),
    ("GET", "/api/jobs/not-a-number", 404),
    ("GET", "/api/watches/no-such-watch", 404),
    ("GET", "/watches/no-such-watch", 404),
    ("GET", "/api/jobs?state=finished", 400),
    ("GET", "/api/jobs?current=maybe", 400),
    ("GET", "/api/jobs?watch=a&watch=b", 400),
    ("GET", "/api/history?limit=0", 400),
    ("GET", "/api/history?limit=many", 400),
    ("GET", "/api/history?since=yesterday", 400),
    ("GET", "/api/history?since=2026-11-30T06:00:00", 400),
    ("DELETE", "/api/jobs", 405),
    ("POST", "/api/jobs", 405),
    ("POST", "/api/watches", 401),
    ("DELETE", "/api/watches/catalog-nightly", 401),
]


async def test_every_error_is_json_of_one_shape(tmp_path, comestri, json_receiver):
    database_url = f"sqlite:///{tmp_path / 'loadwatch.db'}"
    config = board_config(tmp_path, database_url, comestri, json_receiver.url, HTTP)
    answers = {}
    async with running(config) as daemon, client_of(daemon) as client:
        for method, path, _ in ERRORS:
            body = b"{}" if method == "POST" else None
            answers[method, path] = await client.request(method, path, content=body)

    for method, path, status in ERRORS:
        answer = answers[method, path]
        assert answer.status_code == status, (method, path, answer.text)
        assert answer.headers["Content-Type"] == "application/json"
        assert list(answer.json()) == ["error"] and answer.json()["error"], (method, path)


async def test_now_page_shows_the_worst_rows_and_filters_by_state(
    tmp_path, database_url, comestri, json_receiver, monkeypatch
):
    monkeypatch.setattr(page, "ROWS_SHOWN", 2)
    async with full_board(tmp_path, database_url, comestri, json_receiver) as client:
        capped = (await client.get("/")).text
        pending = (await client.get("/?state=pending")).text
        wrong = await client.get("/?state=finished")

    # Trouble first (the unreachable job), then by state; pending and succeeded left out.
    assert re.findall(r'<tr class="job[^"]*" data-job="\d+" data-state="(\w+)"', capped) == [
        "unknown",
        "running",
    ]
    assert "Showing the 2 worst of 4 jobs" in capped
    assert '<span class="condition condition-unreachable"' in capped
    assert pending.count('<tr class="job') == 1 and 'data-state="pending"' in pending
    assert (wrong.status_code, list(wrong.json())) == (400, ["error"])


async def test_the_instance_holding_a_job_is_shown_while_its_lease_lasts(
    tmp_path, database_url, comestri, json_receiver
):
    # The lease columns are the poll path's to fill (several instances on
    # PostgreSQL); here one is written as another instance would hold it.
    async with full_board(tmp_path, database_url, comestri, json_receiver) as client:
        store = Store(database_url)
        until = datetime.now(UTC) + timedelta(minutes=5)
        with store.engine.begin() as db:
            db.execute(
                update(job_table)
                .where(job_table.c.job_id == RUNNING_JOB)
                .values(lease_owner="host-b:4242", lease_until=until)
            )
        store.close()
        held = (await jobs(client))[RUNNING_JOB]["held_by"]
        free = (await jobs(client))[PENDING_JOB]["held_by"]
        shown = (await client.get("/")).text

    assert held == {"instance": "host-b:4242", "until": until.isoformat(timespec="seconds")}
    assert free is None or free["instance"] != "host-b:4242"  # only while being polled
    assert '<td data-label="Held by">host-b:4242</td>' in shown
