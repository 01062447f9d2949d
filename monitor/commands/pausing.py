"""`loadwatch pause NAME` and `loadwatch resume NAME`: stop and restart polling
a watch without editing the config. A running daemon follows within 2 s;
`status` shows the watch's jobs as paused."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.clock import Clock
from monitor.commands.config_file import load_config_or_report


def add_pause_commands(command: Any) -> None:
    pause = command("pause", run_pause, "stop polling a watch until `resume`")
    pause.add_argument("name", help="the watch's name")
    resume = command("resume", run_resume, "poll a paused watch again, at once")
    resume.add_argument("name", help="the watch's name")


def run_pause(args: argparse.Namespace) -> int:
    from monitor.store.pausing import pause_watch

    return _change(args, pause_watch, "paused {name}", "{name} was paused already")


def run_resume(args: argparse.Namespace) -> int:
    from monitor.store.pausing import resume_watch

    return _change(args, resume_watch, "resumed {name}: polled again now", "{name} is not paused")


def _change(args: argparse.Namespace, change: Any, done: str, already: str) -> int:
    from monitor.store.access import open_and_upgrade
    from monitor.store.pausing import NoSuchWatch

    config = load_config_or_report(args, secrets=False)  # pausing needs no provider secret
    if config is None:
        return 1
    store, _, _ = open_and_upgrade(config.database)
    try:
        changed = change(store.engine, args.name, Clock().now())
    except NoSuchWatch:
        print(
            f"no watch named '{args.name}' in the database (a config watch is there once"
            " the daemon has started with it)",
            file=sys.stderr,
        )
        return 1
    finally:
        store.close()
    print((done if changed else already).format(name=args.name))
    return 0
