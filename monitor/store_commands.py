"""The commands that read or write the database: status, history, watch,
unwatch, db upgrade and db status. Each takes a loaded config, prints, and
returns the exit status; a database that cannot be used raises DatabaseProblem
(one line, no traceback). Only `watch` and `db upgrade` migrate."""

from __future__ import annotations

import json
import sys

from monitor import report
from monitor.clock import Clock
from monitor.config import Config
from monitor.config.suggest import did_you_mean
from monitor.engine.runtime_watches import (
    WatchRefused,
    add_runtime_watch,
    remove_runtime_watch,
    runtime_spec,
)
from monitor.store.access import label, open_and_upgrade, open_for_reading, probe
from monitor.store.history import HistoryFilter


def status(config: Config, *, everything: bool, as_json: bool) -> int:
    """The jobs of current watches; with `everything`, those of retired ones too."""
    store = open_for_reading(config.database)
    try:
        current = report.current_watches(store, {watch.name for watch in config.watches})
        rows = report.status_rows(store, current)
        missing = "" if as_json else report.missing_runs_text(store)
    finally:
        store.close()
    shown = rows if everything else [row for row in rows if not row["retired"]]
    hidden = len(rows) - len(shown)
    print(json.dumps(shown, indent=2) if as_json else report.status_table(shown, hidden))
    print(missing, end="")
    return 0


def history(
    config: Config, name: str | None, *, as_json: bool, wanted: HistoryFilter | None = None
) -> int:
    store = open_for_reading(config.database)
    try:
        if name and not store.watch_exists(name):
            if name in {watch.name for watch in config.watches}:
                print(f"no history of '{name}' yet: the daemon has not started it")
                return 0
            known = {job.watch for job in store.all_jobs()} | {w.name for w in config.watches}
            print(f"no watch named '{name}'{did_you_mean(name, known)}", file=sys.stderr)
            return 1
        rows = report.history_rows(store, name, wanted)
    finally:
        store.close()
    print(json.dumps(rows, indent=2) if as_json else report.history_table(rows))
    return 0


def watch(config: Config, provider: str, job: str, name: str | None, notify: list[str]) -> int:
    try:
        spec = runtime_spec(config, provider, job, name=name, notify=notify)
    except WatchRefused as refused:
        print(f"cannot watch: {refused}", file=sys.stderr)
        return 1
    store, _, _ = open_and_upgrade(config.database)
    try:
        add_runtime_watch(store, spec, Clock().now())
    except WatchRefused as refused:
        print(f"cannot watch: {refused}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"watching {spec.provider} job {spec.job} as '{spec.name}'")
    return 0


def unwatch(config: Config, name: str) -> int:
    store = open_for_reading(config.database)  # no migration: it only marks a row
    try:
        remove_runtime_watch(store, name, Clock().now())
    except WatchRefused as refused:
        print(f"cannot unwatch: {refused}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"stopped watching '{name}'")
    return 0


def db_upgrade(config: Config) -> int:
    store, before, after = open_and_upgrade(config.database)
    store.close()
    was = "" if before == after else f" (was {before or 'empty'})"
    print(f"database {label(config.database)} at {after}{was}")
    return 0


def db_status(config: Config) -> int:
    """Exit 0 when the schema is current, 1 when `db upgrade` has work to do."""
    line, current = probe(config.database)
    print(line)
    return 0 if current else 1
