"""`format: json` notifiers: the message body is a JSON document of the event's
facts, for webhooks and automation that would rather parse than read.

The document is always valid JSON, however long the job's account: lists and
texts are capped before encoding (a cut JSON text would be no use to a
machine), and every string has already had its secrets masked
(`context_to_data`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from monitor.notify.messages import MessageContext, context_to_data, notify_type_for

FORMAT_VERSION = 1
MAX_CHILDREN = 100
MAX_JOBS = 500
MAX_TEXT_CHARS = 4000

# The facts a document carries, in this order (SPEC §4).
_FIELDS = (
    "event",
    "watch",
    "provider",
    "provider_type",
    "job",
    "state",
    "raw_status",
    "progress",
    "counts",
    "duration",
    "started_at",
    "finished_at",
    "message",
    "reason",
    "children",
)


def json_body(context: MessageContext) -> str:
    """The message body for `context`: one event, or a group with `jobs`."""
    return json.dumps(json_document(context), ensure_ascii=False, allow_nan=False)


def json_document(context: MessageContext) -> dict[str, Any]:
    """The document as data: `{version, type, key, event, watch, …}`, and for a
    group message `jobs`, one document per event in it."""
    data = context_to_data(context)
    document: dict[str, Any] = {"version": FORMAT_VERSION, "type": notify_type_for(context)}
    if context.jobs:
        document.update(
            key=context.idempotency_key, event=context.event or None, watch=context.watch or None
        )
        members = [_facts(job) for job in data["jobs"]]
        document["jobs"] = members[:MAX_JOBS]
        document["more_jobs"] = max(len(members) - MAX_JOBS, 0)
        return document
    document.update(_facts(data))
    return document


def _facts(data: dict[str, Any]) -> dict[str, Any]:
    """One event's facts, from its stored (secret-free) form."""
    facts: dict[str, Any] = {"key": data.get("idempotency_key") or None}
    for name in _FIELDS:
        value = data.get(name)
        if isinstance(value, str):
            value = value[:MAX_TEXT_CHARS] or None
        elif isinstance(value, float) and not math.isfinite(value):
            value = None  # JSON has no NaN or Infinity
        facts[name] = value
    children = list(data.get("children") or [])
    facts["children"] = [child[:MAX_TEXT_CHARS] for child in children[:MAX_CHILDREN]]
    facts["more_children"] = max(len(children) - MAX_CHILDREN, 0)
    facts["counts"] = dict(data.get("counts") or {})
    return facts
