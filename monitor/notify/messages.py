"""What a notification says: the facts about an event, the default wording, and
per-notifier title and body templates rendered in a sandbox (SPEC §2).

A template is config, not code: it sees plain data (never our objects), cannot
reach Python internals, is size-capped, and a template that breaks falls back
to the default wording with a logged warning — a typo never costs a message.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from jinja2 import ChainableUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from monitor.domain import Event
from monitor.redact import redact

log = logging.getLogger(__name__)

MAX_TEMPLATE_BYTES = 8 * 1024
MAX_TITLE_CHARS = 250
MAX_BODY_CHARS = 16 * 1024
MAX_LISTED = 20  # children, history lines and grouped jobs shown before "… and N more"
MAX_HISTORY_CHARS = 2000
ELLIPSIS = "…"

# Events whose message is about a job that did not end well: they show the
# failed children and the provider's history.
_UNSUCCESSFUL = frozenset({Event.PARTIAL, Event.FAILED, Event.CANCELED})
_SEVERITY = ("info", "success", "warning", "failure")  # least to most severe


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
    idempotency_key: str = ""  # "<job-key>:<event>"


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
    default_title = _one_line(_default_title_for(context))
    default_body = _default_body_for(context)
    variables = _template_variables(context)
    variables.update(default_title=default_title, default_body=default_body)
    title = _render_template("title", title_template, variables, MAX_TITLE_CHARS, context)
    body = _render_template("body", body_template, variables, MAX_BODY_CHARS, context)
    return RenderedMessage(
        title=_truncate(redact(_one_line(title or default_title)), MAX_TITLE_CHARS),
        body=_truncate(redact((body or default_body).rstrip()), MAX_BODY_CHARS),
        notify_type=_notify_type_for(context),
    )


def check_template(source: str) -> None:
    """Raise ValueError saying why `source` cannot be a title or body template
    (for config validation; render() checks again and falls back)."""
    try:
        _compile(source)
    except Exception as error:
        raise ValueError(f"invalid template: {_describe(error)}") from None


def _notify_type_for(context: MessageContext) -> str:
    """Apprise's notify type: the event's, or for a group the most severe one."""
    types = [_event_type(job.event) for job in context.jobs] + [_event_type(context.event)]
    return max(types, key=_SEVERITY.index)


def _default_title_for(context: MessageContext) -> str:
    """`hr-nightly failed`; for an unnamed group, `3 jobs: 2 failed, 1 partial`."""
    if context.jobs and not context.watch:
        tally = Counter(job.event for job in context.jobs)
        summary = ", ".join(f"{count} {event}" for event, count in tally.most_common())
        return f"{len(context.jobs)} jobs: {summary}"
    return f"{context.watch} {context.event}"


def _default_body_for(context: MessageContext) -> str:
    """One known fact per line, ending with the idempotency key."""
    lines = _fact_lines(context)
    for job in context.jobs[:MAX_LISTED]:
        lines += ["", _default_title_for(job)]
        lines += [f"  {line}" for line in _fact_lines(job) + _key_line(job)]
    if len(context.jobs) > MAX_LISTED:
        lines += ["", f"{ELLIPSIS} and {len(context.jobs) - MAX_LISTED} more jobs"]
    return "\n".join(lines + _key_line(context)).lstrip("\n")


def format_duration(seconds: float) -> str:
    """`45s`, `4m 12s`, `2h 03m`, `3d 04h`: two units are enough for a person."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _format_percent(progress: float) -> str:
    """`87%`; rounded down, so an unfinished job never shows 100%."""
    return f"{int(progress * 100 + 1e-9)}%"


def _format_counts(counts: dict[str, int]) -> str:
    """`processed 1,200 · errors 3 · total 1,250`."""
    order = ["processed", "errors", "total"]
    names = sorted(counts, key=lambda name: order.index(name) if name in order else len(order))
    return " · ".join(f"{name} {counts[name]:,}" for name in names)


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
        lines.append(f"progress: {_format_percent(context.progress)}")
    if context.counts:
        lines.append(f"counts: {_format_counts(context.counts)}")
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
        kept.insert(0, _truncate(line, MAX_HISTORY_CHARS))
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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


# Templates ------------------------------------------------------------------


def _template_variables(context: MessageContext) -> dict[str, Any]:
    """The context as plain data (dicts, lists, strings, numbers, datetimes), so
    a template can read facts but cannot reach our objects' attributes."""
    variables: dict[str, Any] = {item.name: getattr(context, item.name) for item in fields(context)}
    variables["counts"] = dict(context.counts)
    variables["children"] = list(context.children)
    variables["jobs"] = [_template_variables(job) for job in context.jobs]
    variables["notify_type"] = _notify_type_for(context)
    return variables


def _render_template(
    kind: str, source: str | None, variables: dict[str, Any], limit: int, context: MessageContext
) -> str | None:
    """The rendered template, or None (after a warning) when it cannot be used."""
    if source is None:
        return None
    try:
        text = _generate(_compile(source), variables, limit)
    except Exception as error:
        log.warning(
            "%s template unusable for %s %s, sent the default instead: %s",
            kind, context.watch, context.event, _describe(error),
        )  # fmt: skip
        return None
    if not text.strip():
        log.warning(
            "%s template rendered nothing for %s %s, sent the default instead",
            kind, context.watch, context.event,
        )  # fmt: skip
        return None
    return text


def _generate(template: Template, variables: dict[str, Any], limit: int) -> str:
    """Render, stopping as soon as the output passes `limit` characters."""
    pieces: list[str] = []
    size = 0
    for piece in template.generate(variables):
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            break
    return "".join(pieces)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, made loud about the things it refuses."""

    # A template's arithmetic cannot build a giant string or number: Jinja's
    # sandbox caps range() but not these.
    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # By default an unsafe attribute renders as nothing, which would hide
        # an attempt to escape the sandbox; refusing it makes render() fall back.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and abs(_number(left)).bit_length() * _number(right) > 4096:
            raise SecurityError("number too large")
        if operator == "*":
            size = _sequence_size(left) * _number(right) + _sequence_size(right) * _number(left)
            if size > MAX_BODY_CHARS:
                raise SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)


def _sequence_size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_environment = _Sandbox(autoescape=False, undefined=ChainableUndefined)
_environment.filters.update(
    duration=format_duration, percent=_format_percent, counts=_format_counts
)


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    size = len(source.encode())
    if size > MAX_TEMPLATE_BYTES:
        raise ValueError(f"template is {size} bytes, more than {MAX_TEMPLATE_BYTES}")
    return _environment.from_string(source)


def _describe(error: Exception) -> str:
    """A short, secret-free account of what went wrong in a template."""
    return _truncate(redact(_one_line(f"{type(error).__name__}: {error}")), 300)
