"""The `loadwatch` command: parse arguments, call the app, print."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor import __version__

DEFAULT_CONFIG = "/etc/loadwatch/config.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from monitor.service.logging import setup_logging

    setup_logging(args.log_level, args.log_format)
    handler = getattr(args, "handler", None)
    if handler is None:
        _parser().print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130


def _options(defaults: bool) -> argparse.ArgumentParser:
    """The options every command takes. They may stand before or after the
    command; after it, they only count when given (SUPPRESS), so a subcommand
    never overwrites `loadwatch -c FILE status` with its own default."""
    common = argparse.ArgumentParser(add_help=False)

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    common.add_argument(
        "-c",
        "--config",
        default=default(None),
        help=f"config file (default $LOADWATCH_CONFIG, else {DEFAULT_CONFIG})",
    )
    common.add_argument(
        "--log-level", default=default("info"), choices=["debug", "info", "warning", "error"]
    )
    common.add_argument("--log-format", default=default("text"), choices=["text", "json"])
    return common


def _parser() -> argparse.ArgumentParser:
    common = _options(defaults=False)

    parser = argparse.ArgumentParser(
        prog="loadwatch",
        parents=[_options(defaults=True)],
        description="Watch import and data-load jobs on SaaS APIs; notify when they end.",
    )
    parser.add_argument("--version", action="version", version=f"loadwatch {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    command("run", _run, "run the daemon in the foreground")
    check = command("check", _check, "validate the config")
    check.add_argument(
        "--online",
        action="store_true",
        help="also try each provider's credentials and each notifier",
    )
    status = command("status", _status, "every tracked job and its state")
    status.add_argument("--json", action="store_true")
    history = command("history", _history, "transitions and notifications, newest last")
    history.add_argument("name", nargs="?", help="only this watch")
    history.add_argument("--json", action="store_true")
    from monitor.commands.history_options import add_history_filters

    add_history_filters(history)
    watch = command("watch", _watch, "add a run-time watch (a running daemon polls it within 5 s)")
    watch.add_argument("provider", help="a provider block of the config")
    watch.add_argument("job", help="the job id at that provider")
    watch.add_argument("--name", help="the watch's name (default PROVIDER-JOB)")
    watch.add_argument(
        "--notify", action="append", metavar="NOTIFIER", help="notify this notifier (repeatable)"
    )
    unwatch = command("unwatch", _unwatch, "stop a run-time watch (its history stays)")
    unwatch.add_argument("name", help="the watch's name")
    notify_test = command("notify-test", _notify_test, "send a test message to notifiers")
    notify_test.add_argument("notifier", nargs="?", help="only this notifier")
    db = command("db", None, "database maintenance")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", parents=[common], help="apply migrations")
    upgrade.set_defaults(handler=_db_upgrade)
    demo = command("demo", _demo, "watch simulated jobs end to end, with no setup")
    demo.add_argument(
        "--seconds", type=float, default=60.0, help="give up after this long (default 60)"
    )
    explain = command("explain", _explain, "show how a saved provider response maps to a status")
    explain.add_argument("provider", help="the name of a provider block in the config")
    explain.add_argument("file", help="the saved JSON response ('-' reads standard input)")
    explain.add_argument("--job", default="explain", help="the job id to map it for")
    explain.add_argument("--json", action="store_true")
    from monitor.commands import register

    register(command)
    return parser


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("LOADWATCH_CONFIG") or DEFAULT_CONFIG)


def _load(args: argparse.Namespace) -> Any:
    """The config, or None after printing why it cannot be used."""
    from monitor.config import ConfigError, load_config

    path = config_path(args)
    try:
        return load_config(path)
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    from monitor.app import Daemon

    async def serve() -> None:
        daemon = Daemon(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.stop)
        loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
        await daemon.run()

    asyncio.run(serve())
    return 0


def _check(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    print(
        f"{config.path}: OK ({len(config.watches)} watches, {len(config.providers)} "
        f"providers, {len(config.notifiers)} notifiers)"
    )
    if args.online:
        from monitor.service.online import check_online

        return asyncio.run(check_online(config))
    return 0


def _open_store(args: argparse.Namespace) -> Any:
    config = _load(args)
    if config is None:
        return None
    from monitor.store.store import Store

    store = Store(config.database)
    store.upgrade()
    return store


def _status(args: argparse.Namespace) -> int:
    store = _open_store(args)
    if store is None:
        return 1
    from monitor import report

    rows = report.status_rows(store)
    print(json.dumps(rows, indent=2) if args.json else report.status_table(rows))
    if not args.json:
        print(report.missing_runs_text(store), end="")
    return 0


def _history(args: argparse.Namespace) -> int:
    store = _open_store(args)
    if store is None:
        return 1
    from monitor import report

    if args.name and not store.watch_exists(args.name):
        print(f"no watch named '{args.name}'", file=sys.stderr)
        return 1
    from monitor.commands.history_options import history_filter

    rows = report.history_rows(store, args.name, history_filter(args))
    print(json.dumps(rows, indent=2) if args.json else report.history_table(rows))
    return 0


def _watch(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    from monitor.clock import Clock
    from monitor.engine.runtime_watches import WatchRefused, add_runtime_watch, runtime_spec
    from monitor.store.store import Store

    notify = [name for value in args.notify or [] for name in value.split(",") if name]
    store = Store(config.database)
    try:
        spec = runtime_spec(config, args.provider, args.job, name=args.name, notify=notify)
        store.upgrade()
        add_runtime_watch(store, spec, Clock().now())
    except WatchRefused as refused:
        print(f"cannot watch: {refused}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"watching {spec.provider} job {spec.job} as '{spec.name}'")
    return 0


def _unwatch(args: argparse.Namespace) -> int:
    store = _open_store(args)
    if store is None:
        return 1
    from monitor.clock import Clock
    from monitor.engine.runtime_watches import WatchRefused, remove_runtime_watch

    try:
        remove_runtime_watch(store, args.name, Clock().now())
    except WatchRefused as refused:
        print(f"cannot unwatch: {refused}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"stopped watching '{args.name}'")
    return 0


def _notify_test(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    from monitor.notify.test import notify_test

    return notify_test(config, args.notifier)


def _db_upgrade(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 1
    from monitor.store.store import Store

    store = Store(config.database)
    before, after = store.upgrade()
    store.close()
    print(f"database at {after}" + ("" if before == after else f" (was {before or 'empty'})"))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo(timeout=args.seconds)


def _explain(args: argparse.Namespace) -> int:
    from monitor.explain import CANNOT_RUN, run_explain

    config = _load(args)
    if config is None:
        return CANNOT_RUN
    return run_explain(config, args.provider, args.file, job=args.job, as_json=args.json)
