"""Hypothesis strategies for what a hostile or careless vendor can send, and
the checks that a value is safe to store, log and send (shared by the
provider, store and end-to-end property tests)."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck
from hypothesis import strategies as st

from monitor.domain import JobStatus, State
from monitor.providers.base import PollFailure
from monitor.providers.sanitize import INT_MAX, INT_MIN

# Health checks the property tests turn off: slow generation on a shared
# machine, big hostile inputs, and fixtures (a database, a listener) that are
# meant to be shared by every example.
TOLERANT = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]

# A string with every kind of trouble: NUL, ANSI escapes, newlines, lone
# surrogates, bidi overrides, and long runs.
_TROUBLE_CHARS = st.sampled_from(
    ["\x00", "\x1b[31m", "\n", "\r\n", "\t", "\ud800", "\udfff", "\u202e", "\x7f", "\x9b"]
)
trouble_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.text(max_size=8), _TROUBLE_CHARS), max_size=12).map("".join),
    st.integers(min_value=501, max_value=6000).map(lambda n: "x" * n),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=30),
)
huge_numbers = st.one_of(
    st.integers(min_value=2**63, max_value=10**300),
    st.integers(min_value=-(10**300), max_value=-(2**63)),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324]),
    st.floats(),
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


deep_nesting = st.integers(min_value=20, max_value=900).map(_nested)
poison = st.one_of(
    trouble_text,
    huge_numbers,
    deep_nesting,
    st.none(),
    st.booleans(),
    st.just([]),
    st.just({}),
    st.integers(),
)
# Any JSON value Python's json module would decode (NaN and Infinity included).
any_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), trouble_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def poisoned(draw: st.DrawFn, payload: Any) -> Any:
    """`payload` (a real vendor answer) with some of its values replaced by
    poison, some keys dropped, or its whole shape changed."""
    if draw(st.integers(0, 20)) == 0:
        return draw(st.one_of(poison, any_json))
    return _walk(draw, payload)


def _walk(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            choice = draw(st.integers(0, 9))
            if choice == 0:
                continue  # the key is missing
            result[key] = draw(poison) if choice == 1 else _walk(draw, item)
        return result
    if isinstance(value, list):
        return [_walk(draw, item) for item in value]
    return draw(poison) if draw(st.integers(0, 3)) == 0 else value


# --- what "safe" means --------------------------------------------------------------

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def assert_safe_text(value: str | None, limit: int, *, one_line: bool = True) -> None:
    if value is None:
        return
    assert isinstance(value, str)
    assert len(value) <= limit, len(value)
    assert not _UNSAFE.search(value), repr(value[:80])
    if one_line:
        assert "\n" not in value and "\t" not in value
    value.encode("utf-8")  # PostgreSQL takes it


def assert_safe_number(value: Any) -> None:
    if value is None:
        return
    assert isinstance(value, int) and not isinstance(value, bool)
    assert INT_MIN <= value <= INT_MAX


def assert_safe_status(status: JobStatus) -> None:
    """Every field of `status` fits its column and carries no control character."""
    assert isinstance(status.state, State)
    assert_safe_text(status.raw_status, 500)
    assert status.progress is None or (
        isinstance(status.progress, float) and 0.0 <= status.progress <= 1.0
    )
    for count in (status.processed, status.errors, status.total):
        assert_safe_number(count)
    assert_safe_text(status.message, 8000, one_line=False)
    for child in status.children:
        assert_safe_text(child, 500)
    assert_safe_text(status.job_id, 500)
    assert_safe_text(status.superseded_by, 500)
    for moment in (status.started_at, status.finished_at):
        assert moment is None or (isinstance(moment, datetime) and moment.tzinfo is not None)
    text = json.dumps(status.details, allow_nan=False)  # no NaN, no Infinity
    assert "\\u0000" not in text
    text.encode("utf-8")


def assert_safe_failure(failure: PollFailure) -> None:
    assert failure.reason.strip()
    assert_safe_text(failure.reason, 300)
    assert_safe_text(failure.raw_status, 500)
