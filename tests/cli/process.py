"""A `loadwatch` command running in the background, whose output lines a test
waits for (on a queue filled by reader threads: no sleeps, no polling)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path


def loadwatch(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m monitor ARGS` to the end, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


class Running:
    """`python -m monitor ARGS` in the background; `expect()` waits for a line."""

    def __init__(
        self, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: list[tuple[str, str]] = []
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put((name, line.rstrip("\n")))

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """The first line (of either stream) that holds `text`."""
        deadline = time.monotonic() + timeout
        for _, line in self.seen:
            if text in line:
                return line
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line with {text!r}; saw {self.seen}")
            try:
                entry = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(entry)
            if text in entry[1]:
                return entry[1]

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit status; the rest of the output is in `seen`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.drain()
        return code

    def wait(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout=timeout)
        self.drain()
        return code

    def drain(self) -> None:
        """After exit: every remaining line into `seen` (the readers end at EOF)."""
        for reader in self._readers:
            reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())

    def text(self, stream: str = "stderr") -> str:
        return "\n".join(line for name, line in self.seen if name == stream)
