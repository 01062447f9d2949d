"""TEST-ONLY hooks for the crash-safety tests; inert unless their variables are set.

`LOADWATCH_TEST_HALT_AT=after-commit|after-claim|after-send` makes the daemon
stop dead at that point of a notification's life: it writes
`LOADWATCH_TEST_HALT <point>` as a line on stderr and then blocks its event
loop for good, so a test can read the line and SIGKILL the process exactly
there. `after-commit` also keeps the outbox worker from claiming anything, so
"committed but never claimed" is what the test sees.

`LOADWATCH_TEST_LEASE_SECONDS` shortens the outbox lease, so a restarted
daemon takes over a dead one's claims in a second rather than minutes. It is
not a config key on purpose: the lease must outlast the slowest send (see
worker.LEASE_SECONDS), and nobody running loadwatch needs to tune that.
"""

from __future__ import annotations

import os
import sys
import threading

HALT_VARIABLE = "LOADWATCH_TEST_HALT_AT"
LEASE_VARIABLE = "LOADWATCH_TEST_LEASE_SECONDS"
MARKER = "LOADWATCH_TEST_HALT"
POINTS = ("after-commit", "after-claim", "after-send")


def armed(point: str) -> bool:
    """Whether the test asked to halt at `point`."""
    return os.environ.get(HALT_VARIABLE) == point


def reached(point: str) -> None:
    """Halt here for good if the test asked for `point`; else do nothing."""
    if not armed(point):
        return
    sys.stderr.write(f"{MARKER} {point}\n")
    sys.stderr.flush()
    threading.Event().wait()  # blocks the loop: nothing after this point happens


def lease_seconds(default: float) -> float:
    """The outbox lease: `default`, unless a test shortened it."""
    value = os.environ.get(LEASE_VARIABLE)
    return float(value) if value else default
