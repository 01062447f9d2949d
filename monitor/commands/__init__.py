"""Operator commands beyond the core set (issue 14): `wait`, `retry`,
`silence`/`silences`/`unsilence`, `pause`/`resume`. Each module adds its commands to cli.py's parser
through `register`, so cli.py stays a short list. config_file finds and
loads the config for every command, cli.py's own included."""

from __future__ import annotations

from typing import Any


def register(command: Any) -> None:
    """Add these commands; `command(name, handler, help)` is cli.py's helper."""
    from monitor.commands.pausing import add_pause_commands
    from monitor.commands.retry import add_retry_command
    from monitor.commands.silences import add_silence_commands
    from monitor.commands.wait import add_wait_command

    add_wait_command(command)
    add_retry_command(command)
    add_silence_commands(command)
    add_pause_commands(command)
