"""`loadwatch silence`, `silences` and `unsilence`: hold back the events of a
watch, a provider or everything for a while (notify/silencing.py says what a
silence does to each event). A running daemon obeys a new silence at once:
it is read when each notification is about to go."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from monitor.clock import Clock
from monitor.commands.config_file import load_config_or_report
from monitor.config.types import parse_duration


def add_silence_commands(command: Any) -> None:
    silence = command("silence", run_silence, "hold back events of a watch, a provider or all")
    silence.add_argument("watch", nargs="?", help="the watch to silence")
    silence.add_argument("--provider", metavar="NAME", help="silence every watch of a provider")
    silence.add_argument("--all", action="store_true", help="silence every watch")
    silence.add_argument("--for", dest="duration", required=True, metavar="DURATION",
                         help="how long (30m, 2h, 1d)")  # fmt: skip
    silence.add_argument("--reason", help="why (shown by `silences` and in history)")
    listing = command("silences", run_silences, "the silences holding now")
    listing.add_argument(
        "--json", action="store_true", help="print JSON for scripts instead of a table"
    )
    unsilence = command("unsilence", run_unsilence, "end a silence now")
    unsilence.add_argument("id", type=int, help="the silence's number (see `loadwatch silences`)")


def run_silence(args: argparse.Namespace) -> int:
    from monitor.store.silences import add_silence

    chosen = [bool(args.watch), bool(args.provider), args.all]
    if sum(chosen) != 1:
        return _fail("give exactly one of WATCH, --provider NAME or --all")
    try:
        seconds = parse_duration(args.duration)
    except ValueError as error:
        return _fail(f"--for: {error}")
    if seconds <= 0:
        return _fail("--for must be more than 0")
    store, config = _open(args, upgrade=True)
    if store is None:
        return 1
    try:
        if args.provider and args.provider not in config.providers:
            return _fail(f"no provider named '{args.provider}' in {config.path}")
        known = {watch.name for watch in config.watches}
        if args.watch and args.watch not in known and not store.watch_exists(args.watch):
            return _fail(f"no watch named '{args.watch}'")
        now = Clock().now()
        ends_at = now + timedelta(seconds=seconds)
        number = add_silence(
            store.engine,
            watch=args.watch,
            provider=args.provider,
            reason=args.reason,
            now=now,
            ends_at=ends_at,
        )
    finally:
        store.close()
    scope = "all watches"
    if args.watch or args.provider:
        scope = f"watch {args.watch}" if args.watch else f"provider {args.provider}"
    print(f"silence {number}: {scope} until {_local(ends_at)}" + _reason(args.reason))
    return 0


def run_silences(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from monitor.store.database import unavailable
    from monitor.store.silences import active_silences

    store, _ = _open(args, upgrade=False)
    if store is None:
        return 1
    try:
        found = active_silences(store.engine, Clock().now())
    except DBAPIError as error:  # read-only: an old or absent database is not upgraded
        return _fail(f"cannot read silences: {unavailable(error)}")
    finally:
        store.close()
    if args.json:
        print(json.dumps([_document(s) for s in found], indent=2))
    elif not found:
        print("no silences")
    for silence in [] if args.json else found:
        line = f"{silence.id}  {silence.scope}  until {_local(silence.ends_at)}"
        print(line + _reason(silence.reason))
    return 0


def run_unsilence(args: argparse.Namespace) -> int:
    from monitor.store.silences import end_silence

    store, _ = _open(args, upgrade=True)
    if store is None:
        return 1
    try:
        ended = end_silence(store.engine, args.id, Clock().now())
    finally:
        store.close()
    if not ended:
        return _fail(f"no silence {args.id} is holding (see `loadwatch silences`)")
    print(f"silence {args.id} ended; events it held back go now")
    return 0


def _open(args: argparse.Namespace, *, upgrade: bool) -> tuple[Any, Any]:
    from monitor.store.store import Store

    config = load_config_or_report(args)
    if config is None:
        return None, None
    store = Store(config.database)
    if upgrade:
        store.upgrade()
    return store, config


def _document(silence: Any) -> dict[str, Any]:
    return {
        "id": silence.id,
        "watch": silence.watch,
        "provider": silence.provider,
        "reason": silence.reason,
        "since": silence.created_at.isoformat(timespec="seconds"),
        "until": silence.ends_at.isoformat(timespec="seconds"),
    }


def _local(moment: Any) -> str:
    return str(moment.astimezone().strftime("%Y-%m-%d %H:%M %Z"))


def _reason(reason: str | None) -> str:
    return f" ({reason})" if reason else ""


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1
