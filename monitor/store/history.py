"""The queries behind `loadwatch history`: transitions and notifications,
filtered in SQL (a watch, a time, a state or delivery status, the newest N),
so a year of history is not read to show the last ten lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from monitor.store.records import NotificationRecord
from monitor.store.tables import jobs, notifications, transitions, watches

DELIVERY_STATUSES = ("pending", "sent", "dead", "silenced")


@dataclass(frozen=True)
class HistoryFilter:
    """What to show. `state` is a job state (transitions into it, notifications
    of that event) or a delivery status (notifications with it)."""

    watch: str | None = None
    since: datetime | None = None
    state: str | None = None
    limit: int | None = None  # the newest N of each kind; the caller keeps the newest N overall


def transitions_of(engine: Engine, wanted: HistoryFilter) -> list[dict[str, Any]]:
    """Transitions, oldest first (the newest `limit`), as `Store.transitions_of`
    shapes them."""
    t = transitions.c
    query = (
        select(
            watches.c.name.label("watch"),
            jobs.c.job_id,
            t.from_state,
            t.to_state,
            t.raw_status,
            t.progress,
            t.message,
            t.at,
        )
        .join(jobs, jobs.c.id == t.job_pk)
        .join(watches, watches.c.id == jobs.c.watch_id)
        .order_by(t.at.desc(), t.id.desc())
    )
    if wanted.state in DELIVERY_STATUSES:
        return []
    if wanted.watch is not None:
        query = query.where(watches.c.name == wanted.watch)
    if wanted.since is not None:
        query = query.where(t.at >= wanted.since)
    if wanted.state is not None:
        query = query.where(t.to_state == wanted.state)
    if wanted.limit is not None:
        query = query.limit(wanted.limit)
    with engine.connect() as db:
        return [dict(row) for row in db.execute(query).mappings()][::-1]


def notifications_of(engine: Engine, wanted: HistoryFilter) -> list[NotificationRecord]:
    """Notifications, oldest first (the newest `limit`)."""
    n = notifications.c
    query = select(notifications).order_by(n.created_at.desc(), n.id.desc())
    if wanted.watch is not None:
        query = query.where(n.watch == wanted.watch)
    if wanted.since is not None:
        query = query.where(n.created_at >= wanted.since)
    if wanted.state in DELIVERY_STATUSES:
        query = query.where(n.status == wanted.state)
    elif wanted.state is not None:
        query = query.where(n.event == wanted.state)
    if wanted.limit is not None:
        query = query.limit(wanted.limit)
    fields = NotificationRecord.__dataclass_fields__
    with engine.connect() as db:
        return [
            NotificationRecord(**{name: row[name] for name in fields if name in row})
            for row in db.execute(query).mappings()
        ][::-1]
