"""The conditions table: what holds now for each job (and for a provider whose
credentials were refused), the notice numbers used so far, and the writes that
open, remind and clear conditions together with their notifications.

A provider's own condition has `provider` set and no job; the job conditions
it announces point at it with `parent_id` and are cleared with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, and_, insert, or_, select, update

from monitor.domain import TERMINAL_STATES, Event
from monitor.store import outbox
from monitor.store.database import writer
from monitor.store.records import ConditionWrite
from monitor.store.tables import conditions, jobs, watches

_c = conditions.c
_TERMINAL = [state.value for state in TERMINAL_STATES]
# Clearing these is news (`recovered`); waiting and overdue just end.
RECOVERABLE = frozenset({Event.STALLED, Event.UNREACHABLE})
_RECOVERABLE = [kind.value for kind in RECOVERABLE]


@dataclass(frozen=True)
class OpenCondition:
    """A condition that holds, as the database has it."""

    id: int
    kind: Event
    reason: str | None
    opened_at: datetime
    last_notified_at: datetime  # when it was last announced (opened or reminded)
    reminders: int
    sequence: int  # the notice number of its opening notice
    parent_id: int | None = None  # announced by its provider's condition, not by itself


@dataclass(frozen=True)
class Notices:
    """Notice numbers a job (or provider) has used so far."""

    last: Mapping[Event, int] = field(default_factory=dict)  # per kind, reminders included
    recoveries: int = 0


@dataclass(frozen=True)
class HeldConditions:
    """A job's open conditions and notice numbers, and its provider's."""

    held: list[OpenCondition]
    notices: Notices
    provider_held: OpenCondition | None
    provider_notices: Notices


def write_conditions(db: Connection, write: ConditionWrite, now: datetime) -> int:
    """Apply `write` inside the caller's transaction; returns how many
    notifications were newly queued."""
    provider_row: int | None = None
    for new in sorted(write.opened, key=lambda n: n.job_pk is not None):  # providers first
        parent = provider_row if new.parent_in_write else new.parent_id
        result = db.execute(
            insert(conditions).values(
                job_pk=new.job_pk,
                provider=new.provider if new.job_pk is None else None,
                parent_id=parent,
                kind=new.kind.value,
                reason=new.reason,
                opened_at=now,
                last_notified_at=now,
                reminders=0,
                sequence=new.sequence,
            )
        )
        if new.job_pk is None:
            (provider_row,) = result.inserted_primary_key or (None,)
    for condition_id, reminders in write.reminded:
        db.execute(
            update(conditions)
            .where(_c.id == condition_id, _c.cleared_at.is_(None))
            .values(last_notified_at=now, reminders=reminders)
        )
    if write.cleared:
        db.execute(
            update(conditions)
            .where(or_(_c.id.in_(write.cleared), _c.parent_id.in_(write.cleared)))
            .where(_c.cleared_at.is_(None))
            .values(cleared_at=now)
        )
    return sum(outbox.enqueue(db, job_pk, [entry], now) for job_pk, entry in write.outbox)


class ConditionStore:
    """Condition reads and writes on one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    def held(self, job_pk: int, provider: str) -> HeldConditions:
        with self.engine.connect() as db:
            job_rows = db.execute(select(conditions).where(_c.job_pk == job_pk)).mappings().all()
            provider_rows = (
                db.execute(select(conditions).where(_c.provider == provider, _c.job_pk.is_(None)))
                .mappings()
                .all()
            )
        provider_open = [_open(row) for row in provider_rows if row["cleared_at"] is None]
        return HeldConditions(
            held=[_open(row) for row in job_rows if row["cleared_at"] is None],
            notices=_notices(job_rows),
            provider_held=provider_open[0] if provider_open else None,
            provider_notices=_notices(provider_rows),
        )

    def held_many(self, job_pks: Sequence[int], provider: str) -> dict[int, HeldConditions]:
        """`held` for many jobs of one provider, in two queries."""
        if not job_pks:
            return {}
        by_job: dict[int, list[RowMapping]] = defaultdict(list)
        with self.engine.connect() as db:
            for row in db.execute(
                select(conditions).where(_c.job_pk.in_(list(job_pks)))
            ).mappings():
                by_job[row["job_pk"]].append(row)
            provider_rows = (
                db.execute(select(conditions).where(_c.provider == provider, _c.job_pk.is_(None)))
                .mappings()
                .all()
            )
        provider_open = [_open(row) for row in provider_rows if row["cleared_at"] is None]
        provider_held = provider_open[0] if provider_open else None
        provider_notices = _notices(provider_rows)

        def held(rows: Sequence[RowMapping]) -> HeldConditions:
            return HeldConditions(
                held=[_open(row) for row in rows if row["cleared_at"] is None],
                notices=_notices(rows),
                provider_held=provider_held,
                provider_notices=provider_notices,
            )

        # Most jobs have never had a condition: they share one reading of nothing.
        nothing = held([])
        return {pk: held(by_job[pk]) if pk in by_job else nothing for pk in job_pks}

    def save(self, write: ConditionWrite, now: datetime) -> int:
        with self._writer.begin() as db:
            return write_conditions(db, write, now)

    def open_by_job(self) -> dict[int, list[OpenCondition]]:
        """Every open job condition, by job."""
        query = select(conditions).where(_c.cleared_at.is_(None), _c.job_pk.is_not(None))
        found: dict[int, list[OpenCondition]] = defaultdict(list)
        with self.engine.connect() as db:
            for row in db.execute(query.order_by(_c.id)).mappings():
                found[row["job_pk"]].append(_open(row))
        return dict(found)

    def run_durations(self, watch_id: int, limit: int) -> list[float]:
        """Seconds from first sighting to end of the watch's latest finished jobs."""
        query = (
            select(jobs.c.first_seen_at, jobs.c.terminal_at)
            .where(jobs.c.watch_id == watch_id, jobs.c.terminal_at.is_not(None))
            .order_by(jobs.c.terminal_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as db:
            rows = db.execute(query).all()
        return [max((end - start).total_seconds(), 0.0) for start, end in rows]

    def clear_unwatched(self, now: datetime) -> int:
        """Silently clear the conditions of jobs no longer watched (watch removed,
        job retired or ended), and provider conditions left with no job."""
        unwatched = (
            select(jobs.c.id)
            .join(watches, watches.c.id == jobs.c.watch_id)
            .where(
                or_(
                    ~watches.c.active,
                    jobs.c.retired_at.is_not(None),
                    jobs.c.state.in_(_TERMINAL),
                )
            )
        )
        with self._writer.begin() as db:
            cleared = db.execute(
                update(conditions)
                .where(_c.cleared_at.is_(None), _c.job_pk.in_(unwatched.scalar_subquery()))
                .values(cleared_at=now)
            ).rowcount
            children = select(_c.parent_id).where(
                _c.cleared_at.is_(None), _c.parent_id.is_not(None)
            )
            db.execute(
                update(conditions)
                .where(_c.cleared_at.is_(None), _c.job_pk.is_(None))
                .where(_c.id.not_in(children.scalar_subquery()))
                .values(cleared_at=now)
            )
        return int(cleared)

    def retire_replaced_jobs(self, named: Sequence[tuple[str, str]], now: datetime) -> int:
        """For each (watch name, job id) a job watch now names: when the watch named
        another job before, retire its unfinished jobs (kept for history, no longer
        polled); a job named again is un-retired."""
        retired = 0
        with self._writer.begin() as db:
            for name, job_id in named:
                row = db.execute(select(watches).where(watches.c.name == name)).mappings().first()
                if row is None or row["source"] != "config" or row["job"] == job_id:
                    continue
                retired += _retire_others(db, row["id"], job_id, now)
        return retired


def _retire_others(db: Connection, watch_id: int, job_id: str, now: datetime) -> int:
    of_watch = jobs.c.watch_id == watch_id
    db.execute(update(jobs).where(of_watch, jobs.c.job_id == job_id).values(retired_at=None))
    result = db.execute(
        update(jobs)
        .where(
            and_(of_watch, jobs.c.job_id != job_id),
            jobs.c.retired_at.is_(None),
            jobs.c.state.not_in(_TERMINAL),
        )
        .values(retired_at=now)
    )
    return int(result.rowcount)


def _open(row: RowMapping) -> OpenCondition:
    return OpenCondition(
        id=row["id"],
        kind=Event(row["kind"]),
        reason=row["reason"],
        opened_at=row["opened_at"],
        last_notified_at=row["last_notified_at"] or row["opened_at"],
        reminders=row["reminders"],
        sequence=row["sequence"],
        parent_id=row["parent_id"],
    )


def _notices(rows: Sequence[RowMapping]) -> Notices:
    last: dict[Event, int] = {}
    for row in rows:
        kind = Event(row["kind"])
        last[kind] = max(last.get(kind, 0), row["sequence"] + row["reminders"])
    recoveries = sum(
        1 for row in rows if row["cleared_at"] is not None and row["kind"] in _RECOVERABLE
    )
    return Notices(last, recoveries)
