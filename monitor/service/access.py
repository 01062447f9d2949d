"""Who may do what over HTTP: reading (the status page and the read API) is
open unless `http.read_token` is set; writing needs `http.token`.

A token comes as `Authorization: Bearer TOKEN` (scripts), or as the password
of HTTP Basic authentication (browsers ask for it themselves; the user name is
ignored). The write token reads too. Comparisons take constant time: a timing
difference would tell how much of a guess was right.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.config.models import HttpSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """Why a request may not go on: an HTTP status, words, and headers to send."""

    status: int
    message: str
    headers: Mapping[str, str]


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The token a request carries (Bearer, or Basic's password), or None."""
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _matches(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def refuse_read(settings: HttpSettings | None, headers: Mapping[str, str]) -> Refusal | None:
    """None when the request may read; else the refusal (401 with a challenge
    a browser answers with its login prompt)."""
    if settings is None or not settings.read_token:
        return None
    given = presented_token(headers)
    if _matches(given, settings.read_token) or _matches(given, settings.token):
        return None
    challenge = {"WWW-Authenticate": 'Basic realm="loadwatch", charset="UTF-8"'}
    if given is None:
        return Refusal(401, "reading needs http.read_token (Bearer, or as the password)", challenge)
    return Refusal(401, "the token is wrong", challenge)


def refuse_write(
    settings: HttpSettings | None, headers: Mapping[str, str], what: str
) -> Refusal | None:
    """None when the request carries `http.token`; else the refusal. `what`
    names the request in the answer ("DELETE /api/watches/NAME")."""
    expected = settings.token if settings else None
    if not expected:
        return Refusal(403, f"{what} is off: set http.token in the config", {})
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return Refusal(
            401,
            "a bearer token is required (Authorization: Bearer TOKEN)",
            {"WWW-Authenticate": 'Bearer realm="loadwatch"'},
        )
    if not _matches(given.strip(), expected):
        return Refusal(
            401, "the bearer token is wrong", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return None


def warn_if_exposed(settings: HttpSettings) -> bool:
    """Log a warning when the listener is reachable from other machines and
    anyone there may read; True when it warned."""
    if settings.loopback or settings.read_token:
        return False
    log.warning(
        "HTTP listens on %s, beyond loopback, with no http.read_token: anyone who can "
        "reach it can read every job, watch and delivery; set http.read_token",
        settings.listen,
    )
    return True
