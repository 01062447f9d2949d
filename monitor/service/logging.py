"""Log setup: one line per event on stderr, readable or JSON, never a secret."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from monitor.providers.sanitize import escape_controls
from monitor.redact import RedactingFormatter

# Libraries that narrate their work (connections, file lookups) at debug and info:
# --log-level debug is for loadwatch's own detail, not theirs.
_QUIET_LIBRARIES = (
    "apscheduler",
    "httpx",
    "httpcore",
    "alembic",
    "apprise",
    "asyncio",
    "urllib3",
    "tzlocal",
    "aiosmtpd",
    "paho",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": escape_controls(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = escape_controls(self.formatException(record.exc_info), keep_lines=True)
        return json.dumps(entry, ensure_ascii=False)


class EscapingFormatter(logging.Formatter):
    """Wraps a text formatter so that no message can forge a log line or
    steer a terminal: newlines, ANSI escapes and other control characters
    in a message show as `\n`, `\x1b`. A traceback keeps its own lines."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg = escape_controls(record.getMessage())
        safe.args = None
        if record.exc_info:
            trace = self._inner.formatException(record.exc_info)
            safe.exc_text = escape_controls(trace, keep_lines=True)
        if record.stack_info:
            safe.stack_info = escape_controls(record.stack_info, keep_lines=True)
        return self._inner.format(safe)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Send the program's logs to stderr at `level`, as `fmt` (text or json).

    Text lines carry no timestamp when journald is the reader (it adds its own)."""
    inner: logging.Formatter
    if fmt == "json":
        inner = JsonFormatter()
    elif _under_journald():
        inner = EscapingFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        inner = EscapingFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(inner))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def _under_journald() -> bool:
    import os

    return bool(os.environ.get("JOURNAL_STREAM"))


def hide_library_logs(name: str) -> None:
    """Keep library `name`'s log lines off the terminal (they still reach its
    own handlers): for commands that print each result on a line of their own,
    such as `notify-test`, where Apprise's warnings would say it twice."""

    def not_from_library(record: logging.LogRecord) -> bool:
        return not (record.name == name or record.name.startswith(name + "."))

    for handler in logging.getLogger().handlers:
        handler.addFilter(not_from_library)
