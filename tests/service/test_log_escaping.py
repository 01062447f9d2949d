"""Text logs and terminal tables escape control characters: a job id or a
vendor's words with a newline cannot forge a log line, ANSI escapes cannot
steer a terminal, a lone surrogate cannot break the writer."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given, settings

from monitor import report
from monitor.redact import RedactingFormatter, add_secret
from monitor.service.logging import EscapingFormatter, JsonFormatter
from tests.hostile import trouble_text

FORGED = "job-1\n2026-11-30 12:00:00 ERROR monitor: forged line\x1b[2J\u202e\ud800"


@pytest.fixture
def text_log() -> Iterator[tuple[logging.Handler, io.StringIO]]:
    yield _handler(EscapingFormatter(logging.Formatter("%(levelname)s %(message)s")))


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Handler, io.StringIO]]:
    yield _handler(JsonFormatter())


def _handler(inner: logging.Formatter) -> tuple[logging.Handler, io.StringIO]:
    """A handler writing to a string. Records go to it directly, never through
    a logger: nothing else (the test runner's capture, which cannot carry a
    lone surrogate between pytest-xdist workers) sees them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(inner))
    return handler, stream


def _warn(handler: logging.Handler, message: str, *args: object) -> None:
    handler.handle(logging.LogRecord("monitor", logging.WARNING, __file__, 1, message, args, None))


def test_a_newline_in_a_job_id_cannot_forge_a_text_log_line(text_log) -> None:
    handler, stream = text_log
    _warn(handler, "poll of %s failed", FORGED)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "\\n2026-11-30" in lines[0]
    assert "\x1b" not in lines[0] and "\\x1b[2J" in lines[0]
    assert "\\u202e" in lines[0] and "\\ud800" in lines[0]
    stream.getvalue().encode("utf-8")  # a terminal or journald can take it


def test_a_traceback_keeps_its_lines_but_its_message_is_escaped(text_log) -> None:
    handler, stream = text_log
    try:
        raise ValueError("vendor said \x1b[31mred\x1b[0m")
    except ValueError:
        record = logging.LogRecord(
            "monitor", logging.ERROR, __file__, 1, "provider crashed", (), sys.exc_info()
        )
        handler.handle(record)
    text = stream.getvalue()
    assert text.splitlines()[1] == "Traceback (most recent call last):"
    assert "\x1b" not in text and "\\x1b[31mred" in text


def test_json_logs_escape_controls_and_surrogates(json_log) -> None:
    handler, stream = json_log
    add_secret("s3cret-in-log-91")
    _warn(handler, "job %s said s3cret-in-log-91", FORGED)
    entry = json.loads(stream.getvalue())
    assert "\n" not in entry["message"] and "\x1b" not in entry["message"]
    assert "s3cret-in-log-91" not in stream.getvalue()
    stream.getvalue().encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(text=trouble_text)
def test_any_message_is_one_safe_text_log_line(text: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter(logging.Formatter("%(message)s")))
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "said %s", (text,), None)
    handler.emit(record)
    line = stream.getvalue()
    assert line.count("\n") == 1 and line.endswith("\n")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line[:-1])
    line.encode("utf-8")


def test_status_table_escapes_vendor_words() -> None:
    rows = [
        {
            "watch": "nightly",
            "provider": "hr",
            "job": "1\n2",
            "state": "running",
            "raw_status": "\x1b[2Jerased",
            "progress": None,
            "last_poll": None,
            "next_poll": None,
            "conditions": [],
            "notifications": {},
        }
    ]
    table = report.status_table(rows)
    assert "\x1b" not in table
    assert len(table.split("\n\n")[0].splitlines()) == 2  # header and one row
