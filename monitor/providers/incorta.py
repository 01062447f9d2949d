"""Incorta load plan executions, polled through Public API v2
`load-plan/status/{execution-id}` (PROVIDERS.md, incorta).

The answer is a tree: the plan, then (by `level`) its load groups, schemas and
objects, each with `status: {stateType, jobStatus}`. `stateType` says whether
a node is still loading; `jobStatus` says how it ended, in words whose full
list is not public — so the built-in word rules can be overridden per provider
with `status_map:`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import BeforeValidator, Field

from monitor.domain import JobStatus, State
from monitor.providers.base import (
    FailureKind,
    PollFailure,
    Provider,
    ProviderSettings,
    unrecognized_status,
)
from monitor.providers.http import (
    decode_json,
    error_message,
    raise_for_http_status,
    reason_text,
    request,
)

log = logging.getLogger(__name__)

FINISHED = "terminator state"  # stateType of a node that is over (doc)
LOADING = "load state"  # stateType of a node still loading (doc)

# jobStatus words of a finished node, matched without case, first match wins
# (doc). "error" comes first: "Finished with Errors" is partial, not succeeded.
_OUTCOME_WORDS = (
    ("error", State.PARTIAL),
    ("fail", State.FAILED),
    ("abort", State.FAILED),
    ("interrupt", State.FAILED),
    ("cancel", State.CANCELED),
    ("success", State.SUCCEEDED),
    ("succeed", State.SUCCEEDED),
    ("finished", State.SUCCEEDED),
)
_MAPPABLE = [state for state in State if state is not State.UNKNOWN]
_NOT_FAILED = frozenset({State.SUCCEEDED, State.PENDING, State.RUNNING, State.WAITING})
_PATH_SEPARATOR = " / "
_NO_SUCH_EXECUTION = "0"  # execution ids count from 1 (doc examples 3, 12, 23)


def _state_name(value: Any) -> Any:
    """A `status_map` value: a state name other than unknown."""
    if isinstance(value, State) and value is not State.UNKNOWN:
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in {state.value for state in _MAPPABLE}:
        return State(word)
    names = ", ".join(state.value for state in _MAPPABLE)
    shown = f"'{value}' is" if isinstance(value, str) else "this is"
    raise ValueError(f"{shown} not a state (use one of: {names})")


MappedState = Annotated[State, BeforeValidator(_state_name)]


class IncortaSettings(ProviderSettings):
    """A `type: incorta` provider block."""

    type: Literal["incorta"] = "incorta"
    base_url: str  # the cluster's own URL, ending in /incorta: there is no public default
    tenant: str = Field(min_length=1)  # case-sensitive (doc)
    token: str = Field(repr=False)  # a PAT or JWT, sent as Authorization: Bearer (doc)
    level: int = Field(default=4, ge=1, le=4)  # 1 plan, 2 +groups, 3 +schemas, 4 +objects
    # jobStatus word or phrase → state, consulted before the built-in rules.
    status_map: dict[Annotated[str, Field(min_length=1)], MappedState] = {}

    def secrets(self) -> list[str]:
        return [self.token]


class IncortaProvider(Provider):
    """Polls load plan executions on one Incorta tenant."""

    type_name: ClassVar[str] = "incorta"
    settings_model: ClassVar[type[ProviderSettings]] = IncortaSettings
    settings: IncortaSettings

    async def poll(self, job_id: str) -> JobStatus:
        return self.parse(await self._status_tree(job_id), job_id)

    async def check_credentials(self) -> str:
        """Ask for an execution that cannot exist: a 404 means the token and the
        tenant were accepted (401 raises)."""
        try:
            await self._status_tree(_NO_SUCH_EXECUTION)
        except PollFailure as failure:
            if failure.kind is FailureKind.NOT_FOUND:
                return "token accepted (a made-up execution id was not found)"
            raise
        return "token accepted"

    async def _status_tree(self, job_id: str) -> Any:
        tenant = quote(self.settings.tenant, safe="")
        response = await request(
            self.client,
            "GET",
            f"{self.settings.base_url.rstrip('/')}/api/v2/{tenant}"
            f"/load-plan/status/{quote(job_id, safe='')}",
            params={"level": self.settings.level},
            headers={"Authorization": f"Bearer {self.settings.token}"},
        )
        # Errors are {message} with an INC_ code (doc): 401 auth, 404 not found,
        # 400/422/500 a failed poll carrying the message.
        try:
            raise_for_http_status(response)
        except PollFailure as failure:
            said = error_message(response)
            if failure.kind in (FailureKind.AUTH, FailureKind.NOT_FOUND) and said:
                # "expired access token" or "execution not found" is worth showing.
                raise PollFailure(failure.kind, f"{failure.reason}: {said}") from None
            raise
        return decode_json(response)

    def parse(self, payload: Any, job_id: str) -> JobStatus:
        if not isinstance(payload, dict):
            raise PollFailure(FailureKind.MALFORMED, "malformed payload: not a JSON object")
        state_type, job_status = _status_words(payload, "the plan")
        state = self._node_state(state_type, job_status)
        if state is None:
            raise unrecognized_status("incorta", job_id, job_status, "add it to status_map")
        children = () if state in _NOT_FAILED else tuple(self._unsuccessful_paths(payload))
        name = payload.get("name")
        return JobStatus(
            state=state,
            raw_status=job_status,
            progress=_progress(payload) if state is State.RUNNING else None,
            children=children,
            details={
                "stateType": state_type,
                **({"plan": name} if isinstance(name, str) and name else {}),
            },
        )

    def _node_state(self, state_type: str, job_status: str) -> State | None:
        """The state of one node; None when its words are not known.

        stateType decides whether the node is over (doc); jobStatus how it
        ended. A status_map entry is used when it agrees with stateType: a
        loading node cannot be finished, a finished one cannot be loading."""
        kind = state_type.strip().lower()
        if kind not in (FINISHED, LOADING):
            return None
        mapped = _mapped_state(self.settings.status_map, job_status)
        if kind == LOADING:
            return mapped if mapped is not None and not mapped.terminal else State.RUNNING
        if mapped is not None and mapped.terminal:
            return mapped
        return _outcome(job_status)

    def _unsuccessful_paths(self, node: Mapping[str, Any], trail: str = "") -> Iterator[str]:
        """`Group 1 / OnlineStore / OnlineStore.productmodel: Failed` for every
        deepest node that did not succeed: a group that failed because of one
        table is named through that table, not on a line of its own."""
        for child in _children(node):
            name = child.get("name")
            path = f"{trail}{_PATH_SEPARATOR if trail else ''}{name or '?'}"
            words = _child_words(child)
            if words is not None and self._node_state(*words) in _NOT_FAILED:
                continue
            job_status = words[1] if words is not None else "no status"
            below = list(self._unsuccessful_paths(child, path))
            yield from below or [f"{path}: {job_status}"]


def _mapped_state(status_map: Mapping[str, State], job_status: str) -> State | None:
    """The status_map state for `job_status`: an entry equal to it wins, else
    the first entry (in the order written) that it contains; without case."""
    said = " ".join(job_status.lower().split())
    words = [(" ".join(key.lower().split()), state) for key, state in status_map.items()]
    for word, state in words:
        if word == said:
            return state
    for word, state in words:
        if word in said:
            return state
    return None


def _outcome(job_status: str) -> State | None:
    said = job_status.lower()
    for word, state in _OUTCOME_WORDS:
        if word in said:
            return state
    return None


def _status_words(node: Mapping[str, Any], what: str) -> tuple[str, str]:
    status = node.get("status")
    if not isinstance(status, dict):
        raise PollFailure(FailureKind.MALFORMED, f"malformed payload: {what} has no status")
    state_type, job_status = status.get("stateType"), status.get("jobStatus")
    if not isinstance(state_type, str) or not isinstance(job_status, str) or not job_status:
        raise PollFailure(
            FailureKind.MALFORMED,
            reason_text(f"malformed payload: {what} has no stateType and jobStatus"),
        )
    return state_type, job_status


def _child_words(child: Mapping[str, Any]) -> tuple[str, str] | None:
    """A child's stateType and jobStatus; None when it has none (it is then
    listed as not successful rather than failing the whole poll)."""
    try:
        return _status_words(child, "a child")
    except PollFailure:
        return None


def _children(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    children = node.get("childStatusDetails")
    if children is None:
        return []
    if not isinstance(children, list):
        raise PollFailure(FailureKind.MALFORMED, "malformed payload: childStatusDetails not a list")
    return [child for child in children if isinstance(child, dict)]


def _progress(plan: Mapping[str, Any]) -> float | None:
    """The share of the deepest nodes that are over, while the plan loads
    (inferred: the API gives no progress; at level 1 there is none)."""
    leaves = list(_leaves(plan))
    if not leaves:
        return None
    over = sum(1 for leaf in leaves if _finished(leaf))
    return over / len(leaves)


def _leaves(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for child in _children(node):
        if _children(child):
            yield from _leaves(child)
        else:
            yield child


def _finished(node: Mapping[str, Any]) -> bool:
    status = node.get("status")
    state_type = status.get("stateType") if isinstance(status, dict) else None
    return isinstance(state_type, str) and state_type.strip().lower() == FINISHED
