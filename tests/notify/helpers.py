"""A store with tracked jobs, and a way to queue their notifications as a poll would."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from monitor.config import NotifierSettings, RetryPolicy
from monitor.domain import Event
from monitor.notify.outbox import address
from monitor.store.records import JobRecord, PollWrite
from monitor.store.store import Store, WatchSpec

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
FAST = RetryPolicy(initial=10.0, factor=2.0, max=60.0)


def notifier(*urls: str, **settings: object) -> NotifierSettings:
    return NotifierSettings.model_validate({"urls": list(urls), "retry": FAST, **settings})


def track(store: Store, watch: str, job_id: str, now: datetime) -> JobRecord:
    """A watch of one job, as the config would make it; returns the job."""
    store.sync_config_watches(
        [*_current_specs(store), WatchSpec(name=watch, provider="hr", job=job_id)], now
    )
    return next(job for job in store.all_jobs(watch) if job.job_id == job_id)


def _current_specs(store: Store) -> list[WatchSpec]:
    return [WatchSpec(name=w.name, provider=w.provider, job=w.job) for w in store.active_watches()]


def queue(
    store: Store,
    job: JobRecord,
    event: Event,
    notifiers: Mapping[str, NotifierSettings],
    now: datetime,
) -> int:
    """Queue `event` of `job` for every notifier, as a poll would; returns how many rows."""
    entries = address(
        job, [event], provider_type="kpa_flex", notify=list(notifiers), on=[event],
        notifiers=notifiers,
    )  # fmt: skip
    return store.save_poll(PollWrite(job.id, {"polls": job.polls + 1}, None, entries), now)
