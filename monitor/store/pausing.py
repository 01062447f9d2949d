"""Pausing a watch (`loadwatch pause`, POST /api/watches/pause): a flag on the
watch (`watches.paused_at`). A paused watch's jobs are not polled, judged or
discovered until it is resumed; resuming makes its jobs due at once.

The poll path must leave out jobs whose watch has `paused_at` set (see
`schedulable_jobs`, and any claim of due jobs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from monitor.domain import TERMINAL_STATES
from monitor.store.database import writer
from monitor.store.tables import jobs, watches

_w, _j = watches.c, jobs.c
_TERMINAL = [state.value for state in TERMINAL_STATES]


class NoSuchWatch(LookupError):
    """No active watch has that name."""


def pause_watch(engine: Engine, name: str, now: datetime) -> bool:
    """Pause the watch; False when it was paused already. NoSuchWatch if none."""
    with writer(engine).begin() as db:
        _require(db, name)
        changed = db.execute(
            update(watches)
            .where(_w.name == name, _w.active, _w.paused_at.is_(None))
            .values(paused_at=now)
        )
        return bool(changed.rowcount)


def resume_watch(engine: Engine, name: str, now: datetime) -> bool:
    """Resume the watch and make its unfinished jobs due now; False when it
    was not paused. NoSuchWatch if none."""
    with writer(engine).begin() as db:
        watch_id = _require(db, name)
        changed = db.execute(
            update(watches)
            .where(_w.id == watch_id, _w.paused_at.is_not(None))
            .values(paused_at=None)
        )
        if not changed.rowcount:
            return False
        db.execute(
            update(jobs)
            .where(_j.watch_id == watch_id, _j.state.not_in(_TERMINAL), _j.retired_at.is_(None))
            .values(next_poll_at=now, next_check_at=now, due_at=now)
        )
        return True


def paused_watches(engine: Engine) -> dict[str, datetime]:
    """Active paused watches: name → when paused."""
    query = select(_w.name, _w.paused_at).where(_w.active, _w.paused_at.is_not(None))
    with engine.connect() as db:
        return {name: paused_at for name, paused_at in db.execute(query)}


def _require(db: Connection, name: str) -> int:
    found = db.execute(select(_w.id).where(_w.name == name, _w.active)).scalar()
    if found is None:
        raise NoSuchWatch(name)
    return int(found)
