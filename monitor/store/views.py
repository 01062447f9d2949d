"""Read-only queries behind the status page and the read API.

Each query reads a handful of rows in one pass and hands out plain records, so
the HTTP threads never hold a session or touch the poll path's writes. Nothing
here writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, RowMapping, Select, func, or_, select

from monitor.domain import TERMINAL_STATES, State
from monitor.store.tables import conditions, jobs, notifications, transitions, watches
from monitor.store.view_records import (
    ConditionView,
    DeliveryView,
    JobSummary,
    JobView,
    RunView,
    TransitionView,
    WatchView,
)

__all__ = [
    "ConditionView",
    "DeliveryView",
    "JobSummary",
    "JobView",
    "RunView",
    "TransitionView",
    "Views",
    "WatchView",
]

_TERMINAL = [state.value for state in TERMINAL_STATES]


class Views:
    """The read side of the database for people and machines."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def jobs(
        self,
        *,
        current: bool = False,
        states: Iterable[str] = (),
        watch: str | None = None,
    ) -> list[JobView]:
        """Tracked jobs, by watch then age. `current`: only jobs of active
        watches that have not ended, plus each such watch's newest job (its
        latest result)."""
        query = _current(_job_query()) if current else _job_query()
        wanted = list(states)
        if wanted:
            query = query.where(jobs.c.state.in_(wanted))
        if watch is not None:
            query = query.where(watches.c.name == watch)
        return self._job_views(query.order_by(watches.c.name, jobs.c.id))

    def current_summaries(self) -> list[JobSummary]:
        """What `jobs(current=True)` finds, in brief."""
        query = _current(
            select(jobs.c.id, watches.c.name, jobs.c.state).join(
                watches, watches.c.id == jobs.c.watch_id
            )
        )
        troubled = select(conditions.c.job_pk).where(
            conditions.c.cleared_at.is_(None), conditions.c.job_pk.is_not(None)
        )
        with self._engine.connect() as db:
            held = {pk for (pk,) in db.execute(troubled)}
            rows = db.execute(query).all()
        return [JobSummary(pk, watch, State(state), pk in held) for pk, watch, state in rows]

    def jobs_by_id(self, job_pks: Sequence[int]) -> list[JobView]:
        """These jobs, in the order given."""
        found = {
            job.id: job for job in self._job_views(_job_query().where(jobs.c.id.in_(list(job_pks))))
        }
        return [found[pk] for pk in job_pks if pk in found]

    def job(self, job_pk: int) -> JobView | None:
        found = self._job_views(_job_query().where(jobs.c.id == job_pk))
        return found[0] if found else None

    def transitions(self, job_pks: Sequence[int]) -> dict[int, list[TransitionView]]:
        """Each job's transitions, oldest first."""
        query = (
            select(transitions)
            .where(transitions.c.job_pk.in_(list(job_pks)))
            .order_by(transitions.c.at, transitions.c.id)
        )
        found: dict[int, list[TransitionView]] = defaultdict(list)
        with self._engine.connect() as db:
            for row in db.execute(query).mappings():
                found[row["job_pk"]].append(_transition(row))
        return dict(found)

    def deliveries(
        self, *, watch: str | None = None, job_pk: int | None = None, limit: int = 500
    ) -> list[DeliveryView]:
        """Notifications, newest first: of a watch, of a job, or all."""
        query = select(notifications).order_by(
            notifications.c.created_at.desc(), notifications.c.id.desc()
        )
        if watch is not None:
            query = query.where(notifications.c.watch == watch)
        if job_pk is not None:
            query = query.where(notifications.c.job_pk == job_pk)
        with self._engine.connect() as db:
            return [_delivery(row) for row in db.execute(query.limit(limit)).mappings()]

    def runs(self, watch: str, limit: int) -> list[RunView]:
        """The watch's latest `limit` finished jobs, oldest first."""
        query = (
            select(jobs.c.id, jobs.c.job_id, jobs.c.state, jobs.c.first_seen_at, jobs.c.terminal_at)
            .join(watches, watches.c.id == jobs.c.watch_id)
            .where(watches.c.name == watch, jobs.c.terminal_at.is_not(None))
            .order_by(jobs.c.terminal_at.desc(), jobs.c.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as db:
            rows = db.execute(query).all()
        return [
            RunView(pk, job_id, State(state), began, ended)
            for pk, job_id, state, began, ended in reversed(rows)
        ]

    def watches(self, name: str | None = None) -> list[WatchView]:
        """Every watch (removed ones too: their history stays), by name."""
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        query = select(watches).order_by(watches.c.name)
        tally = select(jobs.c.watch_id, jobs.c.state, func.count()).group_by(
            jobs.c.watch_id, jobs.c.state
        )
        if name is not None:
            query = query.where(watches.c.name == name)
            tally = tally.join(watches, watches.c.id == jobs.c.watch_id).where(
                watches.c.name == name
            )
        with self._engine.connect() as db:
            for watch_id, state, count in db.execute(tally):
                counts[watch_id][state] = count
            rows = list(db.execute(query).mappings())
        return [_watch(row, counts.get(row["id"], {})) for row in rows]

    def history(
        self, *, watch: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[TransitionView | DeliveryView]:
        """Transitions and notifications at or after `since`, oldest first, at most `limit`."""
        moved = _transitions_since(watch, since).limit(limit)
        at = func.coalesce(notifications.c.sent_at, notifications.c.created_at)
        told = select(notifications).order_by(at, notifications.c.id)
        if watch is not None:
            told = told.where(notifications.c.watch == watch)
        if since is not None:
            told = told.where(at >= since)
        with self._engine.connect() as db:
            entries: list[TransitionView | DeliveryView] = [
                _transition(row) for row in db.execute(moved).mappings()
            ]
            entries += [_delivery(row) for row in db.execute(told.limit(limit)).mappings()]
        entries.sort(key=history_time)
        return entries[:limit]

    def watch_of(self, job_pks: Iterable[int]) -> dict[int, tuple[str, str]]:
        """(watch name, job id) of each job, for labelling history entries."""
        query = (
            select(jobs.c.id, watches.c.name, jobs.c.job_id)
            .join(watches, watches.c.id == jobs.c.watch_id)
            .where(jobs.c.id.in_(list(set(job_pks))))
        )
        with self._engine.connect() as db:
            return {pk: (name, job_id) for pk, name, job_id in db.execute(query)}

    def _job_views(self, query: Select[Any]) -> list[JobView]:
        with self._engine.connect() as db:
            rows = list(db.execute(query).mappings())
            held = _open_conditions(db)
            counts = _notification_counts(db)
        return [_job(row, held.get(row["id"], ()), counts.get(row["id"], {})) for row in rows]


def history_time(entry: TransitionView | DeliveryView) -> tuple[datetime, int]:
    """When a history entry happened, for ordering (transitions before deliveries)."""
    if isinstance(entry, TransitionView):
        return (entry.at, 0)
    return (entry.sent_at or entry.created_at, 1)


def _transitions_since(watch: str | None, since: datetime | None) -> Select[Any]:
    query = select(transitions).order_by(transitions.c.at, transitions.c.id)
    if watch is not None:
        query = (
            query.join(jobs, jobs.c.id == transitions.c.job_pk)
            .join(watches, watches.c.id == jobs.c.watch_id)
            .where(watches.c.name == watch)
        )
    if since is not None:
        query = query.where(transitions.c.at >= since)
    return query


def _current(query: Select[Any]) -> Select[Any]:
    """Jobs of active watches that have not ended, and each such watch's newest job."""
    newest = select(func.max(jobs.c.id)).group_by(jobs.c.watch_id).scalar_subquery()
    return query.where(
        watches.c.active,
        jobs.c.retired_at.is_(None),
        or_(jobs.c.state.not_in(_TERMINAL), jobs.c.id.in_(newest)),
    )


def _job_query() -> Select[Any]:
    # The columns a JobView holds, no more: the JSON columns cost a parse per row.
    columns = [jobs.c[name] for name in _JOB_COLUMNS]
    return select(
        *columns,
        watches.c.name.label("watch"),
        watches.c.provider,
        watches.c.paused_at,
        watches.c.active,
        jobs.c.retired_at,
    ).join(watches, watches.c.id == jobs.c.watch_id)


def _open_conditions(db: Any) -> dict[int, tuple[ConditionView, ...]]:
    query = (
        select(conditions.c.job_pk, conditions.c.kind, conditions.c.reason, conditions.c.opened_at)
        .where(conditions.c.cleared_at.is_(None), conditions.c.job_pk.is_not(None))
        .order_by(conditions.c.id)
    )
    found: dict[int, list[ConditionView]] = defaultdict(list)
    for job_pk, kind, reason, opened_at in db.execute(query):
        found[job_pk].append(ConditionView(kind, reason, opened_at))
    return {pk: tuple(held) for pk, held in found.items()}


def _notification_counts(db: Any) -> dict[int, dict[str, int]]:
    query = (
        select(notifications.c.job_pk, notifications.c.status, func.count())
        .where(notifications.c.job_pk.is_not(None))
        .group_by(notifications.c.job_pk, notifications.c.status)
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for job_pk, status, count in db.execute(query):
        found[job_pk][status] = count
    return dict(found)


_JOB_FIELDS = [
    name
    for name in JobView.__dataclass_fields__
    if name not in ("state", "conditions", "notifications", "paused_at", "retired")
]
_JOB_COLUMNS = ["state", *(name for name in _JOB_FIELDS if name not in ("watch", "provider"))]


def _job(row: RowMapping, held: tuple[ConditionView, ...], counts: Mapping[str, int]) -> JobView:
    values = {name: row[name] for name in _JOB_FIELDS}
    return JobView(
        state=State(row["state"]),
        conditions=held,
        notifications=counts,
        paused_at=row["paused_at"],
        retired=not row["active"] or row["retired_at"] is not None,
        **values,
    )


def _transition(row: RowMapping) -> TransitionView:
    return TransitionView(**{name: row[name] for name in TransitionView.__dataclass_fields__})


def _delivery(row: RowMapping) -> DeliveryView:
    return DeliveryView(
        id=row["id"],
        job_pk=row["job_pk"],
        watch=row["watch"],
        event=row["event"],
        key=row["dedupe_key"],
        notifier=row["notifier"],
        url=row["url_display"],
        title=row["title"],
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
    )


def _watch(row: RowMapping, states: Mapping[str, int]) -> WatchView:
    return WatchView(
        name=row["name"],
        provider=row["provider"],
        job=row["job"],
        discover=row["discover"],
        source=row["source"],
        active=bool(row["active"]),
        created_at=row["created_at"],
        states=dict(states),
    )
