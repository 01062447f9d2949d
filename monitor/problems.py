"""Failures a user can cause or meet when a command starts: each one is told
as one line (what, where, what to do) and a non-zero exit, never a traceback."""

from __future__ import annotations


class StartupProblem(Exception):
    """Something outside loadwatch stops a command from starting: a taken port,
    a database that cannot be reached or is not ready. Its text is the line
    the user reads; it holds no secret."""
