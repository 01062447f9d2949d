"""What a notification says: the facts about an event (MessageContext), the
default wording, and the notifier's own templates when it has them (SPEC §2).

A template that breaks falls back to the default wording with a logged
warning: a typo never costs a message.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from monitor.domain import Event
from monitor.notify.formatting import (
    ELLIPSIS,
    format_counts,
    format_duration,
    format_percent,
    one_line,
    truncate,
)
from monitor.notify.templates import describe, render_template
from monitor.redact import redact

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 250
MAX_BODY_CHARS = 16 * 1024
MAX_LISTED = 20  # children and history lines shown before "… and N more"
MAX_GROUPED = 150  # jobs listed in a grouped message before "… and N more"
MAX_HISTORY_CHARS = 2000
_GROUP_LINE_CHARS = 160

# Events whose message is about a job that did not end well: they show the
# failed children and the provider's history.
_UNSUCCESSFUL = frozenset({Event.PARTIAL, Event.FAILED, Event.CANCELED})
_SEVERITY = ("info", "success", "warning", "failure")  # least to most severe
_EVENT_ORDER = [event.value for event in Event]


@dataclass(frozen=True)
class MessageContext:
    """Everything a notification may say about one job's event, or, with
    `jobs`, about a group of events sent as one message."""

    watch: str
    event: str
    provider: str = ""
    provider_type: str = ""
    job: str = ""
    state: str = ""
    raw_status: str | None = None
    progress: float | None = None  # 0..1
    counts: dict[str, int] = field(default_factory=dict)  # processed, errors, total
    message: str | None = None
    children: list[str] = field(default_factory=list)  # paths of children that did not succeed
    history: str | None = None  # KPA's free-text dataload history
    duration: float | None = None  # seconds the job ran (so far)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None  # why a condition (unreachable, stalled, ...) holds or cleared
    jobs: list[MessageContext] = field(default_factory=list)
    idempotency_key: str = ""  # "<watch>/<job>:<event>"


@dataclass(frozen=True)
class RenderedMessage:
    """A notification ready for Apprise: secrets masked, sizes capped."""

    title: str
    body: str
    notify_type: str  # info, success, warning or failure


def render(
    context: MessageContext,
    title_template: str | None = None,
    body_template: str | None = None,
) -> RenderedMessage:
    """The title and body for `context`: from the notifier's templates when it
    has them and they work, else the default wording."""
    default_title = one_line(_default_title_for(context))
    default_body = _default_body_for(context)
    variables = template_variables(context)
    variables.update(default_title=default_title, default_body=default_body)
    title = _templated("title", title_template, variables, MAX_TITLE_CHARS, context)
    body = _templated("body", body_template, variables, MAX_BODY_CHARS, context)
    return RenderedMessage(
        title=truncate(redact(one_line(title or default_title)), MAX_TITLE_CHARS),
        body=truncate(redact((body or default_body).rstrip()), MAX_BODY_CHARS),
        notify_type=_notify_type_for(context),
    )


def notify_type_for(context: MessageContext) -> str:
    """Apprise's notify type: the event's, or for a group the most severe one."""
    return _notify_type_for(context)


def template_variables(context: MessageContext) -> dict[str, Any]:
    """The context as plain data (dicts, lists, strings, numbers, datetimes), so
    a template can read facts but cannot reach our objects' attributes."""
    variables: dict[str, Any] = {item.name: getattr(context, item.name) for item in fields(context)}
    variables["counts"] = dict(context.counts)
    variables["children"] = list(context.children)
    variables["jobs"] = [template_variables(job) for job in context.jobs]
    variables["summary"] = _tally(context.jobs) if context.jobs else ""
    variables["notify_type"] = _notify_type_for(context)
    return variables


def _templated(
    kind: str, source: str | None, variables: dict[str, Any], limit: int, context: MessageContext
) -> str | None:
    """The rendered template, or None (after a warning) when it cannot be used."""
    if source is None:
        return None
    what = context.watch or f"{len(context.jobs)} jobs"
    try:
        text = render_template(source, variables, limit)
    except Exception as error:
        log.warning(
            "%s template unusable for %s %s, sent the default instead: %s",
            kind, what, context.event, describe(error),
        )  # fmt: skip
        return None
    if not text.strip():
        log.warning(
            "%s template rendered nothing for %s %s, sent the default instead",
            kind, what, context.event,
        )  # fmt: skip
        return None
    return text


def _notify_type_for(context: MessageContext) -> str:
    """Apprise's notify type: the event's, or for a group the most severe one."""
    types = [_event_type(job.event) for job in context.jobs] + [_event_type(context.event)]
    return max(types, key=_SEVERITY.index)


# Default wording ---------------------------------------------------------------


def _default_title_for(context: MessageContext) -> str:
    """`hr-nightly failed`; for a group `nightly: 37 succeeded, 1 failed`, or
    `40 jobs: …` when the jobs belong to several watches."""
    if context.jobs:
        return f"{context.watch or f'{len(context.jobs)} jobs'}: {_tally(context.jobs)}"
    return f"{context.watch} {context.event}"


def _default_body_for(context: MessageContext) -> str:
    """One known fact per line, ending with the idempotency key; for a group,
    one line per job, the least successful first, each starting with its key."""
    if context.jobs:
        return "\n".join(_group_lines(context.jobs))
    return "\n".join(_fact_lines(context) + _key_line(context))


def _tally(jobs: list[MessageContext]) -> str:
    """`37 succeeded, 2 partial, 1 failed`, in the order events are defined."""
    tally = Counter(job.event for job in jobs)
    ordered = sorted(tally, key=lambda e: _EVENT_ORDER.index(e) if e in _EVENT_ORDER else 99)
    return ", ".join(f"{tally[event]} {event}" for event in ordered)


def _group_lines(jobs: list[MessageContext]) -> list[str]:
    ordered = sorted(jobs, key=lambda job: (-_SEVERITY.index(_event_type(job.event)), _key(job)))
    lines = [_group_line(job) for job in ordered[:MAX_GROUPED]]
    if len(ordered) > MAX_GROUPED:
        lines.append(f"{ELLIPSIS} and {len(ordered) - MAX_GROUPED} more jobs")
    return lines


def _group_line(job: MessageContext) -> str:
    """`hr-nightly/5804…:failed · error · ran 4m 12s · errors 3 · Row 17: bad date`."""
    parts = [_key(job)]
    status = job.raw_status or job.state
    if status and status != job.event:
        parts.append(status)
    if job.duration is not None:
        parts.append(f"ran {format_duration(job.duration)}")
    if job.counts.get("errors"):
        parts.append(f"errors {job.counts['errors']:,}")
    note = job.reason or job.message
    if note:
        parts.append(one_line(note))
    return truncate(" · ".join(parts), _GROUP_LINE_CHARS)


def _key(job: MessageContext) -> str:
    return job.idempotency_key or f"{job.watch}/{job.job}:{job.event}"


def _fact_lines(context: MessageContext) -> list[str]:
    lines: list[str] = []
    if context.reason:
        lines += _fact("reason", context.reason)
    if context.provider:
        kind = f" ({context.provider_type})" if context.provider_type else ""
        lines.append(f"provider: {context.provider}{kind}")
    if context.job:
        lines.append(f"job: {context.job}")
    lines += _status_line(context)
    if context.duration is not None:
        verb = "ran for" if _is_terminal(context.event) else "running for"
        lines.append(f"{verb}: {format_duration(context.duration)}")
    if context.progress is not None:
        lines.append(f"progress: {format_percent(context.progress)}")
    if context.counts:
        lines.append(f"counts: {format_counts(context.counts)}")
    if context.message:
        lines += _fact("message", context.message)
    if context.event in _UNSUCCESSFUL:
        lines += _listing("children that did not succeed", context.children)
        if context.history:
            lines += ["history:"] + [f"  {line}" for line in _history_tail(context.history)]
    return lines


def _status_line(context: MessageContext) -> list[str]:
    if context.raw_status and context.state and context.raw_status != context.state:
        return [f"status: {context.raw_status} ({context.state})"]
    status = context.raw_status or context.state
    return [f"status: {status}"] if status else []


def _fact(label: str, text: str) -> list[str]:
    """`label: text`, or the label over indented lines when the text has several."""
    text_lines = text.strip().splitlines() or [""]
    if len(text_lines) == 1:
        return [f"{label}: {text_lines[0]}"]
    return _listing(label, text_lines, bullet="")


def _listing(label: str, items: list[str], bullet: str = "- ") -> list[str]:
    if not items:
        return []
    lines = [f"{label}:"] + [f"  {bullet}{item}" for item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(f"  {ELLIPSIS} and {len(items) - MAX_LISTED} more")
    return lines


def _history_tail(history: str) -> list[str]:
    """The end of the history, where the latest entries and the error are:
    at most MAX_LISTED lines and about MAX_HISTORY_CHARS characters."""
    lines = [line for line in history.strip().splitlines() if line.strip()]
    kept: list[str] = []
    size = 0
    for line in reversed(lines[-MAX_LISTED:]):
        size += len(line)
        if size > MAX_HISTORY_CHARS and kept:
            break
        kept.insert(0, truncate(line, MAX_HISTORY_CHARS))
    dropped = len(lines) - len(kept)
    return ([f"{ELLIPSIS} {dropped} earlier lines"] if dropped else []) + kept


def _key_line(context: MessageContext) -> list[str]:
    return [f"key: {context.idempotency_key}"] if context.idempotency_key else []


def _as_event(name: str) -> Event | None:
    try:
        return Event(name)
    except ValueError:  # not a job event: a test message, a group heading
        return None


def _is_terminal(name: str) -> bool:
    event = _as_event(name)
    return event is not None and event.terminal


def _event_type(name: str) -> str:
    event = _as_event(name)
    return event.apprise_type if event is not None else "info"


# Stored form ---------------------------------------------------------------------

_TIMES = ("started_at", "finished_at")
_STORED_HISTORY_CHARS = 2 * MAX_HISTORY_CHARS  # more than a message shows


def context_to_data(context: MessageContext) -> dict[str, Any]:
    """The context as JSON-ready data for the outbox row, secrets masked and the
    history cut to the tail a message can show."""
    data: dict[str, Any] = {}
    for item in fields(context):
        value = getattr(context, item.name)
        if item.name in _TIMES:
            value = value.isoformat() if value is not None else None
        elif item.name == "jobs":
            value = [context_to_data(job) for job in value]
        elif item.name == "history" and value:
            value = redact(value[-_STORED_HISTORY_CHARS:])
        elif item.name == "children":
            value = [redact(child) for child in value]
        elif isinstance(value, str):
            value = redact(value)
        data[item.name] = value
    return data


def context_from_data(data: dict[str, Any]) -> MessageContext:
    """The context a row stored; keys this version does not know are ignored."""
    known = {item.name for item in fields(MessageContext)}
    values = {name: value for name, value in data.items() if name in known}
    for name in _TIMES:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    values["jobs"] = [context_from_data(job) for job in values.get("jobs") or []]
    values.setdefault("watch", "")
    values.setdefault("event", "")
    return MessageContext(**values)
