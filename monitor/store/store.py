"""Reading and writing watches, jobs, transitions and the outbox.

The store is synchronous; the daemon calls it from worker threads. Every
method takes `now` from the caller's clock rather than reading the time.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Engine,
    RowMapping,
    Text,
    and_,
    cast,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from monitor.domain import TERMINAL_STATES, State
from monitor.store import claims, migrate, outbox
from monitor.store.database import open_engine, writer
from monitor.store.records import (
    JobRecord,
    NotificationRecord,
    PollWrite,
    WatchRecord,
    job_record,
)
from monitor.store.tables import jobs, notifications, transitions, watches

_TERMINAL = [state.value for state in TERMINAL_STATES]


@dataclass(frozen=True)
class WatchSpec:
    """What the config (or a run-time `watch`) says a watch is."""

    name: str
    provider: str
    job: str | None
    discover: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None


T = TypeVar("T")


class Store:
    """The database behind one loadwatch installation."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = open_engine(url)
        self.writer: Engine = writer(self.engine)  # takes SQLite's write lock at BEGIN
        self._writer = self.writer
        self._poll_thread: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._poll_thread is not None:
            self._poll_thread.shutdown(wait=True)
            self._poll_thread = None
        self.engine.dispose()

    async def on_poll_thread(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(*args)` on the poll path's own database thread: claims and
        recorded batches, hundreds a second, one after another on one warm
        thread and one connection, instead of waking whichever thread of
        asyncio's shared pool is free and contending there for the writer."""
        if self._poll_thread is None:
            self._poll_thread = ThreadPoolExecutor(1, thread_name_prefix="loadwatch-polls")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._poll_thread, functools.partial(work, *args))

    def upgrade(self) -> tuple[str | None, str | None]:
        return migrate.upgrade(self._writer)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(select(1))

    # -- watches ----------------------------------------------------------------

    def sync_config_watches(
        self, specs: Sequence[WatchSpec], now: datetime, keep: frozenset[str] = frozenset()
    ) -> None:
        """Make the config's watches the active config watches: add new ones,
        update changed ones, deactivate removed ones (keeping their history)
        unless another live instance's config has them (`keep`). A job watch
        gets its job row, due at once, the first time it is seen."""
        wanted = {spec.name: spec for spec in specs}
        with self._writer.begin() as db:
            _one_at_a_time(db)
            existing = {row.name: row for row in db.execute(select(watches)).mappings()}
            for name, row in existing.items():
                gone = name not in wanted and name not in keep
                if row["source"] == "config" and gone and row["active"]:
                    db.execute(
                        update(watches)
                        .where(watches.c.id == row["id"])
                        .values(active=False, removed_at=now)
                    )
            for spec in specs:
                current = existing.get(spec.name)
                if current is not None and current["source"] == "runtime":
                    continue  # a run-time watch of the same name wins; config check warns
                watch_id = self._upsert_watch(db, spec, "config", current, now)
                if spec.job is not None and _job_is_new(current, spec.job):
                    _ensure_job(db, watch_id, spec.job, now)

    def add_runtime_watch(self, spec: WatchSpec, now: datetime) -> bool:
        """Add a watch from the CLI or HTTP API; False if the name is taken."""
        with self._writer.begin() as db:
            _one_at_a_time(db)
            row = db.execute(select(watches).where(watches.c.name == spec.name)).mappings().first()
            if row is not None and row["active"]:
                return False
            watch_id = self._upsert_watch(db, spec, "runtime", row, now)
            if spec.job is not None and _job_is_new(row, spec.job):
                _ensure_job(db, watch_id, spec.job, now)
            return True

    def remove_runtime_watch(self, name: str, now: datetime) -> bool:
        with self._writer.begin() as db:
            result = db.execute(
                update(watches)
                .where(watches.c.name == name, watches.c.source == "runtime", watches.c.active)
                .values(active=False, removed_at=now)
            )
            return result.rowcount > 0

    def _upsert_watch(
        self, db: Any, spec: WatchSpec, source: str, row: RowMapping | None, now: datetime
    ) -> int:
        values = {
            "provider": spec.provider,
            "job": spec.job,
            "discover": spec.discover,
            "source": source,
            "settings": spec.settings,
            "active": True,
            "removed_at": None,
        }
        if row is None:
            result = db.execute(insert(watches).values(name=spec.name, created_at=now, **values))
            return int(result.inserted_primary_key[0])
        db.execute(update(watches).where(watches.c.id == row["id"]).values(**values))
        return int(row["id"])

    def active_watches(
        self, source: str | None = None, *, discovering: bool = False
    ) -> list[WatchRecord]:
        """Active watches: all, of one `source` ("config" or "runtime"), or
        only those that discover their jobs."""
        query = select(watches).where(watches.c.active).order_by(watches.c.name)
        if source is not None:
            query = query.where(watches.c.source == source)
        if discovering:
            # JSON null, not SQL NULL, is what a watch without `discover` holds.
            found = func.coalesce(cast(watches.c.discover, Text), "null")
            query = query.where(found != "null")
        with self.engine.connect() as db:
            return [_watch_record(row) for row in db.execute(query).mappings()]

    # -- jobs -------------------------------------------------------------------

    def schedulable_jobs(self) -> list[JobRecord]:
        """Every job that still needs polling: not terminal, not retired, on an
        active watch that is not paused."""
        query = _job_query().where(
            watches.c.active,
            watches.c.paused_at.is_(None),  # `loadwatch pause` (store/pausing.py)
            jobs.c.state.not_in(_TERMINAL),
            jobs.c.retired_at.is_(None),
        )
        with self.engine.connect() as db:
            return [job_record(row) for row in db.execute(query).mappings()]

    def get_job(self, job_pk: int) -> JobRecord | None:
        with self.engine.connect() as db:
            row = db.execute(_job_query().where(jobs.c.id == job_pk)).mappings().first()
            return job_record(row) if row else None

    def all_jobs(self, watch: str | None = None) -> list[JobRecord]:
        query = _job_query().order_by(watches.c.name, jobs.c.id)
        if watch is not None:
            query = query.where(watches.c.name == watch)
        with self.engine.connect() as db:
            return [job_record(row) for row in db.execute(query).mappings()]

    def save_poll(self, write: PollWrite, now: datetime) -> int:
        """Apply one poll's changes, its transition and its notifications in one
        transaction, whoever holds the job; returns how many notifications
        were newly queued. (The daemon records through store/claims.py.)"""
        with self._writer.begin() as db:
            return claims.record_in(db, None, [write], now)

    def add_discovered_jobs(
        self, watch_id: int, job_ids: Sequence[str], now: datetime
    ) -> list[int]:
        """Track each of `job_ids` not yet tracked under the watch, due at once;
        returns the new jobs' ids. A job already tracked is skipped, also when
        another instance adds it at the same moment."""
        if not job_ids:
            return []
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(jobs)
            .on_conflict_do_nothing(index_elements=["watch_id", "job_id"])
            .returning(jobs.c.id)
        )
        added: list[int] = []
        with self._writer.begin() as db:
            for job_id in job_ids:
                row = db.execute(statement.values(**new_job_values(watch_id, job_id, now)))
                added += [int(pk) for (pk,) in row.all()]
        return added

    # -- history ----------------------------------------------------------------

    def transitions_of(self, watch: str | None = None) -> list[dict[str, Any]]:
        query = (
            select(
                watches.c.name.label("watch"),
                jobs.c.job_id,
                transitions.c.from_state,
                transitions.c.to_state,
                transitions.c.raw_status,
                transitions.c.progress,
                transitions.c.message,
                transitions.c.at,
            )
            .join(jobs, jobs.c.id == transitions.c.job_pk)
            .join(watches, watches.c.id == jobs.c.watch_id)
            .order_by(transitions.c.at, transitions.c.id)
        )
        if watch is not None:
            query = query.where(watches.c.name == watch)
        with self.engine.connect() as db:
            return [dict(row) for row in db.execute(query).mappings()]

    def notifications_of(self, watch: str | None = None) -> list[NotificationRecord]:
        query = select(notifications).order_by(notifications.c.created_at, notifications.c.id)
        if watch is not None:
            query = query.where(notifications.c.watch == watch)
        with self.engine.connect() as db:
            return [_notification_record(row) for row in db.execute(query).mappings()]

    def watch_exists(self, name: str) -> bool:
        with self.engine.connect() as db:
            found = db.execute(select(watches.c.id).where(watches.c.name == name)).first()
            return found is not None

    # -- outbox (the queries live in store/outbox.py) ---------------------------

    def claim_notifications(
        self,
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int = 50,
        group_windows: Mapping[str, float] | None = None,
        held: Collection[int] = (),
    ) -> list[NotificationRecord]:
        """Lease due notifications to `owner` until `lease_until`, except the
        rows in `held`; see outbox.claim."""
        return outbox.claim(self._writer, owner, now, lease_until, group_windows or {}, limit, held)

    def mark_sent(self, ids: Sequence[int], now: datetime) -> None:
        outbox.mark_sent(self._writer, ids, now)

    def mark_retry(
        self, ids: Sequence[int], owner: str, error: str, next_attempt_at: datetime
    ) -> None:
        outbox.mark_retry(self._writer, ids, owner, error, next_attempt_at)

    def mark_dead(self, ids: Sequence[int], owner: str, error: str) -> None:
        outbox.mark_dead(self._writer, ids, owner, error)

    def release_notifications(self, ids: Sequence[int], owner: str) -> None:
        outbox.release(self._writer, ids, owner)

    def next_notification_due(self) -> datetime | None:
        return outbox.next_due(self.engine)

    def notification_counts(self) -> dict[str, int]:
        """Notifications by status: sent, pending and dead always present."""
        return outbox.counts(self.engine)

    def notification_counts_by_job(self) -> dict[int, dict[str, int]]:
        return outbox.counts_by_job(self.engine)

    def job_counts(self) -> dict[str, int]:
        """How many jobs of active watches, not retired, are in each state (for
        metrics and STATUS=)."""
        query = (
            select(jobs.c.state, func.count())
            .join(watches, watches.c.id == jobs.c.watch_id)
            .where(watches.c.active, jobs.c.retired_at.is_(None))
            .group_by(jobs.c.state)
        )
        with self.engine.connect() as db:
            return {state: count for state, count in db.execute(query)}

    def oldest_undelivered(self) -> datetime | None:
        """When the oldest notification still waiting for delivery was queued."""
        with self.engine.connect() as db:
            return db.execute(
                select(func.min(notifications.c.created_at)).where(
                    notifications.c.status == "pending"
                )
            ).scalar()


_WATCHES_LOCK_ID = 0x10AD_3A7D  # any fixed number: instances take turns changing watches


def _one_at_a_time(db: Any) -> None:
    """Instances sharing PostgreSQL change the watches table in turns (two
    starting at once would insert the same watch twice); SQLite's write lock
    already does this."""
    if db.dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _WATCHES_LOCK_ID})


def _job_is_new(row: RowMapping | None, job_id: str) -> bool:
    """Whether `job_id` is a job the watch in `row` did not name before. A watch whose
    job is unchanged has its job row already, perhaps renamed by its first poll
    (`job: current` becomes the Rocket.Chat operation's id): another row would
    track the same job twice."""
    return row is None or row["job"] != job_id


def _ensure_job(db: Any, watch_id: int, job_id: str, now: datetime) -> None:
    exists = db.execute(
        select(jobs.c.id).where(and_(jobs.c.watch_id == watch_id, jobs.c.job_id == job_id))
    ).first()
    if exists is None:
        db.execute(insert(jobs).values(**new_job_values(watch_id, job_id, now)))


def new_job_values(watch_id: int, job_id: str, now: datetime) -> dict[str, Any]:
    """A freshly tracked job: unknown until its first poll, which is due at once."""
    return {
        "watch_id": watch_id,
        "job_id": job_id,
        "state": State.UNKNOWN.value,
        "first_seen_at": now,
        "next_poll_at": now,
        "due_at": now,
        "polls": 0,
        "failed_polls": 0,
        "consecutive_failures": 0,
        "backoff_step": 0,
        "children": [],
        "details": {},
    }


def _job_query() -> Any:
    return select(jobs, watches.c.name.label("watch"), watches.c.provider).join(
        watches, watches.c.id == jobs.c.watch_id
    )


def _watch_record(row: RowMapping) -> WatchRecord:
    return WatchRecord(
        id=row["id"],
        name=row["name"],
        provider=row["provider"],
        job=row["job"],
        discover=row["discover"],
        source=row["source"],
        settings=row["settings"],
        active=bool(row["active"]),
        created_at=row["created_at"],
    )


def _notification_record(row: RowMapping) -> NotificationRecord:
    return NotificationRecord(
        **{name: row[name] for name in NotificationRecord.__dataclass_fields__}
    )
