"""The daemons sharing one database: who is alive, what each watches, the
vendor pauses they share, and named leases for work one of them does at a time.

An instance is alive while its heartbeat is younger than the job lease; the
heartbeat also renews its job leases (store/claims.py). On SQLite one daemon
runs per database file: `SqliteLock` holds an OS lock on a file beside it for
as long as the daemon lives, so a second `run` can name the first one's pid.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from monitor.problems import StartupProblem
from monitor.store.tables import instances, leases, provider_pauses


@dataclass(frozen=True)
class Instance:
    name: str
    host: str
    pid: int
    heartbeat_at: datetime
    watches: frozenset[str]


def register(
    writer: Engine, name: str, host: str, pid: int, watches: list[str], now: datetime
) -> None:
    """Say this instance is alive (at start, and again after a reload)."""
    values = {"host": host, "pid": pid, "heartbeat_at": now, "watches": sorted(watches)}
    with writer.begin() as db:
        found = db.execute(select(instances.c.name).where(instances.c.name == name)).first()
        if found is None:
            db.execute(insert(instances).values(name=name, started_at=now, **values))
        else:
            db.execute(update(instances).where(instances.c.name == name).values(**values))


def beat(writer: Engine, name: str, now: datetime) -> bool:
    """Refresh the heartbeat; False when the row is gone (re-register)."""
    with writer.begin() as db:
        changed = db.execute(
            update(instances).where(instances.c.name == name).values(heartbeat_at=now)
        ).rowcount
    return bool(changed)


def unregister(writer: Engine, name: str) -> None:
    with writer.begin() as db:
        db.execute(delete(instances).where(instances.c.name == name))


def listed(engine: Engine) -> list[Instance]:
    with engine.connect() as db:
        rows = db.execute(select(instances).order_by(instances.c.name)).mappings().all()
    return [
        Instance(
            name=row["name"],
            host=row["host"],
            pid=row["pid"],
            heartbeat_at=row["heartbeat_at"],
            watches=frozenset(row["watches"] or []),
        )
        for row in rows
    ]


def forget_dead(writer: Engine, stale_before: datetime) -> list[str]:
    """Remove instances whose heartbeat stopped before `stale_before`; their names."""
    with writer.begin() as db:
        names = [
            name
            for (name,) in db.execute(
                select(instances.c.name).where(instances.c.heartbeat_at < stale_before)
            )
        ]
        if names:
            db.execute(delete(instances).where(instances.c.name.in_(names)))
    return names


# -- vendor pauses ------------------------------------------------------------------


def pause(writer: Engine, provider: str, until: datetime, reason: str) -> None:
    """Record that the vendor asked `provider` to pause until `until` (the later pause wins)."""
    dialect = postgresql if writer.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(provider_pauses).values(
        provider=provider, paused_until=until, reason=reason[:500]
    )
    statement = statement.on_conflict_do_update(
        index_elements=["provider"],
        set_={"paused_until": until, "reason": reason[:500]},
        where=provider_pauses.c.paused_until < until,
    )
    with writer.begin() as db:
        db.execute(statement)


def pauses(engine: Engine, now: datetime) -> dict[str, datetime]:
    """Providers paused past `now`, and until when."""
    with engine.connect() as db:
        rows = db.execute(
            select(provider_pauses.c.provider, provider_pauses.c.paused_until).where(
                provider_pauses.c.paused_until > now
            )
        ).all()
    return {provider: until for provider, until in rows}


# -- named leases -------------------------------------------------------------------


def take_lease(writer: Engine, name: str, owner: str, now: datetime, until: datetime) -> bool:
    """Take (or keep) the lease `name` until `until`; False while another owner holds it."""
    dialect = postgresql if writer.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(leases).values(name=name, owner=owner, until=until)
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"owner": owner, "until": until},
        where=or_(leases.c.owner == owner, leases.c.until < now),
    ).returning(leases.c.owner)
    with writer.begin() as db:
        return db.execute(statement).first() is not None


# -- one daemon per SQLite file -----------------------------------------------------


class DatabaseInUse(StartupProblem):
    """Another daemon runs on this SQLite database."""


class SqliteLock:
    """An exclusive OS lock on `<database>.lock`, held while the daemon runs.
    The OS drops it when the process dies, however it dies."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        database = parsed.database or "" if parsed.get_backend_name() == "sqlite" else ""
        self.database = Path(database).resolve() if database not in ("", ":memory:") else None
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise DatabaseInUse naming the running daemon's pid."""
        if self.database is None or not self.database.parent.is_dir():
            return  # opening the database says what is wrong, in one line
        path = self.database.with_name(self.database.name + ".lock")
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DatabaseInUse(
                f"another loadwatch daemon (pid {holder}) is running on {self.database}; "
                "one daemon per SQLite file (use PostgreSQL to run several)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def pid_alive(pid: int) -> bool:
    """Whether a process with `pid` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
