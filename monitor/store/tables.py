"""The database schema. Alembic migrations in migrations/ create exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

# Named constraints let Alembic's batch mode find them again on SQLite.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware
    (SQLite forgets the zone; PostgreSQL keeps it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use the clock's UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else _in_utc(value)

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return sqlite_text

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return lambda value: None if value is None else sqlite_time(value)


def sqlite_text(value: datetime | None) -> str | None:
    """A time as SQLite holds it: SQLAlchemy's own text form (ISO, space,
    microseconds, UTC, no offset), made in one step (a poll writes five)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use the clock's UTC time")
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]


def sqlite_time(text: str) -> datetime:
    """A time as SQLite holds it (SQLAlchemy's ISO text, in UTC), read back
    aware. Parsing it with its zone appended is several times quicker than
    parsing it and then setting the zone, and claims read a dozen per row."""
    try:
        return datetime.fromisoformat(text + "+00:00")
    except ValueError:  # text that carries an offset of its own
        return _in_utc(datetime.fromisoformat(text))


def _in_utc(value: datetime) -> datetime:
    """`value` as an aware UTC time; a naive one is UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


watches = Table(
    "watches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("provider", String(200), nullable=False),
    Column("job", String(500)),  # None for discovery watches
    Column("discover", JSON),
    # "config" watches follow the YAML file; "runtime" ones were added by the CLI
    # or the HTTP API and only `unwatch` removes them.
    Column("source", String(16), nullable=False),
    Column("settings", JSON),  # runtime watches: the keys given at `watch` time
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),
    Column("paused_at", UTCDateTime),  # set by `loadwatch pause`: not polled until resumed
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("watch_id", Integer, ForeignKey("watches.id", ondelete="CASCADE"), nullable=False),
    Column("job_id", String(500), nullable=False),
    Column("state", String(16), nullable=False),
    Column("raw_status", String(500)),
    Column("progress", Float),
    Column("processed", Integer),
    Column("errors", Integer),
    Column("total", Integer),
    Column("message", Text),
    Column("children", JSON),
    Column("details", JSON),
    Column("started_at", UTCDateTime),  # as the provider says
    Column("finished_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),  # when the watch began
    Column("state_changed_at", UTCDateTime),
    Column("progress_changed_at", UTCDateTime),
    Column("terminal_at", UTCDateTime),  # when we saw it end
    Column("last_poll_at", UTCDateTime),
    Column("next_poll_at", UTCDateTime),  # the schedule's truth; None once terminal
    Column("polls", Integer, nullable=False, default=0),
    Column("failed_polls", Integer, nullable=False, default=0),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_failure", Text),
    Column("backoff_step", Integer, nullable=False, default=0),  # n in initial × factor^n
    # The instance polling or checking it now, until when (store/claims.py). The
    # owner stays after the lease is given back: the instance that polled it last.
    Column("lease_owner", String(100)),
    Column("lease_until", UTCDateTime),
    # When its conditions (stalled, overdue, reminders) must be judged again
    # without a poll; None: not until its next poll.
    Column("next_check_at", UTCDateTime),
    # The sooner of the two: what a claim looks for (one index range, due rows only).
    Column("due_at", UTCDateTime),
    # Set when its watch stopped naming it (the watch's job id was changed): kept
    # for history, no longer polled.
    Column("retired_at", UTCDateTime),
    UniqueConstraint("watch_id", "job_id", name="uq_jobs_watch_id_job_id"),
    Index("ix_jobs_due_at", "due_at"),
    Index("ix_jobs_terminal_at", "terminal_at"),  # retention finds old finished jobs
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_pk", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("raw_status", String(500)),
    Column("progress", Float),
    Column("message", Text),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_transitions_job_pk", "job_pk"),
)

conditions = Table(
    "conditions",
    metadata,
    Column("id", Integer, primary_key=True),
    # A job's condition; or, with `provider` set and no job, a provider's own
    # (credentials refused: one notice naming every job of the provider).
    Column("job_pk", Integer, ForeignKey("jobs.id", ondelete="CASCADE")),
    Column("provider", String(200)),
    # A job's condition announced by its provider's condition, not by itself.
    Column("parent_id", Integer, ForeignKey("conditions.id", ondelete="SET NULL")),
    Column("kind", String(16), nullable=False),  # stalled, waiting, overdue, unreachable
    Column("reason", Text),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_notified_at", UTCDateTime),
    Column("reminders", Integer, nullable=False, default=0),
    Column("sequence", Integer, nullable=False, default=1),  # its opening notice's number
    Column("cleared_at", UTCDateTime),
    Index("ix_conditions_job_pk", "job_pk"),
    Index("ix_conditions_provider", "provider"),
)

# The outbox: one row per (job, event occurrence, notifier URL), written in the
# same transaction as the transition that caused it. The URL itself is never
# stored (it may hold a password): `url_key` finds it again in the config.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_pk", Integer, ForeignKey("jobs.id", ondelete="SET NULL")),
    Column("watch", String(200), nullable=False),
    Column("event", String(16), nullable=False),
    Column("dedupe_key", String(300), nullable=False),  # "job:event", reminders add ":n"
    Column("notifier", String(200), nullable=False),
    Column("url_key", String(32), nullable=False),
    Column("url_display", String(500), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("notify_type", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # pending, sent, dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_by", String(100)),
    Column("claimed_until", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    Column("context", JSON),  # the message's facts, secret-free, for grouped messages
    # Why a silence or quiet window held the row back (still pending, due when
    # it ends) or kept it from being sent at all (status "silenced").
    Column("silence_note", Text),
    UniqueConstraint("dedupe_key", "url_key", name="uq_notifications_dedupe_key_url_key"),
    Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_notifications_job_pk", "job_pk"),  # retention asks "anything undelivered?"
)

# Silences (`loadwatch silence`): while one holds, events of the watches it
# covers are recorded but not sent (monitor/notify/silencing.py). A silence
# names a watch, or a provider, or neither (all watches).
silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("watch", String(200)),
    Column("provider", String(200)),
    Column("reason", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),  # `unsilence` ended it early
    Index("ix_silences_ends_at", "ends_at"),
)

# Expected runs (`expect:` on a discovery watch): the deadline being waited
# for, and from when a newly discovered job counts toward it
# (engine/expectations.py). `missing_since` is set while `missing` holds.
expectations = Table(
    "expectations",
    metadata,
    Column("watch_id", Integer, ForeignKey("watches.id", ondelete="CASCADE"), primary_key=True),
    Column("spec", String(300), nullable=False),  # the `expect:` it was planned for
    Column("next_due_at", UTCDateTime, nullable=False),
    Column("counted_after", UTCDateTime, nullable=False),
    Column("missing_since", UTCDateTime),
    Column("last_notified_at", UTCDateTime),
    Column("reminders", Integer, nullable=False, default=0),
)

# The daemons sharing this database, each alive while its heartbeat is fresh.
instances = Table(
    "instances",
    metadata,
    Column("name", String(100), primary_key=True),  # host:pid, as in jobs.lease_owner
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("watches", JSON),  # the names its config file watches
)

# A vendor's request to pause (429 and the like), shared by every instance.
provider_pauses = Table(
    "provider_pauses",
    metadata,
    Column("provider", String(200), primary_key=True),
    Column("paused_until", UTCDateTime, nullable=False),
    Column("reason", Text),
)

# Named leases for work one instance at a time does (a watch's discovery round).
leases = Table(
    "leases",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("owner", String(100), nullable=False),
    Column("until", UTCDateTime, nullable=False),
)
