"""The terminal notifier of `loadwatch demo`: rendered messages printed to a stream."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from apprise.decorators import notify
from apprise.manager_plugins import NotificationManager

from monitor.notify.messages import RenderedMessage

_COLOURS = {"info": "36", "success": "32", "warning": "33", "failure": "31"}  # ANSI SGR


def print_message(message: RenderedMessage, stream: TextIO | None = None) -> None:
    """Print `message` as a tagged title over its indented body; the tag is
    coloured when the stream is a terminal (and NO_COLOR is unset)."""
    out = stream if stream is not None else sys.stdout
    tag = f"[{message.notify_type}]"
    if _wants_colour(out):
        tag = f"\033[1;{_COLOURS.get(message.notify_type, '0')}m{tag}\033[0m"
    lines = [f"{tag} {message.title}"]
    lines += [f"    {line}" if line else "" for line in message.body.splitlines()]
    out.write("\n".join(lines) + "\n\n")
    out.flush()


def _wants_colour(stream: TextIO) -> bool:
    # https://no-color.org: any non-empty NO_COLOR turns colour off.
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


CONSOLE_SCHEME = "console"


def register_console_scheme() -> None:
    """Teach Apprise `console://`: messages printed on standard output. The demo
    uses it, and it is handy for trying a config in a terminal."""
    if CONSOLE_SCHEME in NotificationManager():
        return

    @notify(on=CONSOLE_SCHEME, name="loadwatch console")
    def _print(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
        print_message(RenderedMessage(title=title, body=body, notify_type=str(notify_type)))
        return True
