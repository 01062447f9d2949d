"""The one place that makes what a vendor says safe to store, log and send.

Anything a provider returns (a JobStatus, a PollFailure, discovered job ids)
passes through here on its way out of the provider (see `Provider`'s
wrapping in base.py), so no row, log line or message ever sees a value that
does not fit: integers beyond 64 bits, NaN and Infinity, NUL and other
control characters, lone surrogates (PostgreSQL refuses them all), text
longer than its column, nesting deeper than anyone reads, or a secret the
vendor echoed back.

The functions are idempotent: cleaning clean data changes nothing.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from monitor.domain import JobStatus, State
from monitor.redact import redact

# Counts go to Integer columns: 32 bits on PostgreSQL (SQLite's are 64).
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
JSON_INT_LIMIT = 2**63 - 1  # integers in JSON columns beyond this are kept as text
CUT_MARK = "…"

# Column widths in monitor/store/tables.py.
RAW_STATUS_CHARS = 500
JOB_ID_CHARS = 500
MESSAGE_CHARS = 8000
CHILD_CHARS = 500
MAX_CHILDREN = 200
DETAIL_CHARS = 4000
MAX_DETAIL_ITEMS = 100
MAX_DETAIL_DEPTH = 6

# C0 and C1 controls, DEL, lone surrogates, and the bidirectional overrides
# that make a terminal show text in another order than it is stored.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_UNSAFE_KEEPING_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str, *, keep_lines: bool = False) -> str:
    """`text` with control characters, lone surrogates and bidi overrides
    written as visible escapes (`\\x00`, `\\n`, `\\u202e`). With `keep_lines`,
    newlines and tabs stay (multi-line messages)."""
    if text.isprintable():  # the usual case: no control, surrogate or bidi character
        return text
    pattern = _UNSAFE_KEEPING_LINES if keep_lines else _UNSAFE
    return pattern.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit - 1` characters and a `…` when longer."""
    return text if len(text) <= limit else text[: limit - 1] + CUT_MARK


def clean_text(value: Any, limit: int, *, keep_lines: bool = False) -> str:
    """Any vendor value as text fit for a column of `limit` characters:
    secrets masked, controls escaped, cut with a mark."""
    text = value if isinstance(value, str) else _as_text(value)
    return cut(escape_controls(redact(text), keep_lines=keep_lines), limit)


def _as_text(value: Any) -> str:
    try:
        return json.dumps(value, default=str, allow_nan=True)[: DETAIL_CHARS * 2]
    except (ValueError, TypeError, RecursionError):
        return type(value).__name__


def clean_count(value: Any) -> int | None:
    """A count that fits its 32-bit column: clamped; None when not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return INT_MAX if value > 0 else None if math.isnan(value) else INT_MIN
        value = int(value)
    return max(INT_MIN, min(INT_MAX, value))


def clean_progress(value: Any) -> float | None:
    """A fraction 0..1, or None when the vendor's number is no fraction at all."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        fraction = float(value)
    except OverflowError:
        return None
    if not math.isfinite(fraction):
        return None
    return max(0.0, min(1.0, fraction))


def clean_time(value: Any) -> datetime | None:
    """An aware UTC datetime (a naive one is read as UTC); None for anything else."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def clean_data(value: Any, depth: int = 0) -> Any:
    """Free-form vendor data fit for a JSON column: strings cleaned, integers
    beyond 64 bits and non-finite numbers kept as text, containers bounded in
    size and depth (deeper parts become text)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= JSON_INT_LIMIT else _big_number_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clean_text(value, DETAIL_CHARS, keep_lines=True)
    if depth >= MAX_DETAIL_DEPTH:
        return clean_text(_as_text(value), DETAIL_CHARS)
    if isinstance(value, dict):
        items = list(value.items())[:MAX_DETAIL_ITEMS]
        return {clean_text(str(k), 200): clean_data(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [clean_data(item, depth + 1) for item in list(value)[:MAX_DETAIL_ITEMS]]
    return clean_text(str(value), DETAIL_CHARS)


def _big_number_text(value: int) -> str:
    try:
        return cut(str(value), 40)
    except ValueError:  # more digits than Python will print
        return f"a number of {value.bit_length()} bits"


def clean_children(children: Any) -> tuple[str, ...]:
    lines = [clean_text(child, CHILD_CHARS) for child in tuple(children or ())]
    if len(lines) > MAX_CHILDREN:
        extra = len(lines) - MAX_CHILDREN + 1
        lines = [*lines[: MAX_CHILDREN - 1], f"{CUT_MARK} and {extra} more"]
    return tuple(lines)


def clean_status(status: JobStatus) -> JobStatus:
    """`status` with every vendor-controlled field made safe (see module doc).

    A status this made is marked, and comes back as it is: a provider's parse
    and its poll are each wrapped (base.py), and a poll returns its parse's
    status. The mark is no field, so `dataclasses.replace` drops it: a status
    built from a clean one is cleaned again."""
    if status.__dict__.get(_CLEAN):
        return status
    state = status.state if isinstance(status.state, State) else State(str(status.state))
    message = status.message
    # Built without the frozen dataclass's __init__ (one object.__setattr__ per
    # field): this runs for every poll, and every value is checked here anyway.
    cleaned = object.__new__(JobStatus)
    cleaned.__dict__.update(
        state=state,
        raw_status=clean_text(status.raw_status, RAW_STATUS_CHARS),
        progress=clean_progress(status.progress),
        processed=clean_count(status.processed),
        errors=clean_count(status.errors),
        total=clean_count(status.total),
        message=None if message is None else clean_text(message, MESSAGE_CHARS, keep_lines=True),
        children=clean_children(status.children),
        started_at=clean_time(status.started_at),
        finished_at=clean_time(status.finished_at),
        job_id=None if status.job_id is None else clean_text(status.job_id, JOB_ID_CHARS),
        superseded_by=(
            None if status.superseded_by is None else clean_text(status.superseded_by, JOB_ID_CHARS)
        ),
        details=clean_data(dict(status.details or {})),
    )
    cleaned.__dict__[_CLEAN] = True
    return cleaned


_CLEAN = "_loadwatch_clean"


def storable_job_id(value: Any) -> str | None:
    """A discovered job id as it can be stored and asked for again; None when
    it could not be (too long, control characters, not text or number): an
    altered id would name another job."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value) if isinstance(value, int) else value
    if not text.strip() or len(text) > JOB_ID_CHARS or _UNSAFE.search(text):
        return None
    return text


class UnsafeJson(ValueError):
    """A response body that is not plain JSON we can hold; the text says why."""


def load_json(body: bytes | str) -> Any:
    """`body` decoded as strict JSON: no NaN or Infinity (not JSON, RFC 8259),
    no integer of more than 4,300 digits, no nesting deeper than Python
    can decode.

    Raises UnsafeJson for those and json's own ValueError for the rest."""
    try:
        if isinstance(body, bytes | bytearray):  # as json.loads reads bytes
            body = body.decode(json.detect_encoding(body), "surrogatepass")
        return _DECODER.decode(body)
    except RecursionError:
        raise UnsafeJson("nested too deeply") from None
    except ValueError as error:
        if "int" in str(error) and "digits" in str(error):
            raise UnsafeJson("a number with too many digits") from None
        raise


def _refuse_constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number")


# One decoder for every body: json.loads with an option builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
