"""The outbox's queries: queueing notifications, claiming them with a lease,
settling them (sent, retry, dead), and the counts `status` and /metrics show.

A row is `pending` until it is `sent` or `dead`. A claim is a lease
(`claimed_by`, `claimed_until`): a worker that dies leaves its rows to be
claimed again when the lease ends. On PostgreSQL several instances claim with
`FOR UPDATE SKIP LOCKED`, so no row is claimed twice at once; SQLite has one
writer at a time, and SQLAlchemy leaves the clause out there.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store.records import NotificationRecord, OutboxEntry
from monitor.store.tables import notifications

PENDING, SENT, DEAD = "pending", "sent", "dead"
STATUSES = (SENT, PENDING, DEAD)

_n = notifications.c


def enqueue(
    db: Connection, job_pk: int | None, entries: Iterable[OutboxEntry], now: datetime
) -> int:
    """Queue notifications inside the caller's transaction; returns how many
    are new. One already queued for the same event and URL is skipped, which
    is what makes a terminal event go at most once per URL, ever."""
    insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(notifications)
        .on_conflict_do_nothing(index_elements=["dedupe_key", "url_key"])
        .returning(_n.id)
    )
    queued = 0
    for entry in entries:
        row = _new_row(job_pk, entry, now)
        queued += len(db.execute(statement.values(**row)).all())
    return queued


def enqueue_many(
    db: Connection, entries: Sequence[tuple[int | None, OutboxEntry]], now: datetime
) -> int:
    """`enqueue` for many (job pk, entry) pairs in one statement."""
    if not entries:
        return 0
    insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(notifications)
        .on_conflict_do_nothing(index_elements=["dedupe_key", "url_key"])
        .returning(_n.id)
    )
    rows = [_new_row(job_pk, entry, now) for job_pk, entry in entries]
    return len(db.execute(statement, rows).all())


def _new_row(job_pk: int | None, entry: OutboxEntry, now: datetime) -> dict[str, Any]:
    return {
        "job_pk": job_pk,
        "watch": entry.watch,
        "event": entry.event,
        "dedupe_key": entry.dedupe_key,
        "notifier": entry.notifier,
        "url_key": entry.url_key,
        "url_display": entry.url_display,
        "title": entry.title,
        "body": entry.body,
        "notify_type": entry.notify_type,
        "context": entry.context,
        "status": PENDING,
        "attempts": 0,
        "created_at": now,
        # A grouped notifier's rows wait out its group_wait, gathering company.
        "next_attempt_at": now + timedelta(seconds=entry.delay),
    }


def claim(
    writer: Engine,
    owner: str,
    now: datetime,
    lease_until: datetime,
    group_windows: Mapping[str, float],
    limit: int,
    held: Collection[int] = (),
) -> list[NotificationRecord]:
    """Lease up to `limit` due rows to `owner`, and with each due row of a
    grouped notifier (`group_windows`: notifier → group_wait seconds) every
    claimable row for the same URL due within that window, so the group
    leaves as one message. Rows in `held` are left alone: the caller is still
    finishing an attempt on them (its retry may already be due)."""
    due = (
        select(_n.id, _n.notifier, _n.url_key)
        .where(_claimable(now, held), _n.next_attempt_at <= now)
        .order_by(_n.next_attempt_at, _n.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with writer.begin() as db:
        rows = db.execute(due).all()
        ids = {row.id for row in rows}
        for notifier, key in {(row.notifier, row.url_key) for row in rows}:
            window = group_windows.get(notifier, 0.0)
            if window > 0:
                horizon = now + timedelta(seconds=window)
                ids.update(_companions(db, notifier, key, now, horizon, held))
        if not ids:
            return []
        claimed = db.execute(
            update(notifications)
            .where(_n.id.in_(sorted(ids)))
            .values(claimed_by=owner, claimed_until=lease_until)
            .returning(*notifications.c)
        )
        records = [_record(row) for row in claimed.mappings()]
    return sorted(records, key=lambda record: record.id)


def _companions(
    db: Connection,
    notifier: str,
    key: str,
    now: datetime,
    horizon: datetime,
    held: Collection[int],
) -> list[int]:
    query = (
        select(_n.id)
        .where(
            _claimable(now, held),
            _n.notifier == notifier,
            _n.url_key == key,
            _n.next_attempt_at <= horizon,
        )
        .with_for_update(skip_locked=True)
    )
    return list(db.execute(query).scalars())


def _claimable(now: datetime, held: Collection[int] = ()) -> Any:
    free = (_n.status == PENDING) & or_(_n.claimed_until.is_(None), _n.claimed_until < now)
    return free & _n.id.not_in(sorted(held)) if held else free


def mark_sent(writer: Engine, ids: Sequence[int], now: datetime) -> None:
    """Delivered. Whoever holds the claim now, the message went: the row is
    sent (a late retry or dead mark from a lapsed claim then changes nothing)."""
    _settle(writer, ids, None, status=SENT, sent_at=now, last_error=None)


def mark_retry(
    writer: Engine, ids: Sequence[int], owner: str, error: str, next_attempt_at: datetime
) -> None:
    _settle(writer, ids, owner, last_error=error, next_attempt_at=next_attempt_at)


def mark_dead(writer: Engine, ids: Sequence[int], owner: str, error: str) -> None:
    _settle(writer, ids, owner, status=DEAD, last_error=error)


def release(writer: Engine, ids: Sequence[int], owner: str) -> None:
    """Hand back claims that were never tried (at shutdown), so the next start
    sends them without waiting for the lease."""
    if ids:
        with writer.begin() as db:
            db.execute(
                update(notifications)
                .where(_n.id.in_(ids), _n.status == PENDING, _n.claimed_by == owner)
                .values(claimed_by=None, claimed_until=None)
            )


def _settle(writer: Engine, ids: Sequence[int], owner: str | None, **values: Any) -> None:
    """Record one delivery attempt on pending rows; with `owner`, only on rows
    it still holds (a lapsed claim may belong to another instance now)."""
    if not ids:
        return
    where = [_n.id.in_(ids), _n.status == PENDING]
    if owner is not None:
        where.append(_n.claimed_by == owner)
    with writer.begin() as db:
        db.execute(
            update(notifications)
            .where(*where)
            .values(attempts=_n.attempts + 1, claimed_by=None, claimed_until=None, **values)
        )


def next_due(engine: Engine) -> datetime | None:
    """When the next pending row can be claimed: its next attempt, or the end
    of the lease someone holds on it, whichever is later."""
    due_at = case(
        (_n.claimed_until > _n.next_attempt_at, _n.claimed_until), else_=_n.next_attempt_at
    )
    with engine.connect() as db:
        moment: datetime | None = db.execute(
            select(func.min(due_at)).where(_n.status == PENDING)
        ).scalar()
        return moment


def counts(engine: Engine) -> dict[str, int]:
    """Rows by status: every status present, zero when there are none."""
    with engine.connect() as db:
        rows = db.execute(select(_n.status, func.count()).group_by(_n.status))
        found = {status: count for status, count in rows}
    return {status: found.get(status, 0) for status in STATUSES} | found


def counts_by_job(engine: Engine) -> dict[int, dict[str, int]]:
    """Rows by job (database id) and status, every status present."""
    query = (
        select(_n.job_pk, _n.status, func.count())
        .where(_n.job_pk.is_not(None))
        .group_by(_n.job_pk, _n.status)
    )
    result: dict[int, dict[str, int]] = {}
    with engine.connect() as db:
        for job_pk, status, count in db.execute(query):
            result.setdefault(job_pk, dict.fromkeys(STATUSES, 0))[status] = count
    return result


def _record(row: RowMapping) -> NotificationRecord:
    return NotificationRecord(
        **{name: row[name] for name in NotificationRecord.__dataclass_fields__}
    )
