"""A systemd stand-in for tests: a notify socket to read sd_notify messages
from, and the daemon as a real `python -m monitor run` subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]

Message = dict[str, str]


class NotifySocket:
    """A unix datagram socket bound where $NOTIFY_SOCKET will point, as systemd's is."""

    def __init__(self) -> None:
        # A short folder: a socket path must fit in 108 bytes, pytest's tmp_path may not.
        self._folder = tempfile.mkdtemp(prefix="lw-notify-", dir="/tmp")
        self.path = os.path.join(self._folder, "notify.sock")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(self.path)
        self.messages: list[Message] = []

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 20.0) -> Message:
        """The first message (from now on, or already received) that satisfies
        `predicate`; AssertionError after `timeout` seconds."""
        for message in self.messages:
            if predicate(message):
                return message
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            self._socket.settimeout(remaining)
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                break
            message = parse(data)
            self.messages.append(message)
            if predicate(message):
                return message
        raise AssertionError(f"no such message within {timeout}s; got {self.messages}")

    def close(self) -> None:
        self._socket.close()
        shutil.rmtree(self._folder, ignore_errors=True)


def parse(data: bytes) -> Message:
    """`KEY=value` lines, as sd_notify sends them."""
    return dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)


def has(key: str, value: str | None = None) -> Callable[[Message], bool]:
    return lambda message: key in message and (value is None or message[key] == value)


@contextmanager
def daemon_process(
    config: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    prelude: str | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`loadwatch run -c CONFIG ARGS` as a subprocess; its stderr goes to
    CONFIG's folder/daemon.log. `prelude` is Python run in it first (the
    seccomp test installs its filter there). Killed if still running at the end."""
    command = [sys.executable, "-m", "monitor", "run", "-c", str(config), *args]
    if prelude is not None:
        runner = f"{prelude}\nfrom monitor.cli import main\nraise SystemExit(main(sys.argv[1:]))"
        command = [sys.executable, "-c", f"import sys\n{runner}", "run", "-c", str(config), *args]
    with open(config.parent / "daemon.log", "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=REPOSITORY,
            env={**os.environ, **(env or {})},
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def daemon_log(config: Path) -> str:
    return (config.parent / "daemon.log").read_text()


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
