"""`loadwatch demo` as people see it: in a real terminal (a pseudo-terminal,
with a live table redrawn in place) and as plain output (a pipe, CI), each
showing every event kind, without log lines between the messages."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

EVENTS = [
    "[info] slack-migration started",
    "[success] hr-nightly succeeded",
    "[warning] catalog-prices partial",
    "[failure] hr-incidents failed",
    "[warning] catalog-cleanup canceled",
    "[warning] slack-migration waiting",
    "[warning] hr-training stalled",
    "[warning] catalog-full-sync overdue",
    "[warning] eu-payroll unreachable",
    "[info] eu-payroll recovered",
    "[warning] warehouse-nightly partial",
]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_demo_as_plain_output_shows_every_event_and_no_logs():
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "demo"],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "NO_COLOR": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for line in EVENTS:
        assert line in result.stdout, f"demo output lacks {line!r}"
    assert "Row 12: 'hired_on' is not a date" in result.stdout  # KPA's history
    assert "OnlineStore.productmodel" in result.stdout  # Incorta's failed table
    assert "\x1b" not in result.stdout  # not a terminal: no colours, no redraws
    assert result.stderr == ""  # the daemon's log lines go to a file, not here
    assert re.search(r"^ +\d+\.\ds  hr-nightly +succeeded", result.stdout, re.MULTILINE)
    assert "notifications: " in result.stdout and " 0 pending, 0 dead" in result.stdout
    assert result.stdout.rstrip().endswith("demo finished: every job ended and was announced.")


def test_demo_in_a_terminal_redraws_a_table_of_jobs_in_place():
    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo, on the pseudo-terminal
        os.execvpe(
            sys.executable,
            [sys.executable, "-m", "monitor", "demo"],
            {
                **os.environ,
                "TERM": "xterm-256color",
                "NO_COLOR": "",
                "COLUMNS": "140",
                "LINES": "50",
            },
        )
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 140, 0, 0))
    output = _read_all(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output[-3000:]

    shown = _ANSI.sub("", output.replace("\r", ""))
    for line in EVENTS:
        assert line in shown, f"terminal output lacks {line!r}"
    assert "\x1b[2K" in output  # lines erased: the table is drawn again in place
    assert shown.count("watching ·") > 3  # ... many times while jobs move
    assert "the jobs at the end" in shown
    assert "━" in shown  # progress bars
    assert "INFO" not in shown and "WARNING monitor" not in shown  # no log lines
    assert "demo finished: every job ended and was announced." in shown


def _read_all(fd: int) -> str:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")
