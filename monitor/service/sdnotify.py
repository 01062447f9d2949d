"""Telling systemd how the daemon is doing (sd_notify, for `Type=notify` units).

The protocol is one datagram of `KEY=value` lines to the unix socket named by
$NOTIFY_SOCKET; a name starting with `@` is in the abstract namespace. Without
$NOTIFY_SOCKET (not run by systemd, or in tests) every call does nothing.
Messages are best effort: a full or vanished socket is logged, never raised,
because systemd's opinion must not stop the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends state changes and watchdog pings to systemd's notify socket."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._socket: socket.socket | None = None
        self._warned = False
        self.watchdog_interval = watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self, status: str | None = None) -> None:
        """Start-up (or a reload) is complete."""
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> None:
        """A reload begins; systemd ≥ 253 wants the monotonic time with it."""
        self.send(
            "RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
        )

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def send(self, *fields: str) -> bool:
        """Send one message of `fields` (`KEY=value`); False if it did not go."""
        if self._address is None:
            return False
        message = "\n".join(fields).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
                )
            self._socket.sendto(message, self._address)
        except OSError as error:
            if not self._warned:  # once: a dead socket would otherwise log every ping
                log.warning("could not notify systemd at %s: %s", _shown(self._address), error)
                self._warned = True
            return False
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """How often to ping systemd's watchdog: half of $WATCHDOG_USEC, as
    sd_watchdog_enabled(3) advises; None when no watchdog is asked of this
    process ($WATCHDOG_PID names another one, or the value is not usable)."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2


def _socket_address(name: str) -> str | None:
    if name.startswith("@"):
        return "\0" + name[1:]  # the abstract namespace
    if name.startswith("/"):
        return name
    if name:
        log.warning("NOTIFY_SOCKET %r is not a unix socket path; not notifying systemd", name)
    return None


def _shown(address: str) -> str:
    return "@" + address[1:] if address.startswith("\0") else address
