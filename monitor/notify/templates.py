"""Per-notifier title and body templates: Jinja2 in an immutable sandbox.

A template is config, not code. It sees plain data (dicts, lists, strings,
numbers), cannot reach Python internals or files, cannot change what it is
given, is capped in size before and after rendering, and cannot build giant
values. Anything it tries that the sandbox refuses is an error, so the caller
sends the default wording instead of a half-empty message.
"""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from monitor.notify.formatting import (
    format_counts,
    format_duration,
    format_percent,
    one_line,
    truncate,
)
from monitor.redact import redact

MAX_TEMPLATE_BYTES = 8 * 1024
MAX_OUTPUT_CHARS = 16 * 1024  # the most any template may produce


def check_template(source: str) -> None:
    """Raise ValueError saying why `source` cannot be a title or body template
    (config validation; rendering checks again and falls back)."""
    try:
        compile_template(source)
    except Exception as error:
        raise ValueError(f"invalid template: {describe(error)}") from None


def render_template(source: str, variables: dict[str, Any], limit: int) -> str:
    """`source` rendered with `variables`, cut off once it passes `limit`
    characters. Raises whatever the template did wrong."""
    pieces: list[str] = []
    size = 0
    for piece in compile_template(source).generate(variables):
        pieces.append(piece)
        size += len(piece)
        if size > limit:  # stop an endless loop early rather than cap afterwards
            break
    return "".join(pieces)


def describe(error: Exception) -> str:
    """A short, secret-free account of what went wrong in a template."""
    where = ""
    if isinstance(error, TemplateSyntaxError) and error.lineno:
        where = f" (template line {error.lineno})"
    return truncate(redact(one_line(f"{type(error).__name__}: {error}{where}")), 300)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, made loud about the things it refuses."""

    # A template's arithmetic cannot build a giant string or number: Jinja's
    # sandbox caps range() but not these.
    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # By default an unsafe attribute renders as nothing, which would hide
        # an attempt to escape the sandbox; refusing it makes render() fall back.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and abs(_number(left)).bit_length() * _number(right) > 4096:
            raise SecurityError("number too large")
        if operator == "*":
            size = _sequence_size(left) * _number(right) + _sequence_size(right) * _number(left)
            if size > MAX_OUTPUT_CHARS:
                raise SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)


def _sequence_size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# No loader: `{% include %}`, `{% import %}` and `{% extends %}` find nothing.
_environment = _Sandbox(autoescape=False, undefined=ChainableUndefined)
_environment.filters.update(duration=format_duration, percent=format_percent, counts=format_counts)


@functools.lru_cache(maxsize=256)
def compile_template(source: str) -> Template:
    size = len(source.encode())
    if size > MAX_TEMPLATE_BYTES:
        raise ValueError(f"template is {size} bytes, more than {MAX_TEMPLATE_BYTES}")
    return _environment.from_string(source)
