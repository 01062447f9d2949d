"""The state of each discovery watch's expected runs (`expect:`), judged and
written in one transaction with the notifications it causes, as a poll is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from monitor.store import outbox
from monitor.store.database import writer
from monitor.store.records import OutboxEntry
from monitor.store.tables import expectations, jobs

_e = expectations.c


@dataclass(frozen=True)
class ExpectState:
    """Where a watch's expected runs stand."""

    spec: str
    next_due_at: datetime  # the deadline being waited for
    counted_after: datetime  # jobs discovered after this count toward it
    missing_since: datetime | None = None  # set while `missing` holds: the deadline missed
    last_notified_at: datetime | None = None
    reminders: int = 0


Judge = Callable[[ExpectState | None, Sequence[datetime]], tuple[ExpectState, list[OutboxEntry]]]
"""(stored state or None, discovery times of jobs after it) → (new state, notifications)."""


def judge_watch(engine: Engine, watch_id: int, judge: Judge, now: datetime) -> int:
    """Judge one watch's expectation under a row lock; returns notifications queued."""
    with writer(engine).begin() as db:
        row = (
            db.execute(select(expectations).where(_e.watch_id == watch_id).with_for_update())
            .mappings()
            .first()
        )
        state = ExpectState(**{k: v for k, v in row.items() if k != "watch_id"}) if row else None
        found = select(jobs.c.first_seen_at).where(jobs.c.watch_id == watch_id)
        if state is not None:
            found = found.where(jobs.c.first_seen_at > state.counted_after)
        times = list(db.execute(found.order_by(jobs.c.first_seen_at)).scalars())
        new, entries = judge(state, times)
        if new != state:
            values = vars(new)
            if row is None:
                db.execute(insert(expectations).values(watch_id=watch_id, **values))
            else:
                db.execute(update(expectations).where(_e.watch_id == watch_id).values(**values))
        return outbox.enqueue(db, None, entries, now) if entries else 0


def forget_other_watches(engine: Engine, keep: Sequence[int]) -> int:
    """Drop the state of watches that no longer expect runs (their `expect:`
    or the watch itself went); returns how many. Writes only when there is one."""
    with engine.connect() as db:
        stale = [i for i in db.execute(select(_e.watch_id)).scalars() if i not in set(keep)]
    if not stale:
        return 0
    with writer(engine).begin() as db:
        db.execute(delete(expectations).where(_e.watch_id.in_(stale)))
    return len(stale)


def missing_watches(engine: Engine) -> dict[int, datetime]:
    """watch id → the deadline it missed, for every watch whose `missing` holds."""
    query = select(_e.watch_id, _e.missing_since).where(_e.missing_since.is_not(None))
    with engine.connect() as db:
        return {watch_id: since for watch_id, since in db.execute(query)}
