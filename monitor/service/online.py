"""`loadwatch check --online`: does each provider accept our credentials, and
does each notifier URL take a message? One line each; exit 1 if any fails."""

from __future__ import annotations

import asyncio

from monitor.config import Config
from monitor.notify.test import send_test
from monitor.providers.base import PollFailure, Provider, Throttled
from monitor.providers.http import make_client
from monitor.providers.registry import provider_class
from monitor.redact import redact
from monitor.store.access import DatabaseProblem, probe

CHECK_TIMEOUT = 60.0  # beyond the client's own timeout: a check never hangs the command


async def check_online(config: Config) -> int:
    """Print one line for the database, one per provider and one per notifier
    URL; 0 when none failed."""
    database = asyncio.to_thread(_check_database, config.database)
    provider_checks = asyncio.gather(*(_check_provider(name, config) for name in config.providers))
    database_line, provider_lines = await asyncio.gather(database, provider_checks)
    notifier_results = await send_test(config, list(config.notifiers))
    failed = False
    for line, ok in [database_line, *provider_lines]:
        print(redact(line))
        failed |= not ok
    for notifier, url, ok, error in notifier_results:
        print(redact(f"notifier {notifier} {url}: " + ("ok" if ok else f"FAILED: {error}")))
        failed |= not ok
    return 1 if failed else 0


def _check_database(url: str) -> tuple[str, bool]:
    """(line, ok): can the database be reached? A schema that `run` will
    migrate is no failure."""
    try:
        line, _ = probe(url)
    except DatabaseProblem as problem:
        return f"{problem.where}: FAILED: {problem.detail}", False
    return f"{line}: ok", True


async def _check_provider(name: str, config: Config) -> tuple[str, bool]:
    """(line, ok) for one provider block."""
    settings = config.providers[name]
    label = f"provider {name} ({settings.type})"
    try:
        provider: Provider = provider_class(settings.type)(name, settings, make_client(settings))
    except Exception as error:
        return f"{label}: FAILED: cannot set up: {error}", False
    try:
        seen = await asyncio.wait_for(provider.check_credentials(), CHECK_TIMEOUT)
    except NotImplementedError:
        return f"{label}: skipped: no credential check", True
    except Throttled as throttled:
        # A vendor that rate-limits us has read the request: no refusal seen.
        return f"{label}: ok (throttled: {throttled.reason})", True
    except PollFailure as failure:
        return f"{label}: FAILED: {failure.kind}: {failure.reason}", False
    except TimeoutError:
        return f"{label}: FAILED: no answer in {CHECK_TIMEOUT:.0f}s", False
    except Exception as error:  # a provider bug is a failed check, not a crash
        return f"{label}: FAILED: {type(error).__name__}: {error}", False
    finally:
        await provider.client.aclose()
    return f"{label}: ok: {seen}", True
