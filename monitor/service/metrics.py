"""Prometheus metrics for /metrics: what the daemon counts as it polls, and
what the database says at scrape time.

Each daemon has its own registry (tests run several daemons in one process).
Counters are kept in memory and start from zero at each start, as Prometheus
expects; job and outbox figures are read from the database when scraped, a
few GROUP BY queries, so they agree with `loadwatch status` on every instance.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import event

from monitor import __version__
from monitor.domain import State
from monitor.providers.base import PollFailure, Throttled
from monitor.store.store import Store
from monitor.store.write_health import write_health

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Provider answers take from tens of milliseconds to the client's timeout.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_NOTIFICATION_STATUSES = ("pending", "sent", "dead")


class Metrics:
    """The daemon's metrics, and the hooks that feed them."""

    def __init__(self, store: Store, loop_lag: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        Info("loadwatch", "The running loadwatch.", registry=self.registry).info(
            {"version": __version__}
        )
        self._poll_children: dict[str, tuple[Any, Any]] = {}
        self.polls = Counter(
            "loadwatch_polls",
            "Polls of a provider's job-status endpoint, whatever their outcome.",
            ["provider"],
            registry=self.registry,
        )
        self.failed_polls = Counter(
            "loadwatch_failed_polls",
            "Polls that failed (each counts toward `unreachable`), by reason.",
            ["provider", "reason"],
            registry=self.registry,
        )
        self.throttle_waits = Counter(
            "loadwatch_throttle_waits",
            "Times a provider throttled us (429, rate_limit_exceeded) and we waited.",
            ["provider"],
            registry=self.registry,
        )
        self.throttle_seconds = Counter(
            "loadwatch_throttle_wait_seconds",
            "Seconds the provider asked us to wait (Retry-After), summed.",
            ["provider"],
            registry=self.registry,
        )
        self.poll_seconds = Histogram(
            "loadwatch_poll_duration_seconds",
            "How long a poll of the provider took.",
            ["provider"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        lag = Gauge(
            "loadwatch_event_loop_lag_seconds",
            "How late the scheduler loop's last heartbeat woke up.",
            registry=self.registry,
        )
        lag.set_function(loop_lag)
        self.lateness = Histogram(
            "loadwatch_poll_lateness_seconds",
            "How long after its due time a poll (or condition check) started.",
            buckets=_LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.statements = Counter(
            "loadwatch_sql_statements",
            "SQL statements the daemon sent to its database (an executemany counts once).",
            registry=self.registry,
        )
        for engine in {id(store.engine): store.engine, id(store.writer): store.writer}.values():
            event.listen(engine, "before_cursor_execute", self._count_statement)
        self.registry.register(DatabaseCollector(store))

    def _failed(self, provider: str, error: BaseException) -> None:
        if isinstance(error, Throttled):
            self.throttle_waits.labels(provider).inc()
            if error.retry_after is not None:
                self.throttle_seconds.labels(provider).inc(max(0.0, error.retry_after))
        elif isinstance(error, PollFailure):
            self.failed_polls.labels(provider, str(error.kind)).inc()
        elif isinstance(error, Exception):
            self.failed_polls.labels(provider, "provider_error").inc()

    def _count_statement(self, *_: object) -> None:
        self.statements.inc()

    def gauge(self, name: str, documentation: str, value: Callable[[], float]) -> None:
        """A gauge read from `value` at each scrape."""
        Gauge(name, documentation, registry=self.registry).set_function(value)

    def measure_poll(self, provider: str) -> _PollMeasure:
        """Count and time one poll of `provider`, reading its outcome from what it raises."""
        children = self._poll_children.get(provider)
        if children is None:
            children = (self.polls.labels(provider), self.poll_seconds.labels(provider))
            self._poll_children[provider] = children
        return _PollMeasure(self, provider, *children)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format (collects from the database)."""
        return generate_latest(self.registry)


class _PollMeasure:
    """`Metrics.measure_poll`'s context: a plain class, as it runs for every
    poll (a generator-based context manager and two label lookups cost more
    than the counting)."""

    __slots__ = ("_metrics", "_polls", "_provider", "_seconds", "_started")

    def __init__(self, metrics: Metrics, provider: str, polls: Any, seconds: Any) -> None:
        self._metrics = metrics
        self._provider = provider
        self._polls = polls
        self._seconds = seconds

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if error is not None:
            self._metrics._failed(self._provider, error)
        self._polls.inc()
        self._seconds.observe(time.perf_counter() - self._started)


class DatabaseCollector(Collector):
    """Jobs by state and the outbox, read from the database at each scrape."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def describe(self) -> Iterable[Metric]:
        return []  # the figures come from the database; do not query at registration

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "loadwatch_database_up",
            "Whether the database answered this scrape's queries and the latest writes passed.",
        )
        try:
            jobs = self._store.job_counts()
            notifications = self._store.notification_counts()
            oldest = self._store.oldest_undelivered()
        except Exception as error:  # the scrape still answers, saying the database is away
            # Debug only: a scrape every 15 s would repeat what the poller already logs.
            log.debug("metrics: database unreachable: %s", error)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1 if write_health(self._store.engine).verdict() == "ok" else 0)
        return [up, _jobs_family(jobs), _notifications_family(notifications), _oldest(oldest)]


def _jobs_family(counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "loadwatch_jobs", "Tracked jobs of active watches, by state.", labels=["state"]
    )
    for state in State:  # every state, zeros included, so series do not come and go
        family.add_metric([state.value], counts.get(state.value, 0))
    return family


def _notifications_family(counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "loadwatch_notifications",
        "Notifications in the outbox, by status (pending, sent, dead).",
        labels=["status"],
    )
    for status in sorted(set(_NOTIFICATION_STATUSES) | set(counts)):
        family.add_metric([status], counts.get(status, 0))
    return family


def _oldest(queued_at: datetime | None) -> GaugeMetricFamily:
    age = 0.0 if queued_at is None else (datetime.now(UTC) - queued_at).total_seconds()
    return GaugeMetricFamily(
        "loadwatch_outbox_oldest_undelivered_seconds",
        "Age of the oldest notification not yet delivered (0 when none).",
        value=max(0.0, age),
    )
