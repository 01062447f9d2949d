"""Log setup: one line per event on stderr, readable or JSON, never a secret."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

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
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Send the program's logs to stderr at `level`, as `fmt` (text or json).

    Text lines carry no timestamp when journald is the reader (it adds its own)."""
    inner: logging.Formatter
    if fmt == "json":
        inner = JsonFormatter()
    elif _under_journald():
        inner = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    else:
        inner = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
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
