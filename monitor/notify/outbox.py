"""Turning events into outbox rows: one per (event, notifier URL), worded now
so the message says what was true when it happened.

The poller (and the engine's condition checks) call `address` and hand the
rows to the recorder (store/claims.py), which writes them in the same transaction as the
poll that caused them: an event is either recorded with its notifications or
not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monitor.config import NotifierSettings
from monitor.domain import Event
from monitor.notify.delivery import display_url, url_key
from monitor.notify.messages import MessageContext, context_to_data
from monitor.notify.rendering import render_for
from monitor.store.records import JobRecord, OutboxEntry


def job_key(job: JobRecord) -> str:
    """The job's name in idempotency keys: `watch/job-id`."""
    return f"{job.watch}/{job.job_id}"


def message_context(
    job: JobRecord, event: Event, provider_type: str, reason: str | None = None
) -> MessageContext:
    """What a template may say about `job` for `event`."""
    return MessageContext(
        watch=job.watch,
        event=event.value,
        provider=job.provider,
        provider_type=provider_type,
        job=job.job_id,
        state=job.state.value,
        raw_status=job.raw_status,
        progress=job.progress,
        counts={
            name: value
            for name, value in (
                ("processed", job.processed),
                ("errors", job.errors),
                ("total", job.total),
            )
            if value is not None
        },
        message=job.message,
        children=list(job.children),
        history=job.details.get("history"),
        duration=_duration(job),
        started_at=job.started_at,
        finished_at=job.finished_at,
        reason=reason,
        jobs=[],
        idempotency_key=f"{job_key(job)}:{event.value}",
    )


def address(
    job: JobRecord,
    events: Iterable[Event],
    *,
    provider_type: str,
    notify: Iterable[str],
    on: Iterable[Event],
    notifiers: Mapping[str, NotifierSettings],
    reason: str | None = None,
    occurrence: int | None = None,
) -> list[OutboxEntry]:
    """Outbox rows for each event the watch subscribes to, for every URL of
    every notifier it names. `occurrence` tells reminders apart in the key."""
    wanted = set(on)
    names = list(notify)
    entries: list[OutboxEntry] = []
    for event in events:
        if event not in wanted:
            continue
        context = message_context(job, event, provider_type, reason)
        dedupe_key = context.idempotency_key
        if occurrence is not None:
            dedupe_key = f"{dedupe_key}:{occurrence}"
        entries += address_context(context, dedupe_key, notify=names, notifiers=notifiers)
    return entries


def address_context(
    context: MessageContext,
    dedupe_key: str,
    *,
    notify: Iterable[str],
    notifiers: Mapping[str, NotifierSettings],
) -> list[OutboxEntry]:
    """Outbox rows for one message, for every URL of every named notifier.
    For messages that are not about one job's event (e.g. one `unreachable`
    naming every job of a provider: a context with `jobs`); `dedupe_key` must
    be stable for that occurrence, as it is what stops a second send."""
    data = context_to_data(context)
    entries: list[OutboxEntry] = []
    for name in dict.fromkeys(notify):  # a notifier named twice still sends once
        notifier = notifiers.get(name)
        if notifier is None:
            continue
        message = render_for(context, notifier)
        entries += [
            OutboxEntry(
                watch=context.watch,
                event=context.event,
                dedupe_key=dedupe_key,
                notifier=name,
                url_key=url_key(url),
                url_display=display_url(url),
                title=message.title,
                body=message.body,
                notify_type=message.notify_type,
                context=data,
                delay=notifier.group_wait,
            )
            for url in dict.fromkeys(notifier.urls)
        ]
    return entries


def _duration(job: JobRecord) -> float | None:
    """How long the job ran: the provider's own times when it gave them, else
    from when we first saw it to when we saw it end."""
    start = job.started_at or job.first_seen_at
    end = job.finished_at or job.terminal_at
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)
