"""One HTTP exchange as the routes see it: a parsed request and a response
(monitor/service/api.py routes them; page.py and reads.py answer them)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.service.access import Refusal
from monitor.service.watch_requests import BadRequest


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Response:
        return cls(status, json.dumps(payload, indent=2).encode() + b"\n", headers=headers)

    @classmethod
    def error(cls, status: int, message: str, **headers: str) -> Response:
        return cls.json(status, {"error": message}, **headers)

    @classmethod
    def refusal(cls, refusal: Refusal) -> Response:
        return cls.json(refusal.status, {"error": refusal.message}, **refusal.headers)


@dataclass(frozen=True)
class Request:
    """One request, parsed: the path's parameters and the query's values by name."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: Mapping[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        """The query's one value for `name`; raises BadRequest when given twice."""
        values = self.query.get(name, [])
        if len(values) > 1:
            raise BadRequest(f"'{name}' is given {len(values)} times; give it once")
        return values[0] if values else None
