"""A job API on loopback whose answers a test writes byte for byte (poison
values, echoed tokens), and the http_json block that polls it."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from monitor.config import Config
from monitor.simulators.base import RecordedRequest, Reply, Simulator
from tests.harness import FAST_POLL, FAST_RETRY, write_config


class ScriptedBytes(Simulator):
    """`GET /jobs/{job}` answers the job's replies in turn, the last one for ever."""

    def __init__(self) -> None:
        super().__init__()
        self._replies: dict[str, list[Reply]] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()

    def add_job(self, job_id: str, *replies: Reply | bytes) -> None:
        script = [r if isinstance(r, Reply) else Reply(200, r, _JSON) for r in replies]
        with self._lock:
            self._replies[job_id] = script
            self._served[job_id] = 0

    def handle(self, request: RecordedRequest) -> Reply:
        job_id = request.path.removeprefix("/jobs/")
        with self._lock:
            script = self._replies.get(job_id)
            if script is None:
                return Reply.json({"message": "no such job"}, 404)
            index = min(self._served[job_id], len(script) - 1)
            self._served[job_id] += 1
        return script[index]


_JSON = {"Content-Type": "application/json"}


def vendor_config(
    tmp_path: Path,
    database_url: str,
    vendor: ScriptedBytes | SimpleNamespace,
    receiver_url: str,
    jobs: list[str],
    *,
    token: str = "vendor-token-0000",
    notifier_extra: str = "",
    top_extra: str = "",
    provider_extra: str = "",
) -> Config:
    """A daemon polling `jobs` on `vendor` every 50 ms; two failed polls make
    a job unreachable."""
    watches = "\n".join(f'  - {{name: job-{i}, provider: vendor, job: "{j}"}}'
                        for i, j in enumerate(jobs))  # fmt: skip
    return write_config(
        tmp_path,
        f"""\
database: "{database_url}"
{top_extra}
defaults:
  poll: {FAST_POLL}
  notify: [team]
  unreachable_after: 2
providers:
  vendor:
    type: http_json
    base_url: {vendor.url}
    max_rps: 1000
{provider_extra}
    request:
      url: /jobs/{{job}}
      headers: {{Authorization: "Bearer {token}"}}
    status: status
    rules:
      - {{when: "status == 'running'", state: running}}
      - {{when: "status == 'done'", state: succeeded}}
      - {{when: "status == 'broken'", state: failed}}
    progress: {{value: progress}}
    counts: {{processed: processed, errors: errors}}
    message: message
    children: failed_parts
    details: {{history: history}}
notifiers:
  team:
    urls: ["{receiver_url}"]
    retry: {FAST_RETRY}
{notifier_extra}
watches:
{watches}
""",
    )
