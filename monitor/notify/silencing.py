"""What silences and quiet windows do to a notification, decided when the
outbox worker claims it (not when the poller records the event, so a silence
set after an event was queued, during its group_wait say, still counts):

- an event of a job's end (succeeded, partial, failed, canceled) is held: it
  stays pending and goes once, when the last silence or quiet window
  covering it ends; a job's end is the one message nobody wants to lose;
- any other event (started, waiting, stalled, overdue, unreachable,
  recovered, missing) is recorded as `silenced` and never sent: conditions
  that still hold after the silence remind again at their next `repeat`.

Either way the row, and why, is in `history`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from monitor.config import Config
from monitor.config.quiet import QuietWindow, quiet_until
from monitor.domain import Event
from monitor.store import silences as queries
from monitor.store.records import NotificationRecord
from monitor.store.silences import SilenceRecord
from monitor.store.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """Why a row may not go now: held until `until`, or (until None) silenced."""

    until: datetime | None
    note: str


def verdict(
    row: NotificationRecord,
    provider: str | None,
    silences: Sequence[SilenceRecord],
    quiet_end: datetime | None,
) -> Verdict | None:
    """What the silences and the watch's quiet window (ending `quiet_end`, if
    one holds now) say about `row`; None: send it."""
    covering = [s for s in silences if s.covers(row.watch, provider)]
    ends = [s.ends_at for s in covering] + ([quiet_end] if quiet_end is not None else [])
    if not ends:
        return None
    causes = [f"silence {s.id}" + (f" ({s.reason})" if s.reason else "") for s in covering]
    causes += ["quiet window"] * (quiet_end is not None)
    cause = ", ".join(causes)
    if _ends_a_job(row.event):
        until = max(ends)
        return Verdict(until, f"held by {cause} until {until.astimezone(UTC):%Y-%m-%d %H:%M}Z")
    return Verdict(None, f"silenced by {cause}")


class Silencer:
    """Screens claimed rows for the outbox worker."""

    def __init__(self, store: Store, config: Callable[[], Config], zone: Callable[[], tzinfo]):
        self._store = store
        self._config = config
        self._zone = zone
        self._windows_of: Config | None = None
        self._windows_by_name: dict[str, list[QuietWindow]] = {}

    def screen(
        self, rows: Sequence[NotificationRecord], now: datetime, owner: str
    ) -> list[NotificationRecord]:
        """The rows that may go now; the others are held or silenced in the
        database (they were claimed by `owner`). Runs in a worker thread."""
        engine = self._store.engine
        silences = queries.active_silences(engine, now)
        quiet, quiet_by_default = self._quiet_ends({row.watch for row in rows}, now)
        if not silences and quiet_by_default is None and not any(quiet.values()):
            return list(rows)
        lookup = queries.providers_of(engine, sorted({r.watch for r in rows}))
        free: list[NotificationRecord] = []
        for row in rows:
            provider = (row.context or {}).get("provider") or lookup.get(row.watch)
            # Run-time watches and provider-wide messages follow the defaults.
            quiet_end = quiet.get(row.watch, quiet_by_default)
            decided = verdict(row, provider, silences, quiet_end)
            if decided is None:
                free.append(row)
            elif decided.until is None:
                queries.silence(engine, [row.id], owner, decided.note)
                log.info("%s to %s: %s", row.dedupe_key, row.url_display, decided.note)
            else:
                queries.hold(engine, [row.id], owner, decided.until, decided.note)
                log.info("%s to %s: %s", row.dedupe_key, row.url_display, decided.note)
        return free

    def _quiet_ends(
        self, names: set[str], now: datetime
    ) -> tuple[dict[str, datetime | None], datetime | None]:
        """When the quiet window each of the config watches `names` is in ends
        (None: in none), and the same for the defaults' windows. Only the
        rows' watches are looked at: a config may hold 10,000."""
        config, zone = self._config(), self._zone()
        windows = self._windows(config)
        ends = {name: quiet_until(windows[name], now, zone) for name in names if name in windows}
        return ends, quiet_until(config.defaults.quiet, now, zone)

    def _windows(self, config: Config) -> dict[str, list[QuietWindow]]:
        """Each config watch's quiet windows, by name (built once per config)."""
        if self._windows_of is not config:
            self._windows_by_name = {watch.name: watch.quiet for watch in config.watches}
            self._windows_of = config
        return self._windows_by_name


def _ends_a_job(event: str) -> bool:
    try:
        return Event(event).terminal
    except ValueError:
        return False
