"""Turning claimed outbox rows into messages: one per row, or, for a notifier
with `group_wait`, one per URL for every row claimed together (SPEC §2:
"events for the same notifier that fire within group_wait are sent as one
message listing every job").

The rows of a group are delivered, retried, marked sent or given up on
together; each keeps its own (event, URL) key, so a terminal event still goes
at most once per URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from monitor.config import NotifierSettings
from monitor.notify.messages import MessageContext, context_from_data
from monitor.notify.rendering import render_for
from monitor.store.records import NotificationRecord


@dataclass(frozen=True)
class Delivery:
    """One message for one URL, standing for one or more outbox rows."""

    notifier: str
    url_key: str
    url_display: str
    rows: tuple[NotificationRecord, ...]
    title: str
    body: str
    notify_type: str
    key: str  # the idempotency key: the row's `job:event`, or one for the whole group

    @property
    def ids(self) -> list[int]:
        return [row.id for row in self.rows]

    @property
    def label(self) -> str:
        """How the log names it: the row's key, or `3 notifications (group …)`."""
        if len(self.rows) == 1:
            return self.key
        return f"{len(self.rows)} notifications ({self.key})"


def plan_deliveries(
    rows: Sequence[NotificationRecord], notifiers: Mapping[str, NotifierSettings]
) -> list[Delivery]:
    """The messages to send for `rows`: grouped per URL where the notifier
    groups, one per row elsewhere (and for a group of one)."""
    batches: dict[tuple[str, str], list[NotificationRecord]] = {}
    singles: list[NotificationRecord] = []
    for row in rows:
        notifier = notifiers.get(row.notifier)
        if notifier is not None and notifier.group_wait > 0:
            batches.setdefault((row.notifier, row.url_key), []).append(row)
        else:
            singles.append(row)
    plans = [_single(row) for row in singles]
    for (name, _), batch in batches.items():
        plans.append(_single(batch[0]) if len(batch) == 1 else _group(batch, notifiers[name]))
    return plans


def group_window(notifiers: Mapping[str, NotifierSettings]) -> dict[str, float]:
    """notifier → group_wait, for the notifiers that group."""
    return {name: n.group_wait for name, n in notifiers.items() if n.group_wait > 0}


def _single(row: NotificationRecord) -> Delivery:
    """A row on its own goes as it was worded when it was queued."""
    return Delivery(
        notifier=row.notifier,
        url_key=row.url_key,
        url_display=row.url_display,
        rows=(row,),
        title=row.title,
        body=row.body,
        notify_type=row.notify_type,
        key=row.dedupe_key,
    )


def _group(rows: list[NotificationRecord], notifier: NotifierSettings) -> Delivery:
    jobs = [_context_of(row) for row in rows]
    watches = {job.watch for job in jobs}
    events = {job.event for job in jobs}
    context = MessageContext(
        watch=watches.pop() if len(watches) == 1 else "",
        event=events.pop() if len(events) == 1 else "",
        jobs=jobs,
        idempotency_key=group_key(row.dedupe_key for row in rows),
    )
    message = render_for(context, notifier)
    first = rows[0]
    return Delivery(
        notifier=first.notifier,
        url_key=first.url_key,
        url_display=first.url_display,
        rows=tuple(rows),
        title=message.title,
        body=message.body,
        notify_type=message.notify_type,
        key=context.idempotency_key,
    )


def group_key(keys: Iterable[str]) -> str:
    """`group:<hash>` of the members' keys: the same group sent again (after a
    crash between send and mark) carries the same key, so a receiver can
    drop the repeat."""
    members = sorted(keys)
    return "group:" + hashlib.sha256("\n".join(members).encode()).hexdigest()[:16]


def _context_of(row: NotificationRecord) -> MessageContext:
    """The row's stored facts; a row without them (queued by code that did not
    store a context) still shows its watch, event and key."""
    if row.context:
        return replace(context_from_data(row.context), idempotency_key=row.dedupe_key)
    return MessageContext(watch=row.watch, event=row.event, idempotency_key=row.dedupe_key)
