"""The `loadwatch` command: parse arguments, call the app, print."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.commands.config_file import DEFAULT_CONFIG, load_config_or_report
from monitor.problems import StartupProblem

ONE_SHOT_CONNECT_SECONDS = 10


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from monitor.service.logging import setup_logging

    setup_logging(args.log_level, args.log_format)
    handler = getattr(args, "handler", None)
    if handler is None:
        _parser().print_help()
        return 2
    if handler is not _run:
        # A one-shot command fails fast on a database host that does not
        # answer (psycopg waits 130 s by default); `run` waits on purpose.
        os.environ.setdefault("PGCONNECT_TIMEOUT", str(ONE_SHOT_CONNECT_SECONDS))
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except StartupProblem as problem:
        print(f"loadwatch: {problem}", file=sys.stderr)
        return 1


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
        "--log-level",
        default=default("info"),
        choices=["debug", "info", "warning", "error"],
        help="show log lines of this level and above, on stderr (default info)",
    )
    common.add_argument(
        "--log-format",
        default=default("text"),
        choices=["text", "json"],
        help="log lines as text, or one JSON object per line for shippers (default text)",
    )
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
    status = command("status", _status, "the jobs of current watches and their state")
    status.add_argument("--json", action="store_true", help=JSON_HELP)
    status.add_argument(
        "--all", action="store_true", help="also the jobs of retired (removed) watches"
    )
    history = command("history", _history, "transitions and notifications, oldest first")
    history.add_argument("name", nargs="?", help="only this watch")
    history.add_argument("--json", action="store_true", help=JSON_HELP)
    from monitor.commands.history_options import add_history_filters

    add_history_filters(history)
    watch = command(
        "watch",
        _watch,
        "add a run-time watch (a running daemon polls it within 5 s, as its provider allows)",
    )
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
    upgrade = db_commands.add_parser(
        "upgrade", parents=[common], help="create or migrate the database to this version"
    )
    upgrade.set_defaults(handler=_db_upgrade)
    db_status = db_commands.add_parser(
        "status", parents=[common], help="where the schema stands; changes nothing"
    )
    db_status.set_defaults(handler=_db_status)
    demo = command("demo", _demo, "watch simulated jobs end to end, with no setup (takes no -c)")
    demo.add_argument(
        "--seconds", type=float, default=60.0, help="give up after this long (default 60)"
    )
    simulate = command(
        "simulate", _simulate, "serve simulated provider APIs on loopback, to try a config"
    )
    simulate.add_argument(
        "types",
        nargs="*",
        metavar="TYPE",
        help=f"provider types to simulate (default all: {', '.join(SIMULATED_TYPES)})",
    )
    simulate.add_argument(
        "--port",
        type=int,
        default=9401,
        help="the first simulator's port; the others follow (default 9401; 0 picks free ones)",
    )
    simulate.add_argument(
        "--stage",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="how long each stage of a simulated job lasts, from its first poll (default 20)",
    )
    simulate.add_argument(
        "--write", metavar="FILE", type=Path, help="also write the config to FILE"
    )
    explain = command("explain", _explain, "show how a saved provider response maps to a status")
    explain.add_argument("provider", help="the name of a provider block in the config")
    explain.add_argument("file", help="the saved JSON response ('-' reads standard input)")
    explain.add_argument("--job", default="explain", help="the job id to map it for")
    explain.add_argument("--json", action="store_true", help=JSON_HELP)
    from monitor.commands import register

    register(command)
    return parser


JSON_HELP = "print JSON for scripts instead of a table"
SIMULATED_TYPES = ("kpa_flex", "comestri", "fullstory", "rocketchat", "incorta")


def _run(args: argparse.Namespace) -> int:
    config = load_config_or_report(args)
    if config is None:
        return 1
    if not config.providers:
        print(
            f"{config.path}: no providers yet: nothing is watched until a reload adds some",
            file=sys.stderr,
        )
    from monitor.app import Daemon

    async def serve() -> None:
        daemon = Daemon(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.stop)
        loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
        await daemon.run()

    asyncio.run(serve())  # a second daemon on a SQLite file: StartupProblem, one line
    return 0


def _check(args: argparse.Namespace) -> int:
    config = load_config_or_report(args)
    if config is None:
        return 1
    if not config.providers:
        print(f"{config.path}: no providers: nothing can be watched", file=sys.stderr)
        return 1
    print(
        f"{config.path}: OK ({len(config.watches)} watches, {len(config.providers)} "
        f"providers, {len(config.notifiers)} notifiers)"
    )
    if args.online:
        from monitor.service.logging import hide_library_logs
        from monitor.service.online import check_online

        hide_library_logs("apprise")  # each URL's line says what went wrong
        return asyncio.run(check_online(config))
    return 0


def _status(args: argparse.Namespace) -> int:
    from monitor import store_commands

    config = load_config_or_report(args, secrets=False)
    return (
        1
        if config is None
        else store_commands.status(config, everything=args.all, as_json=args.json)
    )


def _history(args: argparse.Namespace) -> int:
    from monitor import store_commands
    from monitor.commands.history_options import history_filter

    config = load_config_or_report(args, secrets=False)
    if config is None:
        return 1
    return store_commands.history(config, args.name, as_json=args.json, wanted=history_filter(args))


def _watch(args: argparse.Namespace) -> int:
    from monitor import store_commands

    config = load_config_or_report(args, secrets=False)
    if config is None:
        return 1
    notify = [name for value in args.notify or [] for name in value.split(",") if name]
    return store_commands.watch(config, args.provider, args.job, args.name, notify)


def _unwatch(args: argparse.Namespace) -> int:
    from monitor import store_commands

    config = load_config_or_report(args, secrets=False)
    return 1 if config is None else store_commands.unwatch(config, args.name)


def _notify_test(args: argparse.Namespace) -> int:
    config = load_config_or_report(args)
    if config is None:
        return 1
    from monitor.notify.test import notify_test
    from monitor.service.logging import hide_library_logs

    hide_library_logs("apprise")  # each URL's result line says what went wrong

    return notify_test(config, args.notifier)


def _db_upgrade(args: argparse.Namespace) -> int:
    from monitor import store_commands

    config = load_config_or_report(args, secrets=False)
    return 1 if config is None else store_commands.db_upgrade(config)


def _db_status(args: argparse.Namespace) -> int:
    from monitor import store_commands

    config = load_config_or_report(args, secrets=False)
    return 1 if config is None else store_commands.db_status(config)


def _demo(args: argparse.Namespace) -> int:
    if getattr(args, "config", None):
        print(
            "loadwatch demo makes its own config and simulated providers and takes no -c;"
            " to try your config against simulators, run `loadwatch simulate`",
            file=sys.stderr,
        )
        return 2
    from monitor.demo import run_demo

    return run_demo(timeout=args.seconds)


def _simulate(args: argparse.Namespace) -> int:
    from monitor.simulate import run_simulators

    return run_simulators(args.types, first_port=args.port, stage=args.stage, write=args.write)


def _explain(args: argparse.Namespace) -> int:
    from monitor.explain import CANNOT_RUN, run_explain

    config = load_config_or_report(args, secrets=False)
    if config is None:
        return CANNOT_RUN
    return run_explain(config, args.provider, args.file, job=args.job, as_json=args.json)
