"""`loadwatch explain PROVIDER FILE`: how one saved response maps to a status,
through the provider's own pure `parse`, for writing and checking mappings.

Exit status: 0 the response maps to a state; 1 it is a failed poll (or a
throttle) and says why; 2 explain could not run (no such provider, unreadable
file, a config that does not load).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.domain import JobStatus
from monitor.providers.base import FailureKind, PollFailure, Provider, Throttled
from monitor.providers.http import make_client
from monitor.providers.http_json import HttpJsonProvider
from monitor.providers.registry import provider_class
from monitor.providers.sanitize import UnsafeJson, load_json
from monitor.redact import redact

MAPPED, FAILED_POLL, CANNOT_RUN = 0, 1, 2
THROTTLED = "throttled"  # shown where a FailureKind would be


class ExplainError(Exception):
    """Explain cannot run; the message says why."""


@dataclass(frozen=True)
class Explanation:
    """What one saved response means to one provider block."""

    provider: str
    provider_type: str
    job: str
    status: JobStatus | None = None
    rule: dict[str, Any] | None = None  # http_json: the rule that decided the state
    failure: str | None = None  # a FailureKind, or "throttled"
    reason: str | None = None
    raw_status: str | None = None
    retry_after: float | None = None


def explain(config: Config, provider_name: str, body: bytes, job_id: str) -> Explanation:
    """Map `body` (a saved response) as the provider block `provider_name` would."""
    settings = config.providers.get(provider_name)
    if settings is None:
        known = ", ".join(sorted(config.providers)) or "none"
        raise ExplainError(f"no provider named '{provider_name}' (known: {known})")
    base = Explanation(provider_name, settings.type, job_id)
    try:
        payload = _decode(body)
        status, rule = asyncio.run(_parse(provider_name, settings, payload, job_id))
    except PollFailure as failure:
        kind, raw_status = failure.kind.value, failure.raw_status
        return replace(base, failure=kind, reason=failure.reason, raw_status=raw_status)
    except Throttled as throttled:
        wait = throttled.retry_after
        return replace(base, failure=THROTTLED, reason=throttled.reason, retry_after=wait)
    return replace(base, status=status, rule=rule, raw_status=status.raw_status)


async def _parse(name: str, settings: Any, payload: Any, job_id: str) -> tuple[JobStatus, Any]:
    # Providers take a client; parse never uses it, but it is closed on a loop.
    async with make_client(settings) as client:
        provider: Provider = provider_class(settings.type)(name, settings, client)
        if isinstance(provider, HttpJsonProvider):
            status = provider.parse(payload, job_id)  # the poll's own checks, then which rule
            evaluation = provider.evaluate(payload, job_id)
            rule = provider.settings.rules[evaluation.rule]
            decided = {"index": evaluation.rule, "when": rule.when, "state": rule.state.value}
            return status, decided
        return provider.parse(payload, job_id), None


def _decode(body: bytes) -> Any:
    """The saved response as JSON, or the failed poll a live one would be."""
    if not body.strip():
        raise PollFailure(FailureKind.MALFORMED, "malformed payload: empty body")
    try:
        return load_json(body)
    except UnsafeJson as unsafe:
        raise PollFailure(FailureKind.MALFORMED, f"malformed payload: {unsafe}") from None
    except ValueError:
        what = "HTML page instead of JSON" if body.lstrip()[:1] == b"<" else "not JSON"
        raise PollFailure(FailureKind.MALFORMED, f"malformed payload: {what}") from None


def as_dict(explanation: Explanation) -> dict[str, Any]:
    """The explanation as plain JSON data (`--json`)."""
    facts: dict[str, Any] = {
        "provider": explanation.provider,
        "type": explanation.provider_type,
        "job": explanation.job,
    }
    status = explanation.status
    if status is None:
        return {
            **facts,
            "failure": explanation.failure,
            "reason": explanation.reason,
            "raw_status": explanation.raw_status,
            "retry_after": explanation.retry_after,
        }
    return {
        **facts,
        "state": status.state.value,
        "raw_status": status.raw_status,
        "progress": status.progress,
        "counts": status.counts(),
        "message": status.message,
        "children": list(status.children),
        "started_at": _iso(status.started_at),
        "finished_at": _iso(status.finished_at),
        "job_id": status.job_id,
        "details": status.details,
        "rule": explanation.rule,
    }


def as_text(explanation: Explanation) -> str:
    """The explanation as aligned lines for a person; every field is shown,
    "-" where the mapping found nothing."""
    data = as_dict(explanation)
    lines = [("provider", f"{data['provider']} ({data['type']})"), ("job", data["job"])]
    if explanation.status is None:
        lines += [("failure", data["failure"]), ("reason", data["reason"])]
        lines += [("raw status", data["raw_status"])]
        if data["retry_after"] is not None:
            lines.append(("retry after", f"{data['retry_after']:g}s"))
    else:
        lines += [
            ("state", data["state"]),
            ("raw status", data["raw_status"]),
            ("progress", _percent(data["progress"])),
            ("counts", ", ".join(f"{k} {v}" for k, v in data["counts"].items())),
            ("message", data["message"]),
            ("children", "\n".join(data["children"])),
            ("started", data["started_at"]),
            ("finished", data["finished_at"]),
        ]
        lines += [("job id", data["job_id"])] if data["job_id"] else []
        lines += [(f"details.{k}", _shown(v)) for k, v in data["details"].items()]
        if data["rule"]:
            rule = data["rule"]
            lines.append(("rule", f"rules[{rule['index']}]: {rule['when']} → {rule['state']}"))
    return "\n".join(_line(label, value) for label, value in lines)


def run_explain(config: Config, provider_name: str, file: str, *, job: str, as_json: bool) -> int:
    """The `explain` command: print the explanation; the exit status."""
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        explanation = explain(config, provider_name, body, job)
    except OSError as error:
        print(f"cannot read {file}: {error.strerror or error}", file=sys.stderr)
        return CANNOT_RUN
    except ExplainError as error:
        print(str(error), file=sys.stderr)
        return CANNOT_RUN
    shown = json.dumps(as_dict(explanation), indent=2) if as_json else as_text(explanation)
    print(redact(shown))
    return MAPPED if explanation.status is not None else FAILED_POLL


def _line(label: str, value: Any) -> str:
    text = "-" if value in (None, "") else str(value)
    continuation = "\n" + " " * 13
    return f"{label:<12} {text.replace(chr(10), continuation)}"


def _percent(progress: float | None) -> str | None:
    return None if progress is None else f"{progress:.1%}"


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()
