"""The one place that keeps secrets out of logs, rows, messages and exception text.

Config loading registers every secret it sees (provider credentials, values read
from secret files, passwords and tokens inside Apprise URLs); anything that
leaves the process as text goes through `redact`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

from monitor.domain import JobStatus

MASK = "***"
_MIN_SECRET_LENGTH = 4  # shorter values are too likely to be ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: list[str] = []


def add_secret(value: str | None) -> None:
    """Never show `value` again, in any text that goes through `redact`."""
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    global _ordered
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # Longest first, so a secret containing another is masked whole.
        _ordered = sorted(_secrets, key=len, reverse=True)


def add_url_secrets(url: str) -> None:
    """Register the secret parts of a notifier URL: its credentials, and its
    path tokens and query values (where Apprise services carry webhook keys and
    bot tokens), and the whole URL when it has any of those."""
    try:
        parts = urlsplit(url)
    except ValueError:
        add_secret(url)
        return
    found: list[str] = []
    found += [unquote(v) for v in (parts.username, parts.password) if v]
    host = parts.hostname or ""
    # A short or dotted segment is a path word or a host, not a token.
    found += [
        unquote(segment)
        for segment in parts.path.split("/")
        if len(segment) >= 8 and segment != host and "." not in segment
    ]
    found += [
        value
        for key, value in parse_qsl(parts.query)
        if key.lower() not in _PLAIN_QUERY_KEYS and len(value) >= 8
    ]
    if found:
        add_secret(url)
    for value in found:
        add_secret(value)


_PLAIN_QUERY_KEYS = {"from", "to", "cc", "bcc", "format", "overflow", "qos"}


def redact(text: str) -> str:
    """`text` with every registered secret replaced by ***."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def status_without_secrets(status: JobStatus) -> JobStatus:
    """The status with secrets masked in the vendor's own text, which may echo
    a request back (nothing a provider says is stored unredacted)."""
    return dataclasses.replace(
        status,
        raw_status=redact(status.raw_status),
        message=redact(status.message) if status.message else status.message,
        children=tuple(redact(child) for child in status.children),
        details={k: redact(v) if isinstance(v, str) else v for k, v in status.details.items()},
    )


def forget_all() -> None:
    """Drop every registered secret (tests start from nothing)."""
    global _ordered
    with _lock:
        _secrets.clear()
        _ordered = []


class RedactingFormatter(logging.Formatter):
    """Wraps another formatter and masks secrets in what it produces,
    exception text and tracebacks included."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record))
