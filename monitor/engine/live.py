"""The configuration the daemon runs with, kept in step with the config file
and the run-time watches in the database (SPEC §6).

A reload loads the file first; a file that does not validate is refused (every
FILE:LINE problem logged) and the running config stays. A good one is applied
whole: providers whose block changed get a new client and limiter (the old
ones finish their calls, then close), the watches table follows the file, and
the poller sees the new `Wiring` at once, in one assignment. New watches start,
removed ones stop, changed ones take the new settings; a watch keeps its name,
so its job history and the notifications already sent stay with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from monitor.clock import Clock
from monitor.config import Config, ConfigError, WatchSettings, load_config
from monitor.config.watcher import ConfigFileWatcher
from monitor.engine.conditions import zone_named
from monitor.engine.limits import ProviderLimiter
from monitor.engine.runtime_watches import (
    add_runtime_watch,
    remove_runtime_watch,
    runtime_settings,
)
from monitor.engine.wiring import WatchIndex, Wiring
from monitor.providers.base import Provider, ProviderSettings
from monitor.providers.http import make_client
from monitor.providers.registry import provider_class
from monitor.store import claims
from monitor.store.conditions import ConditionStore
from monitor.store.database import unavailable
from monitor.store.records import WatchRecord
from monitor.store.store import Store, WatchSpec

log = logging.getLogger(__name__)

FILE_CHECK_SECONDS = 1.0  # how often the config file is looked at
RUNTIME_CHECK_SECONDS = 2.0  # how often the watches table is (SPEC: picked up within 5 s)
_CLOSE_GRACE = 5.0  # seconds over a retired provider's timeout before its client is closed


def build_provider(name: str, settings: ProviderSettings) -> Provider:
    """One Provider, with its own HTTP client."""
    return provider_class(settings.type)(name, settings, make_client(settings))


class LiveConfig:
    """Holds the running `Wiring` and changes it on reload and run-time watch changes."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        on_change: Callable[[], None] = lambda: None,
        on_due: Callable[[], None] = lambda: None,
        others_watch: Callable[[], Awaitable[frozenset[str]]] | None = None,
        on_applied: Callable[[Config], Awaitable[None]] | None = None,
        on_pause: Callable[[str, float, str], None] = lambda provider, seconds, reason: None,
    ) -> None:
        self.config = config
        self.wiring = Wiring(providers={}, watches={}, notifiers={})
        self.index = WatchIndex(names={}, foreign={})
        self._store = store
        self._clock = clock
        self._on_change = on_change
        self._on_due = on_due  # jobs were made due: claim now
        self._others_watch = others_watch  # watch names other live instances run
        self._on_applied = on_applied  # a new config is running (tell the fleet)
        self._on_pause = on_pause  # a vendor paused a provider (share it)
        self._conditions = ConditionStore(store.engine)
        self._runtime: dict[str, WatchRecord] = {}
        self._lock = asyncio.Lock()
        self._retiring: dict[asyncio.Task[None], Provider] = {}
        self._file = ConfigFileWatcher(config.path)
        self.reloads = 0  # applied
        self.refusals = 0  # refused: the file did not validate

    async def start(self) -> None:
        """Apply the config the daemon started with."""
        async with self._lock:
            await self._apply(self.config, "start")

    async def run(
        self, stopping: asyncio.Event, reload: Callable[[str], Awaitable[bool]] | None = None
    ) -> None:
        """Look at the config file every second (a change calls `reload`, by
        default `self.reload`) and at the watches table every two."""
        reload = reload or self.reload
        ticks = 0
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), FILE_CHECK_SECONDS)
            if stopping.is_set():
                return
            ticks += 1
            try:
                if await asyncio.to_thread(self._file.changed):
                    await reload("config file changed")
                if ticks * FILE_CHECK_SECONDS >= RUNTIME_CHECK_SECONDS:
                    ticks = 0
                    await self.pick_up_runtime_watches()
            except Exception as error:  # the database may be away; try again at the next tick
                if reason := unavailable(error):
                    log.warning("run-time watches: database unavailable (%s); retrying", reason)
                else:
                    log.exception("checking for config changes failed")

    async def reload(self, trigger: str = "SIGHUP") -> bool:
        """Load the config file again and apply it; False (logged) when refused."""
        try:
            config = await asyncio.to_thread(load_config, self.config.path)
        except ConfigError as error:
            self.refusals += 1
            for issue in error.issues:
                log.error("config reload (%s) refused: %s", trigger, issue)
            log.error("still running with the previous config")
            self._on_change()
            return False
        if config.database != self.config.database:
            log.warning("config reload (%s): a new database takes a restart", trigger)
        async with self._lock:
            await self._apply(config, trigger)
        return True

    async def pick_up_runtime_watches(self) -> bool:
        """Start and stop run-time watches added or removed since the last look."""
        records = await asyncio.to_thread(self._store.active_watches, "runtime")
        runtime = {r.name: r for r in records}
        if _fingerprint(runtime) == _fingerprint(self._runtime):
            return False
        async with self._lock:
            await self._apply(self.config, "run-time watches changed")
        return True

    async def add_watch(self, spec: WatchSpec) -> None:
        """Store a run-time watch and start polling it now; raises WatchRefused."""
        await asyncio.to_thread(add_runtime_watch, self._store, spec, self._clock.now())
        await self.pick_up_runtime_watches()

    async def remove_watch(self, name: str) -> None:
        """Stop a run-time watch now; raises WatchRefused."""
        await asyncio.to_thread(remove_runtime_watch, self._store, name, self._clock.now())
        await self.pick_up_runtime_watches()

    def halt(self) -> None:
        """At shutdown, first: calls waiting for their turn give up (nothing sent)."""
        for limiter in self.wiring.limiters.values():
            limiter.close()

    async def close(self) -> None:
        """At shutdown, last (polls in flight have had their grace): close every client."""
        retiring = dict(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        for provider in [*retiring.values(), *self.wiring.providers.values()]:
            await provider.client.aclose()

    async def _apply(self, config: Config, trigger: str) -> None:
        old = self.wiring
        providers, limiters, retired = self._providers(config, old)
        records = await asyncio.to_thread(self._store.active_watches)
        runtime = {r.name: r for r in records if r.source == "runtime"}
        now = self._clock.now()
        keep = await self._others_watch() if self._others_watch is not None else frozenset()
        await asyncio.to_thread(self._sync_database, config, runtime, now, keep)
        watches = self._watches(config, runtime)
        self.wiring = Wiring(
            providers=providers,
            watches=watches,
            notifiers=config.notifiers,
            limiters=limiters,
            zone=zone_named(config.timezone),
        )
        self.config, self._runtime = config, runtime
        for provider in retired:
            self._retire(provider, old.limiters.get(provider.name))
        changed = {name for name, w in watches.items() if _changed(old.watches.get(name), w)}
        await self._schedule(changed, everything=trigger == "start")
        if self._on_applied is not None:
            await self._on_applied(config)
        if trigger != "start":
            self.reloads += 1
            _log_changes(trigger, old, self.wiring, retired)
        self._on_change()

    def _sync_database(
        self,
        config: Config,
        runtime: Mapping[str, WatchRecord],
        now: datetime,
        keep: frozenset[str],
    ) -> None:
        named = [(w.name, w.job) for w in config.watches if w.job and w.name not in runtime]
        self._conditions.retire_replaced_jobs(named, now)
        specs = [
            WatchSpec(name=w.name, provider=w.provider, job=w.job, discover=w.discover)
            for w in config.watches
        ]
        self._store.sync_config_watches(specs, now, keep=keep)
        self._conditions.clear_unwatched(now)

    def _providers(
        self, config: Config, old: Wiring
    ) -> tuple[dict[str, Provider], dict[str, ProviderLimiter], list[Provider]]:
        """Providers for `config`: unchanged blocks keep their client and limiter."""
        providers: dict[str, Provider] = {}
        limiters: dict[str, ProviderLimiter] = {}
        for name, settings in config.providers.items():
            current = old.providers.get(name)
            if current is not None and current.settings == settings:
                providers[name], limiters[name] = current, old.limiters[name]
                continue
            providers[name] = build_provider(name, settings)
            limiters[name] = ProviderLimiter(
                name,
                max_rps=settings.max_rps,
                max_concurrency=settings.max_concurrency,
                clock=self._clock,
            )
            if name in old.limiters:
                limiters[name].carry_pause_from(old.limiters[name])
            limiters[name].on_pause = functools.partial(self._on_pause, name)
        retired = [p for name, p in old.providers.items() if providers.get(name) is not p]
        return providers, limiters, retired

    def _watches(
        self, config: Config, runtime: Mapping[str, WatchRecord]
    ) -> dict[str, WatchSettings]:
        watches = {w.name: w for w in config.watches if w.name not in runtime}
        for name, record in runtime.items():
            settings = runtime_settings(config, record)
            if settings is not None:
                watches[name] = settings
        return watches

    async def _schedule(self, changed: set[str], *, everything: bool) -> None:
        """The database is the schedule: jobs of watches whose settings changed
        are polled at once, under the new ones; at start, jobs whose next poll
        is far off have their conditions judged at once (a deadline may have
        changed while the daemon was down)."""
        records = await asyncio.to_thread(self._store.active_watches)
        self.index = _index(records, self.wiring.watches)
        ids = {r.name: r.id for r in records}
        now = self._clock.now()
        if changed:
            await asyncio.to_thread(
                claims.make_due, self._store.writer, [ids[n] for n in changed if n in ids], now
            )
        if everything:
            count = await asyncio.to_thread(claims.check_soon, self._store.writer, now)
            log.info("%d jobs to poll", count)
        self._on_due()

    def _retire(self, provider: Provider, limiter: ProviderLimiter | None) -> None:
        """Stop `provider` taking calls; close its client once its calls in flight end."""
        if limiter is not None:
            limiter.close()
        task = asyncio.create_task(self._close_when_idle(provider, limiter))
        self._retiring[task] = provider
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    async def _close_when_idle(self, provider: Provider, limiter: ProviderLimiter | None) -> None:
        if limiter is not None:
            grace = provider.settings.timeout + _CLOSE_GRACE
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(limiter.wait_idle(), grace)
        await provider.client.aclose()


def _changed(before: WatchSettings | None, after: WatchSettings) -> bool:
    return before is not None and before != after


def _index(records: list[WatchRecord], running: Mapping[str, WatchSettings]) -> WatchIndex:
    """Names of the active watches by id, and per provider the ids of those
    this instance does not run (another instance's config watches them)."""
    foreign: dict[str, set[int]] = {}
    for record in records:
        if record.name not in running:
            foreign.setdefault(record.provider, set()).add(record.id)
    return WatchIndex(
        names={r.id: r.name for r in records},
        foreign={provider: frozenset(ids) for provider, ids in foreign.items()},
    )


def _fingerprint(runtime: Mapping[str, WatchRecord]) -> dict[str, tuple[object, ...]]:
    return {
        name: (r.id, r.provider, r.job, repr(r.discover), repr(r.settings))
        for name, r in runtime.items()
    }


def _log_changes(trigger: str, old: Wiring, new: Wiring, retired: list[Provider]) -> None:
    added = sorted(set(new.watches) - set(old.watches))
    removed = sorted(set(old.watches) - set(new.watches))
    kept = set(old.watches) & set(new.watches)
    changed = sorted(name for name in kept if old.watches[name] != new.watches[name])
    replaced = sorted(p.name for p in retired)
    log.info(
        "config applied (%s): watches added %s, removed %s, changed %s; providers renewed %s",
        trigger,
        added or "none",
        removed or "none",
        changed or "none",
        replaced or "none",
    )
