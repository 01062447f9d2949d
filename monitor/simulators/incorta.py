"""A fake Incorta cluster's Public API v2 load plan status endpoint, as
PROVIDERS.md (incorta) describes it.

A load plan execution is a tree (plan → load groups → schemas → objects); its
script is a list of whole trees, one per step, built here from a layout: the
objects finish a few at a time, their schemas and groups follow, and the plan
ends with the outcome asked for. A request's `level` prunes the tree as the
vendor documents. The simulator imports nothing from the provider; where the
docs are silent it makes a choice, marked (sim).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.simulators.base import Fault, RecordedRequest, Reply, ScriptedJob, Simulator, Step

DEFAULT_TENANT = "default"
DEFAULT_TOKEN = "incorta-simulated-token"
LOADING = "Load State"
FINISHED = "Terminator State"
# (sim) The docs name "Finished with Errors"; the other words are our choice.
QUEUED, IN_PROGRESS, SUCCEEDED, FAILED = "In Queue", "In Progress", "Succeeded", "Failed"
FINISHED_WITH_ERRORS = "Finished with Errors"

# A layout: load group → schema → objects (tables), in load order.
Layout = Mapping[str, Mapping[str, Sequence[str]]]
DEFAULT_LAYOUT: Layout = {
    "Group 1": {"OnlineStore": ["OnlineStore.customers", "OnlineStore.productmodel"]},
    "Group 2": {"Sales": ["Sales.orders", "Sales.order_lines"]},
}
_STATUS_PATH = re.compile(r"/incorta/api/v2/([^/]+)/load-plan/status/([^/]+)")
_TYPES = ("Load Plan", "Load Group", "Schema", "Object")  # (sim) node `type` per level


def _status(state_type: str, job_status: str) -> dict[str, str]:
    return {"stateType": state_type, "jobStatus": job_status}


def _node(name: str, level: int, state_type: str, job_status: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": _TYPES[level - 1],
        "status": _status(state_type, job_status),
        "childStatusDetails": [],
    }


def _rolled_up(children: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """A parent's status from its children's: loading until all are over, then
    succeeded when all did, failed when all failed, else finished with errors."""
    statuses = [child["status"] for child in children]
    if all(s["jobStatus"] == QUEUED for s in statuses):
        return LOADING, QUEUED
    if any(s["stateType"] == LOADING for s in statuses):
        return LOADING, IN_PROGRESS
    outcomes = {s["jobStatus"] for s in statuses}
    if outcomes == {SUCCEEDED}:
        return FINISHED, SUCCEEDED
    if outcomes == {FAILED}:
        return FINISHED, FAILED
    return FINISHED, FINISHED_WITH_ERRORS


def plan_tree(
    plan: str,
    layout: Layout,
    objects: Mapping[str, str],
    outcome: str | None = None,
) -> dict[str, Any]:
    """The level-4 tree when each object has the jobStatus in `objects`
    (missing: queued; QUEUED and IN_PROGRESS are loading, the rest finished).
    `outcome` overrides the plan's own rolled-up jobStatus once it is over."""
    groups = []
    for group_name, schemas in layout.items():
        group = _node(group_name, 2, LOADING, QUEUED)
        for schema_name, tables in schemas.items():
            schema = _node(schema_name, 3, LOADING, QUEUED)
            for table in tables:
                said = objects.get(table, QUEUED)
                kind = LOADING if said in (QUEUED, IN_PROGRESS) else FINISHED
                schema["childStatusDetails"].append(_node(table, 4, kind, said))
            schema["status"] = _status(*_rolled_up(schema["childStatusDetails"]))
            group["childStatusDetails"].append(schema)
        group["status"] = _status(*_rolled_up(group["childStatusDetails"]))
        groups.append(group)
    root = _node(plan, 1, *_rolled_up(groups))
    root["childStatusDetails"] = groups
    if outcome is not None and root["status"]["stateType"] == FINISHED:
        root["status"]["jobStatus"] = outcome
    return root


def plan_script(
    *,
    plan: str = "Nightly",
    layout: Layout = DEFAULT_LAYOUT,
    failing: Iterable[str] = (),
    outcome: str | None = None,
    per_step: int = 1,
    polls: int = 1,
    seconds: float | None = None,
) -> list[Step]:
    """Steps from queued to over: `per_step` objects finish each step, those in
    `failing` as Failed; the last step holds. `outcome` replaces the plan's
    final jobStatus (e.g. "Aborted", "Canceled", or a word for status_map)."""
    tables = [t for schemas in layout.values() for ts in schemas.values() for t in ts]
    failed = set(failing)
    objects: dict[str, str] = {}
    trees = [plan_tree(plan, layout, objects)]
    for start in range(0, len(tables), per_step):
        for table in tables[start : start + per_step]:
            objects[table] = FAILED if table in failed else SUCCEEDED
        pending = tables[start + per_step : start + 2 * per_step]
        trees.append(
            plan_tree(plan, layout, {**objects, **dict.fromkeys(pending, IN_PROGRESS)}, outcome)
        )
    last = len(trees) - 1
    return [
        Step({"tree": tree}, *((1, None) if i == last else (polls, seconds)))
        for i, tree in enumerate(trees)
    ]


def success_script(**options: Any) -> list[Step]:
    """Every object loads: the plan Succeeded."""
    return plan_script(**options)


def partial_script(
    failing: Iterable[str] = ("OnlineStore.productmodel",), **options: Any
) -> list[Step]:
    """Some objects fail: the plan is Finished with Errors."""
    return plan_script(failing=failing, **options)


def failure_script(outcome: str = "Aborted", **options: Any) -> list[Step]:
    """The plan is aborted after its first object failed."""
    layout: Layout = options.pop("layout", DEFAULT_LAYOUT)
    first = next(t for schemas in layout.values() for ts in schemas.values() for t in ts)
    return plan_script(layout=layout, failing=[first], outcome=outcome, **options)


def prune(tree: Mapping[str, Any], level: int, depth: int = 1) -> dict[str, Any]:
    """The tree as a request at `level` sees it: 1 the plan alone, 2 with its
    load groups, 3 with schemas, 4 with objects (doc)."""
    node = {key: value for key, value in tree.items() if key != "childStatusDetails"}
    if depth < level:
        node["childStatusDetails"] = [
            prune(child, level, depth + 1) for child in tree.get("childStatusDetails", [])
        ]
    return node


@dataclass(frozen=True)
class IncortaError(Fault):
    """Answer with Incorta's error envelope: `{message}` with an INC_ code."""

    status: int = 500
    message: str = "INC_00000000: Internal server error"  # (sim) code
    headers: Mapping[str, str] = field(default_factory=dict)

    def answer(self, stopping: threading.Event) -> Reply:
        return Reply.json({"message": self.message}, self.status, self.headers)


class IncortaSimulator(Simulator):
    """One Incorta cluster with one tenant (case-sensitive), its token and its
    load plan executions."""

    base_path = "/incorta"

    def __init__(
        self,
        *,
        tenant: str = DEFAULT_TENANT,
        token: str = DEFAULT_TOKEN,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.tenant = tenant
        self.token = token
        self._clock = clock
        self._executions: dict[str, ScriptedJob] = {}
        self._executions_lock = threading.Lock()
        self._next_id = 1

    def add_execution(
        self,
        script: Sequence[Step | tuple[Mapping[str, Any], int]] | None = None,
        *,
        execution_id: int | None = None,
    ) -> str:
        """Start a load plan execution (default: `success_script()`); returns its id."""
        job = ScriptedJob(script if script is not None else success_script(), clock=self._clock)
        with self._executions_lock:
            number = execution_id if execution_id is not None else self._next_id
            self._next_id = max(self._next_id, number) + 1
            self._executions[str(number)] = job
        return str(number)

    def execution(self, execution_id: str) -> ScriptedJob:
        with self._executions_lock:
            return self._executions[execution_id]

    def handle(self, request: RecordedRequest) -> Reply:
        route = _STATUS_PATH.fullmatch(request.path)
        if request.method != "GET" or route is None:
            return _error(404, "INC_00404000: Resource not found")  # (sim)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "INC_03070101: Invalid or expired access token.")  # (sim) code
        tenant, execution_id = route.groups()
        if tenant != self.tenant:  # the tenant is case-sensitive (doc)
            return _error(400, f"INC_03070102: Tenant [{tenant}] does not exist.")  # (sim)
        level = _level(request.params.get("level", ["1"])[0])  # 1 is the default (doc)
        if level is None:
            return _error(400, "INC_05290502: level must be 1, 2, 3 or 4.")  # (sim)
        if not execution_id.isdigit():
            return _error(400, "INC_05290503: The execution ID must be an integer.")  # (sim)
        with self._executions_lock:
            job = self._executions.get(execution_id)
        if job is None:
            return _error(404, f"INC_05290504: Load plan execution [{execution_id}] not found.")
        return Reply.json(prune(job.answer()["tree"], level))


def _level(text: str) -> int | None:
    return int(text) if text in ("1", "2", "3", "4") else None


def _error(status: int, message: str) -> Reply:
    return Reply.json({"message": message}, status)
