"""Sending one message to one Apprise URL, and naming that URL without its secrets.

Each URL is sent on its own (SPEC §2: a failing mail server never makes the chat
message go twice), so every call builds an Apprise object holding just that URL
and reads that URL's own result.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

import apprise
from apprise.plugins.custom_form import NotifyForm
from apprise.plugins.custom_json import NotifyJSON
from apprise.plugins.custom_xml import NotifyXML

from monitor import __version__
from monitor.redact import redact

# Apprise stops waiting for a send after this long and reports a timeout. The
# outbox lease is longer, so a slow send is never claimed twice.
SEND_TIMEOUT_SECONDS = 60.0
_MAX_ERROR_CHARS = 200
_PROBLEM_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")

# The IETF draft's name (draft-ietf-httpapi-idempotency-key-header): a receiver
# that keeps keys can drop the repeat a crash between send and mark may cause.
IDEMPOTENCY_HEADER = "Idempotency-Key"
_WEBHOOKS = (NotifyJSON, NotifyForm, NotifyXML)

_ASSET = apprise.AppriseAsset(
    app_id="loadwatch",
    app_desc=f"loadwatch {__version__}: job monitor",
)


@dataclass(frozen=True)
class DeliveryResult:
    """Whether Apprise confirmed the send; if not, a short reason a person can read."""

    ok: bool
    error: str | None = None


async def deliver(
    url: str, title: str, body: str, notify_type: str, key: str | None = None
) -> DeliveryResult:
    """Send one message to one Apprise URL. Never raises for a delivery problem.
    `key`, the message's idempotency key, also goes as an `Idempotency-Key`
    header where the service is a plain webhook (json://, form://, xml://)."""
    service = _instantiate(url)
    if service is None:
        return DeliveryResult(ok=False, error="invalid Apprise URL")
    if key and isinstance(service, _WEBHOOKS):
        service.headers[IDEMPOTENCY_HEADER] = key
    sender = apprise.Apprise(service, asset=_ASSET)
    try:
        result = await sender.async_notify(
            body=body,
            title=title,
            notify_type=notify_type,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=SEND_TIMEOUT_SECONDS,
        )
    except Exception as error:  # a plugin bug is still only a failed delivery
        return DeliveryResult(ok=False, error=_short(f"{type(error).__name__}: {error}"))
    with result:  # releases the captured logs Apprise may keep in a temporary file
        outcome = next(iter(result), None)  # this URL's own result
        if outcome is not None and outcome:
            return DeliveryResult(ok=True)
        return DeliveryResult(ok=False, error=_failure_reason(result))


def display_url(url: str) -> str:
    """The URL as logs, the database and `notify-test` may show it: Apprise's
    privacy form (passwords and tokens masked), keeping only the query keys
    the user wrote. `scheme://***` when Apprise cannot read the URL."""
    return redact(_privacy_form(url))


@functools.lru_cache(maxsize=512)
def _privacy_form(url: str) -> str:
    """`display_url` before redaction, made once per URL: it builds an Apprise
    service (~0.15 ms), and every transition names its URLs. What `redact`
    masks can change while the daemon runs, so that is applied at each call."""
    service = _instantiate(url)
    if service is None:
        return _masked(url)
    try:
        shown = service.url(privacy=True)
    except Exception:
        return _masked(url)
    return _without_added_query(shown, original=url)


def url_key(url: str) -> str:
    """A stable short id for a notifier URL: the per-URL column of the
    idempotency key ("sent to this URL already?").

    A hash is enough because the key only has to tell a notifier's URLs apart
    and stay the same across restarts; it is never turned back into a URL, and
    it keeps the URL's secrets out of the database. 64 bits make a collision
    among a few thousand URLs about 1 in 10^12. A changed URL (a rotated
    token) counts as a new destination: a message may go once more, never not
    at all.
    """
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _instantiate(url: str) -> apprise.NotifyBase | None:
    try:
        return apprise.Apprise.instantiate(url, asset=_ASSET)
    except Exception:  # instantiate suppresses errors; belt and braces
        return None


def _failure_reason(result: apprise.AppriseResult) -> str:
    """The last warning or error Apprise logged for this send."""
    problems = [entry.message for entry in result.logs() if entry.level in _PROBLEM_LEVELS]
    if problems:
        return _short(problems[-1])
    if result.status == apprise.AppriseResultStatus.TIMEOUT:
        return f"no answer within {SEND_TIMEOUT_SECONDS:g}s"
    return "delivery failed"


def _short(text: str) -> str:
    text = " ".join(redact(text).split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 1] + "…"
    return text


def _masked(url: str) -> str:
    scheme, separator, _ = url.partition("://")
    return f"{scheme}://***" if separator and _SCHEME.fullmatch(scheme) else "***"


def _without_added_query(shown: str, original: str) -> str:
    """`shown` without the query parameters Apprise adds for completeness
    (`overflow=upstream&retry=0&wait=0.5…`), which only make it harder to read."""
    base, separator, query = shown.partition("?")
    if not separator:
        return shown
    written = {_query_key(pair) for pair in original.partition("?")[2].split("&")}
    kept = [pair for pair in query.split("&") if _query_key(pair) in written - {""}]
    return f"{base}?{'&'.join(kept)}" if kept else base


def _query_key(pair: str) -> str:
    return pair.partition("=")[0].lower()
