"""Pruning what is older than `retention:`, a small batch per transaction, so
the poll path never waits long for the write lock.

What goes: finished jobs (terminal, retired, superseded, or of a watch
removed) with their transitions, cleared conditions and settled
notifications; delivered (and silenced) notifications; cleared provider
conditions; ended silences. What never goes: a notification still pending or
dead (undelivered), anything with an open condition, and the job a
fixed-job watch still names (deleting it would make the daemon track it
again and announce its end a second time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, exists, not_, or_, select

from monitor.store.database import writer
from monitor.store.outbox import DEAD, PENDING
from monitor.store.tables import conditions, jobs, notifications, silences, transitions, watches

_j, _w, _n, _c = jobs.c, watches.c, notifications.c, conditions.c
UNDELIVERED = (PENDING, DEAD)


@dataclass
class Pruned:
    """Rows removed, by table."""

    jobs: int = 0
    transitions: int = 0
    notifications: int = 0
    conditions: int = 0
    silences: int = 0

    def add(self, other: Pruned) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in self.__dataclass_fields__)


def prune_batch(engine: Engine, cutoff: datetime, size: int) -> Pruned:
    """Remove up to `size` old jobs (with their rows) and up to `size` other
    old rows of each kind, in one transaction; returns what went."""
    pruned = Pruned()
    with writer(engine).begin() as db:
        job_ids = list(db.execute(_old_jobs(cutoff).limit(size)).scalars())
        if job_ids:
            pruned.add(_delete_jobs(db, job_ids))
        pruned.notifications += _delete_ids(db, notifications, _old_notifications(cutoff), size)
        pruned.conditions += _delete_ids(db, conditions, _old_provider_conditions(cutoff), size)
        pruned.silences += _delete_ids(db, silences, _old_silences(cutoff), size)
    return pruned


def _old_jobs(cutoff: datetime) -> Any:
    finished = or_(
        _j.terminal_at < cutoff,
        _j.retired_at < cutoff,
        and_(_j.next_poll_at.is_(None), _j.last_poll_at < cutoff),  # superseded
        and_(not_(_w.active), _w.removed_at < cutoff),
    )
    named_by_its_watch = and_(_w.active, _w.job.is_not(None), _j.retired_at.is_(None))
    undelivered = exists().where(_n.job_pk == _j.id, _n.status.in_(UNDELIVERED))
    open_condition = exists().where(_c.job_pk == _j.id, _c.cleared_at.is_(None))
    return (
        select(_j.id)
        .join(watches, _w.id == _j.watch_id)
        .where(finished, not_(named_by_its_watch), not_(undelivered), not_(open_condition))
        .order_by(_j.id)
    )


def _delete_jobs(db: Connection, ids: Sequence[int]) -> Pruned:
    return Pruned(
        transitions=_count(db.execute(delete(transitions).where(transitions.c.job_pk.in_(ids)))),
        notifications=_count(db.execute(delete(notifications).where(_n.job_pk.in_(ids)))),
        conditions=_count(db.execute(delete(conditions).where(_c.job_pk.in_(ids)))),
        jobs=_count(db.execute(delete(jobs).where(_j.id.in_(ids)))),
    )


def _old_notifications(cutoff: datetime) -> Any:
    # Sent rows by when they went; silenced ones (never sent) by when queued.
    return select(_n.id).where(
        _n.status.not_in(UNDELIVERED),
        or_(_n.sent_at < cutoff, and_(_n.sent_at.is_(None), _n.created_at < cutoff)),
    )


def _old_provider_conditions(cutoff: datetime) -> Any:
    return select(_c.id).where(_c.job_pk.is_(None), _c.cleared_at < cutoff)


def _old_silences(cutoff: datetime) -> Any:
    s = silences.c
    return select(s.id).where(or_(s.ends_at < cutoff, s.removed_at < cutoff))


def _delete_ids(db: Connection, table: Any, query: Any, size: int) -> int:
    ids = list(db.execute(query.limit(size)).scalars())
    if not ids:
        return 0
    return _count(db.execute(delete(table).where(table.c.id.in_(ids))))


def _count(result: Any) -> int:
    return int(result.rowcount or 0)
