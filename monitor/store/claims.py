"""Claiming due jobs with a lease, and recording what their polls found.

The poll path's two statements. A claim takes up to `limit` of a provider's
jobs that are due (to poll, or to judge their conditions) and not leased to a
live instance, and leases them to one instance in the same statement; on
PostgreSQL `FOR UPDATE SKIP LOCKED` keeps two instances from taking the same
row. Recording writes many polls in one transaction: polls that changed only
counters and the schedule share one batched UPDATE per shape; a poll with news
writes its row, transition, conditions and outbox together. Recording gives
the lease back. Every write is guarded by the lease: an instance that lost a
job's lease (it stalled past it and another took the job over) writes nothing
for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)

from monitor.store import outbox
from monitor.store.conditions import write_conditions
from monitor.store.records import SCHEDULE_COLUMNS, JobRecord, PollWrite, job_of
from monitor.store.tables import (
    UTCDateTime,
    jobs,
    sqlite_text,
    transitions,
    watches,
)

_j = jobs.c


@dataclass(frozen=True)
class ClaimRequest:
    """What one claim asks for: a provider's due jobs, at most `limit`."""

    provider: str
    limit: int
    due_by: datetime  # claim jobs due by then (a little ahead of now)
    skip_watches: frozenset[int] = frozenset()  # watches this instance does not know


def claim(
    writer: Engine,
    owner: str,
    request: ClaimRequest,
    now: datetime,
    lease_until: datetime,
    watch_names: dict[int, str],
) -> list[JobRecord]:
    """Lease the provider's due jobs to `owner`, soonest due first."""
    # Driven by the due_at index: only rows already due are read.
    due = (
        select(_j.id)
        .select_from(jobs.join(watches, watches.c.id == _j.watch_id))
        .where(
            _j.due_at <= request.due_by,
            or_(_j.lease_until.is_(None), _j.lease_until < now),
            _j.retired_at.is_(None),
            watches.c.active,
            watches.c.paused_at.is_(None),  # `loadwatch pause`: not polled, not judged
            watches.c.provider == request.provider,
        )
        .order_by(_j.due_at)
        .limit(request.limit)
    )
    if request.skip_watches:
        due = due.where(_j.watch_id.not_in(request.skip_watches))
    if writer.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    statement = (
        update(jobs)
        .where(_j.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=lease_until)
        .returning(*jobs.c)
    )
    with writer.begin() as db:
        rows = db.execute(statement).all()
    claimed = []
    for row in rows:
        values = dict(zip(_COLUMNS, row, strict=True))
        values["watch"] = watch_names.get(values["watch_id"], "")
        values["provider"] = request.provider
        claimed.append(job_of(values))
    return claimed


def record_failure(writer: Engine, owner: str, write: PollWrite) -> None:
    """Count a poll whose result the database refused as a failed poll."""
    with writer.begin() as db:
        db.execute(
            update(jobs)
            .where(_j.id == write.job_pk, _j.lease_owner == owner)
            .values(
                **write.job_changes,
                due_at=_sooner(write.job_changes["next_poll_at"], _j.next_check_at),
                polls=_j.polls + 1,
                failed_polls=_j.failed_polls + 1,
                consecutive_failures=_j.consecutive_failures + 1,
                lease_until=None,
            )
        )


def _sooner(when: datetime, column: Any) -> Any:
    """SQL for the sooner of `when` and a nullable time column."""
    return case((column.is_(None), when), (column < when, column), else_=when)


def record(writer: Engine, owner: str, writes: Sequence[PollWrite], now: datetime) -> int:
    """Write `writes` in one transaction and give their leases back; returns
    how many notifications were newly queued."""
    with writer.begin() as db:
        return record_in(db, owner, writes, now)


def record_in(db: Connection, owner: str | None, writes: Sequence[PollWrite], now: datetime) -> int:
    """`record` inside the caller's transaction; `owner` None writes without
    the lease guard (tools and tests that hold no lease). Statements are one
    per kind, not one per poll: job rows by the columns they set, then all
    transitions, then all notifications."""
    news = [write for write in writes if not write.quiet]
    if owner is not None and news:
        held = _still_held(db, owner, [write.job_pk for write in news])
        news = [write for write in news if write.job_pk in held]  # else: the lease was lost
    shapes: dict[frozenset[str], list[PollWrite]] = defaultdict(list)
    for write in sorted(writes, key=lambda w: w.job_pk):  # one lock order for every writer
        shapes[frozenset(write.job_changes)].append(write)
    for columns, group in shapes.items():
        _update_jobs(db, owner, sorted(columns), group)
    moves = [_transition_row(write) for write in news if write.transition is not None]
    if moves:
        db.execute(insert(transitions), moves)
    queued = sum(write_conditions(db, w.conditions, now) for w in news if w.conditions)
    entries = [(write.job_pk, entry) for write in news for entry in write.outbox]
    return queued + outbox.enqueue_many(db, entries, now)


def _still_held(db: Connection, owner: str, job_pks: list[int]) -> set[int]:
    """Which of `job_pks` are still leased to `owner` (locked till commit on PostgreSQL)."""
    query = select(_j.id).where(_j.id.in_(sorted(job_pks)), _j.lease_owner == owner)
    query = query.order_by(_j.id)
    if db.dialect.name == "postgresql":
        query = query.with_for_update()
    return {pk for (pk,) in db.execute(query)}


def _held_by(owner: str | None) -> Any:
    return True if owner is None else _j.lease_owner == owner


def _update_jobs(
    db: Connection, owner: str | None, columns: list[str], group: list[PollWrite]
) -> None:
    """One executemany for the job rows that set the same columns."""
    if owner is not None and SCHEDULE_COLUMNS.issuperset(columns):
        _update_schedules(db, owner, columns, group)
        return
    statement = (
        update(jobs)
        .where(_j.id == bindparam("pk_"), _held_by(owner))
        .values({**{name: bindparam(name) for name in columns}, "lease_until": None})
    )
    db.execute(statement, [{"pk_": w.job_pk, **w.job_changes} for w in group])


def _update_schedules(
    db: Connection, owner: str, columns: list[str], group: list[PollWrite]
) -> None:
    """`_update_jobs` for polls that changed only counters and the schedule,
    most polls: plain SQL and plain values straight to the driver, as
    compiling and processing them per row cost more than the writing."""
    sqlite = db.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    assignments = ", ".join([*(f"{name} = {mark}" for name in columns), "lease_until = NULL"])
    sql = f"UPDATE jobs SET {assignments} WHERE id = {mark} AND lease_owner = {mark}"
    times = [name in _TIMES for name in columns]
    rows = []
    for write in group:
        changes = write.job_changes
        row = [
            sqlite_text(changes[name]) if sqlite and is_time else changes[name]
            for name, is_time in zip(columns, times, strict=True)
        ]
        rows.append((*row, write.job_pk, owner))
    db.exec_driver_sql(sql, rows)


def _transition_row(write: PollWrite) -> dict[str, Any]:
    t = write.transition
    assert t is not None
    return {
        "job_pk": write.job_pk,
        "from_state": t.from_state.value,
        "to_state": t.to_state.value,
        "raw_status": t.raw_status,
        "progress": t.progress,
        "message": t.message,
        "at": t.at,
    }


def renew(writer: Engine, owner: str, lease_until: datetime, job_pks: Collection[int]) -> int:
    """Extend the leases `owner` holds on `job_pks`, the jobs it is working on
    (while it is alive); returns how many. A lease of `owner` on any other job
    is left to run out: its poll could not be recorded (the database refused
    even the failure, say a full disk), and renewing it would keep the job
    from every claim, this instance's too, for as long as the daemon runs."""
    if not job_pks:
        return 0
    # Rows the recorder is writing right now are skipped, not waited for (they
    # are being given back): waiting would deadlock with it on PostgreSQL.
    mine = select(_j.id).where(
        _j.id.in_(sorted(job_pks)), _j.lease_owner == owner, _j.lease_until.is_not(None)
    )
    if writer.dialect.name == "postgresql":
        mine = mine.with_for_update(skip_locked=True)
    with writer.begin() as db:
        return int(
            db.execute(
                update(jobs)
                .where(_j.id.in_(mine.scalar_subquery()))
                .values(lease_until=lease_until)
            ).rowcount
        )


def release_all(writer: Engine, owners: Sequence[str] | None = None) -> int:
    """Give back every lease (of `owners`, or everyone's): at start on SQLite,
    where one daemon runs, and for instances known to be dead."""
    condition: Any = _j.lease_until.is_not(None)
    if owners is not None:
        if not owners:
            return 0
        condition = and_(condition, _j.lease_owner.in_(list(owners)))
    with writer.begin() as db:
        return int(db.execute(update(jobs).where(condition).values(lease_until=None)).rowcount)


_COLUMNS = [c.name for c in jobs.c]
_TIMES = frozenset(c.name for c in jobs.c if isinstance(c.type, UTCDateTime))


def make_due(writer: Engine, watch_ids: Sequence[int], now: datetime) -> int:
    """Poll the unfinished jobs of `watch_ids` at once and judge their
    conditions (their watch's settings changed)."""
    if not watch_ids:
        return 0
    with writer.begin() as db:
        return int(
            db.execute(
                update(jobs)
                .where(_j.watch_id.in_(list(watch_ids)), _j.next_poll_at.is_not(None))
                .values(next_poll_at=now, next_check_at=now, due_at=now)
            ).rowcount
        )


CHECK_HORIZON_SECONDS = 5.0


def check_soon(writer: Engine, now: datetime) -> int:
    """At start: judge at once the conditions of jobs whose next poll (which
    would judge them) is more than a few seconds away; returns how many jobs
    are still to poll."""
    horizon = now + timedelta(seconds=CHECK_HORIZON_SECONDS)
    with writer.begin() as db:
        db.execute(
            update(jobs)
            .where(
                _j.next_poll_at > horizon, or_(_j.next_check_at.is_(None), _j.next_check_at > now)
            )
            .values(next_check_at=now, due_at=now)
        )
        return int(
            db.execute(
                select(func.count()).select_from(jobs).where(_j.next_poll_at.is_not(None))
            ).scalar_one()
        )
