"""Silences in the database, and what they do to outbox rows: hold a row back
until a time (it stays pending) or mark it `silenced` (recorded, never sent).
The decisions are notify/silencing.py's; these are the queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from monitor.store.database import writer
from monitor.store.outbox import PENDING
from monitor.store.tables import notifications, silences, watches

SILENCED = "silenced"  # a notification status: recorded, never to be sent

_s, _n = silences.c, notifications.c


@dataclass(frozen=True)
class SilenceRecord:
    """One silence: of a watch, a provider, or (neither) everything."""

    id: int
    watch: str | None
    provider: str | None
    reason: str | None
    created_at: datetime
    ends_at: datetime
    removed_at: datetime | None

    @property
    def scope(self) -> str:
        if self.watch is not None:
            return f"watch {self.watch}"
        if self.provider is not None:
            return f"provider {self.provider}"
        return "all watches"

    def covers(self, watch: str, provider: str | None) -> bool:
        if self.watch is not None:
            return self.watch == watch
        if self.provider is not None:
            return self.provider == provider
        return True


def add_silence(
    engine: Engine,
    *,
    watch: str | None,
    provider: str | None,
    reason: str | None,
    now: datetime,
    ends_at: datetime,
) -> int:
    """Store a silence; returns its id."""
    values = {
        "watch": watch,
        "provider": provider,
        "reason": reason,
        "created_at": now,
        "ends_at": ends_at,
    }
    with writer(engine).begin() as db:
        key = db.execute(insert(silences).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def active_silences(engine: Engine, now: datetime) -> list[SilenceRecord]:
    """The silences holding at `now`, soonest to end first."""
    query = (
        select(silences)
        .where(_s.ends_at > now, _s.removed_at.is_(None), _s.created_at <= now)
        .order_by(_s.ends_at, _s.id)
    )
    with engine.connect() as db:
        return [SilenceRecord(**row) for row in db.execute(query).mappings()]


def end_silence(engine: Engine, silence_id: int, now: datetime) -> bool:
    """End a silence now (`unsilence`), and make the rows silences were
    holding due at once (one still silenced is held again when claimed).
    False when there is no such silence holding."""
    with writer(engine).begin() as db:
        ended = db.execute(
            update(silences)
            .where(_s.id == silence_id, _s.removed_at.is_(None), _s.ends_at > now)
            .values(removed_at=now)
        )
        if not ended.rowcount:
            return False
        db.execute(
            update(notifications)
            .where(_n.status == PENDING, _n.silence_note.is_not(None), _n.next_attempt_at > now)
            .values(next_attempt_at=now)
        )
    return True


def hold(engine: Engine, ids: Sequence[int], owner: str, until: datetime, note: str) -> None:
    """Keep claimed rows pending, not due before `until`, and say why."""
    _settle(engine, ids, owner, next_attempt_at=until, silence_note=note)


def silence(engine: Engine, ids: Sequence[int], owner: str, note: str) -> None:
    """Mark claimed rows silenced: kept for history, never sent."""
    _settle(engine, ids, owner, status=SILENCED, silence_note=note)


def _settle(engine: Engine, ids: Sequence[int], owner: str, **values: object) -> None:
    if not ids:
        return
    with writer(engine).begin() as db:
        db.execute(
            update(notifications)
            .where(_n.id.in_(list(ids)), _n.status == PENDING, _n.claimed_by == owner)
            .values(claimed_by=None, claimed_until=None, **values)
        )


def providers_of(engine: Engine, watch_names: Sequence[str]) -> dict[str, str]:
    """watch name → provider, for rows whose context does not say."""
    if not watch_names:
        return {}
    query = select(watches.c.name, watches.c.provider).where(watches.c.name.in_(watch_names))
    with engine.connect() as db:
        return {name: provider for name, provider in db.execute(query)}
