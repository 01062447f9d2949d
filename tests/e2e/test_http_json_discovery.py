"""An http_json provider with a `list:` block: discovery walks a paged JSON
job list (ids and creation times by JMESPath, `next` page links), tracks the
new jobs, and an `expect:` on it gives `missing`, then `recovered` when the
simulator creates the job. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import ConfigError, load_config
from monitor.simulators.base import RecordedRequest, Reply, ScriptedJob, Simulator, Step
from monitor.store.store import Store
from tests.harness import FAST_POLL, FAST_RETRY, jobs_ended, running, write_config

TOKEN = "listing-api-secret-token-3c4d"
DONE = [Step({"status": "running"}), Step({"status": "succeeded"})]


class ListingSimulator(Simulator):
    """`GET /v1/jobs/{id}`, and `GET /v1/jobs?connection=C&page=N`: two jobs a
    page, newest first, `{data: [{jobId, createdAt}], next}`."""

    base_path = "/v1"

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, tuple[ScriptedJob, str, datetime]] = {}
        self._lock = threading.Lock()

    def add_job(self, job_id: str, connection: str, created: datetime | None = None) -> None:
        with self._lock:
            self._jobs[job_id] = (ScriptedJob(DONE), connection, created or datetime.now(UTC))

    def handle(self, request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply.json({"error": "unauthorized"}, 401)
        if request.path == "/v1/jobs":
            return self._list(request.params)
        with self._lock:
            entry = self._jobs.get(request.path.removeprefix("/v1/jobs/"))
        if entry is None:
            return Reply.json({"error": "not found"}, 404)
        return Reply.json({"jobId": request.path.rsplit("/", 1)[1], **entry[0].answer()})

    def _list(self, params: dict[str, list[str]]) -> Reply:
        connection, page = params["connection"][0], int(params.get("page", ["1"])[0])
        with self._lock:
            matching = sorted(
                (
                    (job_id, created)
                    for job_id, (_, c, created) in self._jobs.items()
                    if c == connection
                ),
                key=lambda item: item[1],
                reverse=True,
            )
        chunk = matching[(page - 1) * 2 : page * 2]
        data = [{"jobId": job_id, "createdAt": created.isoformat()} for job_id, created in chunk]
        more = len(matching) > page * 2
        next_url = f"/v1/jobs?connection={connection}&page={page + 1}" if more else None
        return Reply.json({"data": data, "next": next_url})


@pytest.fixture
def listing() -> Iterator[ListingSimulator]:
    with ListingSimulator() as simulator:
        yield simulator


def listing_config(tmp_path, database_url, listing, receiver, expect: str = ""):
    return write_config(
        tmp_path,
        f"""
        database: "{database_url}"
        defaults:
          poll: {FAST_POLL}
          notify: [team]
        providers:
          jobs:
            type: http_json
            base_url: {listing.url}
            request:
              url: /jobs/{{job}}
              headers: {{Authorization: "Bearer {TOKEN}"}}
            status: status
            rules:
              - {{when: "status == 'running'", state: running}}
              - {{when: "status == 'succeeded'", state: succeeded}}
            list:
              url: /jobs?connection={{connection}}
              items: data
              id: jobId
              created: createdAt
              next: next
        notifiers:
          team: {{urls: ["{receiver.url}"], retry: {FAST_RETRY}}}
        watches:
          - name: warehouse
            provider: jobs
            discover: {{connection: c-1}}
            discover_every: 0.1s
            {expect}
        """,
    )


async def test_new_jobs_on_every_page_are_tracked_and_old_or_other_ones_are_not(
    tmp_path, database_url, listing, json_receiver
):
    listing.add_job("old", "c-1", created=datetime.now(UTC) - timedelta(days=1))
    listing.add_job("elsewhere", "c-2")
    config = listing_config(tmp_path, database_url, listing, json_receiver)
    async with running(config) as daemon:
        for job_id in ("n1", "n2", "n3"):  # three jobs: two pages
            listing.add_job(job_id, "c-1")
        three = lambda store: len(store.all_jobs()) == 3 and jobs_ended(store)  # noqa: E731
        assert await daemon.wait_until(three, timeout=20)
    store = Store(database_url)
    assert sorted(job.job_id for job in store.all_jobs()) == ["n1", "n2", "n3"]
    store.close()
    assert sorted(m["title"] for m in json_receiver.messages) == ["warehouse succeeded"] * 3


def recovered_sent(store) -> bool:
    return any(n.event == "recovered" and n.status == "sent" for n in store.notifications_of())


async def test_an_expected_run_that_never_came_is_missing_then_recovered(
    tmp_path, database_url, listing, json_receiver
):
    config = listing_config(
        tmp_path, database_url, listing, json_receiver, expect="expect: {every: 2s}"
    )
    async with running(config) as daemon:
        (missing,) = await asyncio.to_thread(json_receiver.wait_for, 1, 20)
        listing.add_job("late-1", "c-1")
        assert await daemon.wait_until(recovered_sent, 20)
    assert (missing["title"], missing["type"]) == ("warehouse missing", "failure")
    titles = [m["title"] for m in json_receiver.messages]
    assert titles.index("warehouse missing") < titles.index("warehouse recovered")


def test_a_list_block_with_a_broken_expression_is_a_config_error(tmp_path, listing, json_receiver):
    path_config = listing_config(tmp_path, "sqlite:///x.db", listing, json_receiver)
    text = path_config.path.read_text().replace("items: data", "items: data[")
    path_config.path.write_text(text)
    with pytest.raises(ConfigError, match=r"list\.items"):
        load_config(path_config.path, environ={})
