"""`loadwatch wait PROVIDER JOB` and `loadwatch wait --watch NAME`: block a
pipeline until a job ends, and say how it ended in the exit status.

Exit status: 0 succeeded, 1 failed, 2 partial, 3 canceled, 4 gave up (the
timeout passed, or the vendor kept saying the job or our credentials do not
exist); 64 usage errors (no such provider or watch, bad arguments), 69 the
database could not be read (`--watch`), 78 a config that does not load;
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta
from typing import Any, NoReturn

from monitor.clock import Clock
from monitor.commands.config_file import load_config_or_report
from monitor.commands.wait_view import WaitView, make_view
from monitor.config.types import parse_duration
from monitor.domain import State
from monitor.engine.waiting import WaitResult
from monitor.store.records import JobRecord

EXIT_CODES = {State.SUCCEEDED: 0, State.FAILED: 1, State.PARTIAL: 2, State.CANCELED: 3}
GAVE_UP = 4
USAGE = 64  # EX_USAGE
UNAVAILABLE = 69  # EX_UNAVAILABLE
CONFIG = 78  # EX_CONFIG
WATCH_CHECK_EVERY = 1.0  # seconds between reads of the database with --watch


class UsageError(Exception):
    """The command was given something it cannot use; exit 64."""


def add_wait_command(command: Any) -> None:
    """Register `wait` through cli.py's `command(name, handler, help)`."""
    wait = command("wait", run_wait, "poll one job until it ends; the exit status says how")
    wait.__class__ = _WaitParser  # argparse exits 2 on bad usage; 2 means `partial` here
    wait.add_argument("provider", nargs="?", help="a provider block of the config")
    wait.add_argument("job", nargs="?", help="the job id at that provider")
    wait.add_argument("--watch", metavar="NAME", help="wait on a job the daemon tracks")
    wait.add_argument("--timeout", metavar="DURATION", help="give up after this long (exit 4)")
    wait.add_argument("--json", action="store_true", help="print the final status as JSON")


class _WaitParser(argparse.ArgumentParser):
    """The `wait` subcommand's parser: bad usage exits 64, never 2."""

    def error(self, message: str) -> NoReturn:
        _usage_error(message)

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # Left over, these would reach the top-level parser, which exits 2.
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _usage_error(message: str) -> NoReturn:
    print(f"loadwatch wait: {message}", file=sys.stderr)
    raise SystemExit(USAGE)


def run_wait(args: argparse.Namespace) -> int:
    """The `wait` command: returns its exit status."""
    try:
        timeout = _timeout(args.timeout)
        by_watch = _check_target(args)
    except UsageError as error:
        return _usage_error(str(error))
    config = load_config_or_report(args)
    if config is None:
        return CONFIG
    view = make_view(args.json)
    try:
        if by_watch:
            result = _wait_on_watch(config, args.watch, timeout, view)
        else:
            result = asyncio.run(_wait_on_job(config, args.provider, args.job, timeout, view))
    except UsageError as error:
        view.close()
        return _usage_error(str(error))
    except _DatabaseUnavailable as error:
        view.close()
        print(f"loadwatch wait: cannot read the database: {error}", file=sys.stderr)
        return UNAVAILABLE
    code = GAVE_UP if not result.finished else EXIT_CODES[result.job.state]
    view.finish(result, code)
    return code


def _timeout(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise UsageError(f"--timeout: '{text}' is not a duration (use 30s, 10m, 2h)") from None
    if seconds <= 0:
        raise UsageError("--timeout must be more than 0")
    return seconds


def _check_target(args: argparse.Namespace) -> bool:
    """True for `--watch NAME`, False for PROVIDER JOB; UsageError for anything else."""
    if args.watch is not None:
        if args.provider is not None:
            raise UsageError("give PROVIDER JOB or --watch NAME, not both")
        return True
    if args.provider is None or args.job is None:
        raise UsageError("give PROVIDER JOB (or --watch NAME)")
    return False


async def _wait_on_job(
    config: Any, provider_name: str, job_id: str, timeout: float | None, view: WaitView
) -> WaitResult:
    from monitor.engine.limits import ProviderLimiter
    from monitor.engine.waiting import JobWaiter
    from monitor.providers.http import make_client
    from monitor.providers.registry import provider_class

    settings = config.providers.get(provider_name)
    if settings is None:
        known = ", ".join(sorted(config.providers)) or "none"
        raise UsageError(f"no provider named '{provider_name}' (known: {known})")
    clock = Clock()
    limiter = ProviderLimiter(
        provider_name,
        max_rps=settings.max_rps,
        max_concurrency=settings.max_concurrency,
        clock=clock,
    )
    async with make_client(settings) as client:
        provider = provider_class(settings.type)(provider_name, settings, client)
        view.start(provider_name, job_id)
        waiter = JobWaiter(
            provider,
            limiter,
            config.defaults.poll,
            unreachable_after=config.defaults.unreachable_after,
            clock=clock,
            on_poll=view.update,
        )
        try:
            return await waiter.wait(job_id, timeout)
        finally:
            limiter.close()


class _DatabaseUnavailable(Exception):
    pass


def _wait_on_watch(config: Any, name: str, timeout: float | None, view: WaitView) -> WaitResult:
    """Follow the daemon's record of watch `name` (its newest job) until it ends."""
    import time

    from sqlalchemy.exc import DBAPIError

    from monitor.store.store import Store

    clock = Clock()
    deadline = None if timeout is None else clock.now() + timedelta(seconds=timeout)
    store = Store(config.database)
    try:
        if not store.watch_exists(name):
            raise UsageError(f"no watch named '{name}' in the database")
        started = False
        seen: JobRecord | None = None
        while True:
            job = _newest_job(store, name)
            if job is not None:
                if not started:
                    view.start(job.provider, job.job_id)
                    started = True
                if job != seen:
                    view.update(job)
                    seen = job
                if job.state.terminal:
                    return WaitResult(job)
            if deadline is not None and clock.now() >= deadline:
                return WaitResult(job or _nothing_yet(name, clock.now()), "timeout")
            time.sleep(WATCH_CHECK_EVERY)
    except DBAPIError as error:
        from monitor.store.database import unavailable

        raise _DatabaseUnavailable(unavailable(error)) from None
    finally:
        store.close()


def _newest_job(store: Any, name: str) -> JobRecord | None:
    """The watch's current job: the newest one not retired or superseded."""
    jobs = [
        job
        for job in store.all_jobs(name)
        if job.retired_at is None and not job.details.get("superseded_by")
    ]
    return max(jobs, key=lambda job: (job.first_seen_at, job.id), default=None)


def _nothing_yet(name: str, now: datetime) -> JobRecord:
    from monitor.engine.waiting import blank_job

    return blank_job("", f"(no job yet for {name})", now)
