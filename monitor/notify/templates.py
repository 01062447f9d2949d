"""Per-notifier title and body templates: Jinja2 in an immutable sandbox.

A template is config, not code. It sees plain data (dicts, lists, strings,
numbers), cannot reach Python internals or files, cannot change what it is
given, is capped in size before and after rendering, and cannot build giant
values. Anything it tries that the sandbox refuses is an error, so the caller
sends the default wording instead of a half-empty message.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range

from monitor.notify.formatting import (
    format_counts,
    format_duration,
    format_percent,
    one_line,
    truncate,
)
from monitor.notify.template_budget import (
    BudgetExceeded,
    bounded_join,
    bounded_loop,
    budget,
    check_arguments,
    check_format,
    check_replace,
    check_size,
    check_size_of,
    check_time,
    guard_tree,
    guarded_filter,
    unbounded_parts,
)
from monitor.redact import redact

MAX_TEMPLATE_BYTES = 8 * 1024
MAX_OUTPUT_CHARS = 16 * 1024  # the most any template may produce


def check_template(source: str) -> None:
    """Raise ValueError saying why `source` cannot be a title or body template
    (config validation; rendering checks again and falls back)."""
    try:
        compile_template(source)
        problems = unbounded_parts(_environment.parse(source))
    except Exception as error:
        raise ValueError(f"invalid template: {describe(error)}") from None
    if problems:
        raise ValueError(f"template may never finish: {problems[0]}")


def render_template(source: str, variables: dict[str, Any], limit: int) -> str:
    """`source` rendered with `variables`, cut off once it passes `limit`
    characters, within the time and size budget of template_budget.py.
    Raises whatever the template did wrong (BudgetExceeded past the budget).

    Rendering runs where messages are made, on the event loop: a template that
    used up its time budget is not tried again for RESTING_SECONDS, so a burst
    of job ends costs the loop one budget, not one per message."""
    _refuse_if_resting(source)
    pieces: list[str] = []
    size = 0
    try:
        with budget():
            for piece in compile_template(source).generate(variables):
                pieces.append(piece)
                size += len(piece)
                if size > limit:  # stop an endless loop early rather than cap afterwards
                    break
                check_time()
    except BudgetExceeded as exceeded:
        if exceeded.costly:
            with _resting_lock:
                _resting[source] = time.monotonic()
        raise
    return "".join(pieces)


RESTING_SECONDS = 600.0
_resting: dict[str, float] = {}  # template source -> when it last ran out of time
_resting_lock = threading.Lock()


def _refuse_if_resting(source: str) -> None:
    with _resting_lock:
        since = _resting.get(source)
        if since is not None and time.monotonic() - since >= RESTING_SECONDS:
            del _resting[source]
            since = None
    if since is not None:
        raise BudgetExceeded(
            f"template skipped: it ran past its budget {time.monotonic() - since:.0f}s ago"
            f" (tried again after {RESTING_SECONDS:.0f}s)"
        )


def describe(error: Exception) -> str:
    """A short, secret-free account of what went wrong in a template."""
    if isinstance(error, BudgetExceeded):
        return truncate(redact(one_line(str(error))), 300)
    where = ""
    if isinstance(error, TemplateSyntaxError) and error.lineno:
        where = f" (template line {error.lineno})"
    return truncate(redact(one_line(f"{type(error).__name__}: {error}{where}")), 300)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, made loud about the things it refuses."""

    # A template's arithmetic cannot build a giant string or number: Jinja's
    # sandbox caps range() but not these.
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return guard_tree(super()._parse(source, name, filename))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call a template makes (methods, macros, globals) under the budget."""
        check_time()
        if __obj is not safe_range:  # range is lazy, and loops count their turns
            check_arguments(args, kwargs)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and getattr(__obj, "__name__", "") == "replace":
            check_replace(owner, *args)
        return check_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` as the sandbox wraps it, refusing huge widths first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        pattern = value.__self__

        def format_under_budget(*args: Any, **kwargs: Any) -> str:
            check_format(pattern, args)
            return wrapped(*args, **kwargs)

        return format_under_budget

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # By default an unsafe attribute renders as nothing, which would hide
        # an attempt to escape the sandbox; refusing it makes render() fall back.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_time()
        if operator == "**" and abs(_number(left)).bit_length() * _number(right) > 4096:
            raise SecurityError("number too large")
        if operator == "*":
            size = _sequence_size(left) * _number(right) + _sequence_size(right) * _number(left)
            if size > MAX_OUTPUT_CHARS:
                raise SecurityError("repetition too large")
            if abs(_number(left)).bit_length() + abs(_number(right)).bit_length() > 4096:
                raise SecurityError("number too large")  # squaring in a loop would not end
        if operator == "+":
            check_size_of(_sequence_size(left) + _sequence_size(right))
        if operator == "%":
            check_format(left, right)
        return super().call_binop(context, operator, left, right)


def _sequence_size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# No loader: `{% include %}`, `{% import %}` and `{% extends %}` find nothing.
_environment = _Sandbox(autoescape=False, undefined=ChainableUndefined)
_environment.filters.update(duration=format_duration, percent=format_percent, counts=format_counts)
_environment.filters.update(
    {name: guarded_filter(name, function) for name, function in _environment.filters.items()}
)
_environment.filters.update(budgeted_loop=bounded_loop, budgeted_join=bounded_join)


@functools.lru_cache(maxsize=256)
def compile_template(source: str) -> Template:
    size = len(source.encode())
    if size > MAX_TEMPLATE_BYTES:
        raise ValueError(f"template is {size} bytes, more than {MAX_TEMPLATE_BYTES}")
    return _environment.from_string(source)
