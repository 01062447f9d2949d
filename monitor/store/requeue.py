"""Giving dead deliveries another go (`loadwatch retry`): the same outbox rows
back to `pending`, due now, so they keep their idempotency keys and a message
that went meanwhile cannot go twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update

from monitor.store.database import writer
from monitor.store.outbox import DEAD, PENDING
from monitor.store.tables import notifications

_n = notifications.c


@dataclass(frozen=True)
class DeadDelivery:
    """One dead outbox row: which message, to which URL."""

    id: int
    watch: str
    event: str
    key: str
    notifier: str
    url_key: str
    url_display: str
    last_error: str | None


def dead_deliveries(
    engine: Engine, notifier: str | None = None, watch: str | None = None
) -> list[DeadDelivery]:
    """Dead rows, oldest first, of one notifier and/or one watch when given."""
    query = (
        select(
            _n.id,
            _n.watch,
            _n.event,
            _n.dedupe_key,
            _n.notifier,
            _n.url_key,
            _n.url_display,
            _n.last_error,
        )
        .where(_n.status == DEAD)
        .order_by(_n.created_at, _n.id)
    )
    if notifier is not None:
        query = query.where(_n.notifier == notifier)
    if watch is not None:
        query = query.where(_n.watch == watch)
    with engine.connect() as db:
        return [DeadDelivery(*row) for row in db.execute(query)]


def requeue(engine: Engine, ids: Sequence[int], now: datetime) -> int:
    """Make these dead rows pending and due now; returns how many changed (a
    row is only changed while it is dead, so running this twice re-queues once)."""
    if not ids:
        return 0
    with writer(engine).begin() as db:
        result = db.execute(
            update(notifications)
            .where(_n.id.in_(list(ids)), _n.status == DEAD)
            .values(status=PENDING, next_attempt_at=now, claimed_by=None, claimed_until=None)
        )
        return int(result.rowcount or 0)
