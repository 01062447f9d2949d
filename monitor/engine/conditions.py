"""Conditions: trouble that holds over time — a job `unreachable`, `stalled`,
`waiting` for a person, `overdue` — when each begins and ends, and when it is
announced again (SPEC §2).

Pure functions of (job, its open conditions, the watch's settings, now): the
engine loads the inputs, after a poll or between polls, and writes the verdict
(condition rows and their notifications) in one transaction.

Notice numbers: each message about a condition has a number, counted per job
and kind (`hr-nightly/42:stalled:1`, then `:2` for the first reminder, `:3`
for the next episode...). They make the outbox's idempotency keys, so a notice
computed twice is still sent once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from monitor.config import Deadline, WatchPolicy
from monitor.domain import Event, State
from monitor.notify.formatting import format_duration
from monitor.providers.base import FailureKind
from monitor.store.conditions import RECOVERABLE, Notices, OpenCondition
from monitor.store.records import JobRecord

CONDITION_KINDS = (Event.UNREACHABLE, Event.STALLED, Event.WAITING, Event.OVERDUE)
# `deadline: auto` learns from this many runs at least, and the latest this many at most.
AUTO_MIN_RUNS = 5
AUTO_RUNS = 20
_STALLABLE = frozenset({State.PENDING, State.RUNNING})


@dataclass(frozen=True)
class PollOutcome:
    """What the poll being committed said: `failure` is None for a good answer."""

    failure: FailureKind | None = None


@dataclass(frozen=True)
class DueBy:
    """When a job becomes overdue, and the words that say why."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class Opening:
    kind: Event
    reason: str
    sequence: int
    credentials: bool = False  # refused credentials: announced once for the provider


@dataclass(frozen=True)
class Reminder:
    condition: OpenCondition
    number: int  # 1 for the first reminder

    @property
    def sequence(self) -> int:
        return self.condition.sequence + self.number


@dataclass(frozen=True)
class Clearing:
    condition: OpenCondition
    recovered: int | None = None  # the `recovered` notice's number; None: cleared silently


@dataclass
class Verdict:
    """What changes for one job's conditions, and when to look again."""

    openings: list[Opening] = field(default_factory=list)
    reminders: list[Reminder] = field(default_factory=list)
    clearings: list[Clearing] = field(default_factory=list)
    next_check_at: datetime | None = None

    @property
    def changed(self) -> bool:
        return bool(self.openings or self.reminders or self.clearings)


def evaluate(
    job: JobRecord,
    held: Sequence[OpenCondition],
    notices: Notices,
    policy: WatchPolicy,
    now: datetime,
    *,
    due: DueBy | None = None,
    poll: PollOutcome | None = None,
) -> Verdict:
    """The verdict for `job` at `now`. `poll` is the poll being committed (None
    between polls: `unreachable` only changes with a poll); `due` is when the
    job becomes overdue (None: no deadline)."""
    verdict = Verdict()
    current = {condition.kind: condition for condition in held}
    holding = {} if job.state.terminal else _holding(job, policy, now, due, poll, current)
    recoveries = notices.recoveries
    for condition in held:
        if condition.kind in holding:
            continue
        recovered = None
        # `recovered` closes an alarm the watch's people could have seen: a
        # condition whose event they do not subscribe to clears silently.
        announced = condition.kind in policy.on
        if condition.kind in RECOVERABLE and condition.parent_id is None and announced:
            recoveries += 1
            recovered = recoveries
        verdict.clearings.append(Clearing(condition, recovered))
    for kind, reason in holding.items():
        existing = current.get(kind)
        if existing is None:
            refused = poll is not None and poll.failure == FailureKind.AUTH
            sequence = notices.last.get(kind, 0) + 1
            credentials = refused and kind == Event.UNREACHABLE
            verdict.openings.append(Opening(kind, reason, sequence, credentials))
        elif _reminder_due(existing, policy.repeat, now):
            verdict.reminders.append(Reminder(existing, existing.reminders + 1))
    if not job.state.terminal:
        verdict.next_check_at = _next_check(job, policy, now, due, current, holding)
    return verdict


def _holding(
    job: JobRecord,
    policy: WatchPolicy,
    now: datetime,
    due: DueBy | None,
    poll: PollOutcome | None,
    current: Mapping[Event, OpenCondition],
) -> dict[Event, str]:
    """The conditions that hold for a job that has not ended, with their reasons."""
    holding: dict[Event, str] = {}
    if poll is None:
        if Event.UNREACHABLE in current:  # only a poll can tell it changed
            holding[Event.UNREACHABLE] = current[Event.UNREACHABLE].reason or ""
    elif poll.failure is not None and (
        job.consecutive_failures >= policy.unreachable_after or Event.UNREACHABLE in current
    ):
        failures = job.consecutive_failures
        holding[Event.UNREACHABLE] = f"{job.last_failure} ({failures} failed polls in a row)"
    quiet = stalled_since(job)
    if job.state in _STALLABLE and now - quiet >= _seconds(policy.stall_after):
        holding[Event.STALLED] = (
            f"{job.state.value} with no change of state or progress for "
            f"{format_duration((now - quiet).total_seconds())}"
        )
    waiting_since = job.state_changed_at or job.first_seen_at
    if job.state == State.WAITING and now - waiting_since >= _seconds(policy.stall_after):
        holding[Event.WAITING] = (
            f"waiting for a person for {format_duration((now - waiting_since).total_seconds())}"
        )
    if due is not None and now >= due.at:
        holding[Event.OVERDUE] = due.reason
    return holding


def stalled_since(job: JobRecord) -> datetime:
    """The last time the job's state or progress changed (or it began to be watched)."""
    moments = [job.first_seen_at, job.state_changed_at, job.progress_changed_at]
    return max(moment for moment in moments if moment is not None)


def _reminder_due(condition: OpenCondition, repeat: float, now: datetime) -> bool:
    if repeat <= 0 or condition.parent_id is not None:
        return False  # reminders off, or the provider's condition reminds for it
    return now >= condition.last_notified_at + _seconds(repeat)


def _next_check(
    job: JobRecord,
    policy: WatchPolicy,
    now: datetime,
    due: DueBy | None,
    current: Mapping[Event, OpenCondition],
    holding: Mapping[Event, str],
) -> datetime | None:
    """The earliest moment a condition could begin or a reminder fall due
    without a poll in between."""
    moments: list[datetime] = []
    stall = _seconds(policy.stall_after)
    if Event.STALLED not in holding and job.state in _STALLABLE:
        moments.append(stalled_since(job) + stall)
    if Event.WAITING not in holding and job.state == State.WAITING:
        moments.append((job.state_changed_at or job.first_seen_at) + stall)
    if Event.OVERDUE not in holding and due is not None:
        moments.append(due.at)
    if policy.repeat > 0:
        for kind in holding:
            condition = current.get(kind)
            if condition is None:
                moments.append(now + _seconds(policy.repeat))
            elif condition.parent_id is None:
                reminded = now if _reminder_due(condition, policy.repeat, now) else None
                moments.append((reminded or condition.last_notified_at) + _seconds(policy.repeat))
    return min(moments, default=None)


# -- deadlines ------------------------------------------------------------------


def due_by(
    job: JobRecord,
    deadline: Deadline,
    fallback: float,
    zone: tzinfo,
    past_runs: Sequence[float] = (),
) -> DueBy | None:
    """When `job` becomes overdue under `deadline`, counted from when its watch
    began (the job's first sighting); `past_runs` are the durations of the
    watch's earlier runs, for `deadline: auto`."""
    began = job.first_seen_at
    if deadline.kind == "after" and deadline.seconds is not None:
        seconds = deadline.seconds
        return DueBy(began + _seconds(seconds), _after_reason(seconds))
    if deadline.kind == "time_of_day" and deadline.time_of_day is not None:
        at = next_time_of_day(began, deadline.time_of_day, zone)
        return DueBy(at, f"not finished by {deadline.time_of_day:%H:%M} ({_zone_name(zone)})")
    if deadline.kind == "auto":
        learned = p90(past_runs) if len(past_runs) >= AUTO_MIN_RUNS else None
        if learned is None:
            why = f"not finished {_words(fallback)} after it began (too few past runs to learn)"
            return DueBy(began + _seconds(fallback), why)
        why = (
            f"not finished {_words(learned)} after it began "
            f"(90% of its last {len(past_runs)} runs took no longer)"
        )
        return DueBy(began + _seconds(learned), why)
    return None


def next_time_of_day(after: datetime, clock_time: time, zone: tzinfo) -> datetime:
    """The first `clock_time` in `zone` strictly after `after`, in UTC."""
    local = after.astimezone(zone)
    candidate = datetime.combine(local.date(), clock_time, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), clock_time, tzinfo=zone)
    return candidate.astimezone(UTC)


def p90(durations: Sequence[float]) -> float:
    """The 90th percentile by nearest rank: the shortest duration that at least
    90% of the runs did not exceed."""
    ordered = sorted(durations)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


@lru_cache(maxsize=256)
def _after_reason(seconds: float) -> str:
    """Why a job with `deadline: <seconds>` is overdue (judged for every poll:
    worded once per deadline)."""
    return f"not finished {_words(seconds)} after it began"


def _words(seconds: float) -> str:
    """`24h` as `1d`, `90m` as `90m`: a whole unit when there is one."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return format_duration(seconds)


def local_zone() -> tzinfo:
    """The machine's time zone (the default for `timezone:`)."""
    import tzlocal

    return tzlocal.get_localzone()


def zone_named(name: str | None) -> tzinfo:
    """The zone for the config's `timezone` (an IANA name), else the machine's."""
    return ZoneInfo(name) if name else local_zone()


def _zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


@lru_cache(maxsize=256)
def _seconds(value: float) -> timedelta:
    """`value` seconds (the few durations of the config, several per poll)."""
    return timedelta(seconds=value)
