"""`loadwatch retry [NOTIFIER] [--watch W]`: re-queue dead deliveries, once
each, with their idempotency keys. The running daemon sends them within a
few seconds (or the next `run` does).

A re-queued delivery is tried once: its `notify_retry_for` already ran out,
so if the receiver still fails it is dead again at once, with the new error,
rather than retrying quietly for another day. Rows for a URL that is no
longer in the config are left dead: there is nowhere to send them.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from monitor.clock import Clock
from monitor.commands.config_file import load_config_or_report
from monitor.notify.delivery import url_key


def add_retry_command(command: Any) -> None:
    retry = command("retry", run_retry, "re-queue dead deliveries, once each, same keys")
    retry.add_argument("notifier", nargs="?", help="only this notifier's deliveries")
    retry.add_argument("--watch", metavar="NAME", help="only this watch's deliveries")


def run_retry(args: argparse.Namespace) -> int:
    from monitor.store.requeue import dead_deliveries, requeue
    from monitor.store.store import Store

    config = load_config_or_report(args)
    if config is None:
        return 1
    if args.notifier is not None and args.notifier not in config.notifiers:
        known = ", ".join(sorted(config.notifiers)) or "none"
        print(f"no notifier named '{args.notifier}' (known: {known})", file=sys.stderr)
        return 1
    reachable = {
        (name, url_key(url)) for name, notifier in config.notifiers.items() for url in notifier.urls
    }
    store = Store(config.database)
    try:
        store.upgrade()
        dead = dead_deliveries(store.engine, args.notifier, args.watch)
        chosen = [row for row in dead if (row.notifier, row.url_key) in reachable]
        count = requeue(store.engine, [row.id for row in chosen], Clock().now())
    finally:
        store.close()
    left = len(dead) - len(chosen)
    if not dead:
        print("no dead deliveries" + _scope(args))
        return 0
    by_url = Counter(f"{row.notifier} {row.url_display}" for row in chosen)
    for target, number in sorted(by_url.items()):
        print(f"re-queued {number} to {target}")
    print(
        f"re-queued {count} dead deliveries{_scope(args)}; a running daemon sends them within 5 s"
    )
    if left:
        print(f"left {left} dead: their URL is no longer in the config", file=sys.stderr)
    return 0


def _scope(args: argparse.Namespace) -> str:
    parts = [f"notifier {args.notifier}"] * bool(args.notifier)
    parts += [f"watch {args.watch}"] * bool(args.watch)
    return f" ({', '.join(parts)})" if parts else ""
