"""A fake Rocket.Chat server's import API, as PROVIDERS.md (rocketchat) describes it.

One current import operation at a time: `start_operation` begins a new one,
which replaces the current one as a new import does on a real server. Only
`getCurrentImportOperation` moves the current operation along its script.
`getImportFileData` answers too, and is counted, so a test can prove the
provider never calls it. The simulator imports nothing from the provider.
Where the vendor's code and docs are silent it makes a choice, marked (sim).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.simulators.base import RateLimit, RecordedRequest, Reply, ScriptedJob, Simulator, Step

DEFAULT_USER_ID = "rcSimUser7Hq2XbN4"
DEFAULT_AUTH_TOKEN = "rc-simulated-auth-token"
CURRENT_OPERATION = "/api/v1/getCurrentImportOperation"
FILE_DATA = "/api/v1/getImportFileData"

# Meteor's Random.id(): 17 characters from this alphabet (code).
_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
_IMPORTER_USER = "rcSimAdmin9Kd3Lp"  # (sim) the admin who started the imports


def _count(total: int, completed: int, error: int | None = None) -> dict[str, int]:
    count = {"total": total, "completed": completed}
    if error is not None:
        count["error"] = error
    return count


def _steps(
    statuses: Sequence[tuple[str, dict[str, int]]], polls: int, seconds: float | None
) -> list[Step]:
    """A step per (status, count); the last one holds for good."""
    last = len(statuses) - 1
    return [
        Step({"status": status, "count": count}, *((1, None) if i == last else (polls, seconds)))
        for i, (status, count) in enumerate(statuses)
    ]


def success_script(*, total: int = 120, polls: int = 1, seconds: float | None = None) -> list[Step]:
    """An import that is uploaded, prepared, imported and done without errors."""
    half = total // 2
    return _steps(
        [
            ("importer_new", _count(0, 0)),
            ("importer_file_loaded", _count(0, 0)),
            ("importer_importing_messages", _count(total, half)),
            ("importer_done", _count(total, total, 0)),
        ],
        polls,
        seconds,
    )


def partial_script(
    *, total: int = 120, errors: int = 3, polls: int = 1, seconds: float | None = None
) -> list[Step]:
    """An import that is done, but with `errors` records in error."""
    return _steps(
        [
            ("importer_new", _count(0, 0)),
            ("importer_importing_users", _count(total, total // 3)),
            ("importer_done", _count(total, total - errors, errors)),
        ],
        polls,
        seconds,
    )


def failure_script(*, total: int = 120, polls: int = 1, seconds: float | None = None) -> list[Step]:
    """An import that fails half-way."""
    return _steps(
        [
            ("importer_new", _count(0, 0)),
            ("importer_importing_channels", _count(total, total // 2)),
            ("importer_import_failed", _count(total, total // 2)),
        ],
        polls,
        seconds,
    )


def waiting_script(
    *, hold: int | None = None, total: int = 120, polls: int = 1, seconds: float | None = None
) -> list[Step]:
    """An import that stops at user selection: for good, or for `hold` polls
    (an admin then picks what to import) before it goes on and is done."""
    prepared = [
        ("importer_new", _count(0, 0)),
        ("importer_preparing_users", _count(0, 0)),
        ("importer_user_selection", _count(total, 0)),
    ]
    if hold is None:
        return _steps(prepared, polls, seconds)
    steps = _steps([*prepared, ("importer_done", _count(total, total, 0))], polls, seconds)
    steps[2] = Step(steps[2].fields, hold)
    steps.insert(3, Step({"status": "importer_importing_started", "count": _count(total, 0)}))
    return steps


def cancelled_script(*, polls: int = 1, seconds: float | None = None) -> list[Step]:
    """An import an admin cancels at user selection."""
    return _steps(
        [
            ("importer_new", _count(0, 0)),
            ("importer_user_selection", _count(40, 0)),
            ("importer_import_cancelled", _count(40, 0)),
        ],
        polls,
        seconds,
    )


@dataclass
class _Operation:
    id: str
    importer: str
    importer_key: str
    created: datetime
    script: ScriptedJob
    valid: bool = True
    shown: dict[str, Any] | None = None  # the fields last answered
    updated: datetime | None = None


class RocketChatSimulator(Simulator):
    """One Rocket.Chat server: a user with the run-import permission (unless
    `can_import` is False), its import operations and its per-endpoint rate limit
    (10 calls per 60 s by default, as the code has it; None turns it off)."""

    def __init__(
        self,
        *,
        user_id: str = DEFAULT_USER_ID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        can_import: bool = True,
        rate_limit: int | None = 10,
        rate_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.user_id = user_id
        self.auth_token = auth_token
        self.can_import = can_import
        self._clock = clock
        self._wall_clock = wall_clock
        self._rate_limit = rate_limit
        self._rate_window = rate_window
        self._limits: dict[str, RateLimit] = {}
        self._operations: dict[str, _Operation] = {}
        self._current: _Operation | None = None
        self._state_lock = threading.Lock()

    def start_operation(
        self,
        script: Sequence[Step | tuple[Mapping[str, Any], int]] | None = None,
        *,
        operation_id: str | None = None,
        importer: str = "Slack",
        importer_key: str = "slack",
        created: datetime | None = None,
    ) -> str:
        """Begin a new import operation (default: `success_script()`); it
        replaces the current one, which is invalidated. Returns its `_id`."""
        new_id = operation_id or "".join(random.choices(_ID_ALPHABET, k=17))
        operation = _Operation(
            id=new_id,
            importer=importer,
            importer_key=importer_key,
            created=created or self._now(),
            script=ScriptedJob(
                script if script is not None else success_script(), clock=self._clock
            ),
        )
        with self._state_lock:
            if self._current is not None:
                self._current.valid = False  # a new operation invalidates the others (code)
            self._operations[new_id] = operation
            self._current = operation
        return new_id

    @property
    def current_id(self) -> str | None:
        with self._state_lock:
            return self._current.id if self._current else None

    def operation(self, operation_id: str) -> ScriptedJob:
        with self._state_lock:
            return self._operations[operation_id].script

    @property
    def file_data_calls(self) -> int:
        """How many requests reached getImportFileData (the provider must make none)."""
        return sum(1 for r in self.requests if r.path == FILE_DATA)

    def handle(self, request: RecordedRequest) -> Reply:
        # (sim) Every request counts against its endpoint's limit, as the admin
        # UI's calls do on a real server.
        wait = self._limit_for(request.path).hit() if self._rate_limit else None
        if wait is not None:
            return self._too_many_requests(wait)
        if request.method != "GET" or request.path not in (CURRENT_OPERATION, FILE_DATA):
            return Reply.json({"status": "error", "message": "API endpoint does not exist"}, 404)
        if (
            request.headers.get("x-user-id") != self.user_id
            or request.headers.get("x-auth-token") != self.auth_token
        ):
            return Reply.json(
                {"status": "error", "message": "You must be logged in to do this."}, 401
            )
        if not self.can_import:
            error = (
                "User does not have the permissions required for this action [error-unauthorized]"
            )
            return Reply.json({"success": False, "error": error}, 403)
        if request.path == FILE_DATA:
            return self._file_data()
        return self._current_operation()

    def _limit_for(self, path: str) -> RateLimit:
        with self._state_lock:
            limit = self._limits.get(path)
            if limit is None:
                assert self._rate_limit is not None
                limit = RateLimit(self._rate_limit, self._rate_window, clock=self._clock)
                self._limits[path] = limit
            return limit

    def _too_many_requests(self, wait: float) -> Reply:
        seconds = max(1, round(wait))
        error = (
            "Error, too many requests. Please slow down. You must wait "
            f"{seconds} seconds before trying this endpoint again. [error-too-many-requests]"
        )
        # X-RateLimit-Reset is epoch milliseconds (code).
        reset_ms = int((self._wall_clock() + wait) * 1000)
        headers = {
            "X-RateLimit-Limit": str(self._rate_limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset_ms),
        }
        return Reply.json({"success": False, "error": error}, 429, headers)

    def _current_operation(self) -> Reply:
        with self._state_lock:
            operation = self._current
        if operation is None:
            return Reply.json({"success": True})  # `operation` undefined: the key is absent (code)
        fields = operation.script.answer()
        with self._state_lock:
            if fields != operation.shown:
                operation.shown, operation.updated = fields, self._now()
            updated = operation.updated or operation.created
        body = {
            "_id": operation.id,
            "type": operation.importer,
            "importerKey": operation.importer_key,
            "ts": str(int(operation.created.timestamp() * 1000)),  # epoch ms as text (doc)
            "valid": operation.valid,
            "user": _IMPORTER_USER,
            "_updatedAt": _iso(updated),
            **fields,
        }
        return Reply.json({"operation": body, "success": True})

    def _file_data(self) -> Reply:
        # In the file-loaded step a real server starts preparing the file and
        # answers `waiting` (code): exactly why the provider must not call it.
        with self._state_lock:
            shown = self._current.shown if self._current else None
        if shown and shown.get("status") in ("importer_new", "importer_file_loaded"):
            return Reply.json({"waiting": True, "success": True})
        return Reply.json({"users": [], "channels": [], "message_count": 0, "success": True})

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall_clock(), UTC)


def _iso(moment: datetime) -> str:
    """A JavaScript Date in JSON: ISO 8601 with milliseconds and Z."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )
