"""JMESPath for provider mappings written in config: compiled once, checked at
config load (syntax and function names), and evaluated with two extra functions.

`lower()` and `upper()` are ours: vendors such as Incorta write the same status
in several cases ("Finished with Errors", "finished with errors"), and standard
JMESPath cannot compare text without case.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import jmespath
from jmespath import functions
from jmespath.exceptions import (
    IncompleteExpressionError,
    JMESPathError,
    LexerError,
    ParseError,
)
from jmespath.parser import ParsedResult


class _Functions(functions.Functions):
    @functions.signature({"types": ["string"]})
    def _func_lower(self, text: str) -> str:
        return text.lower()

    @functions.signature({"types": ["string"]})
    def _func_upper(self, text: str) -> str:
        return text.upper()


_OPTIONS = jmespath.Options(custom_functions=_Functions())
# JMESPath only looks a function up when it is called: check names at load.
_FUNCTION_NAMES = frozenset(_Functions.FUNCTION_TABLE)


class Expression:
    """One compiled JMESPath expression and the text it was written as."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._parsed = compile_expression(text)

    def search(self, data: Any) -> Any:
        """The value the expression selects in `data`; JMESPathError when a
        function gets the wrong kind of value."""
        return self._parsed.search(data, options=_OPTIONS)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


@cache
def compile_expression(text: str) -> ParsedResult:
    """`text` compiled, or ValueError saying in one line what is wrong with it."""
    if not text.strip():
        raise ValueError("a JMESPath expression cannot be empty")
    try:
        parsed = jmespath.compile(text)
    except ParseError as error:
        problem = f"'{text}' is not a valid JMESPath expression: {_parse_problem(error)}"
        raise ValueError(problem) from None
    except JMESPathError as error:
        raise ValueError(f"'{text}' is not a valid JMESPath expression: {error}") from None
    for name in _called_functions(parsed.parsed):
        if name not in _FUNCTION_NAMES:
            raise ValueError(f"'{text}' calls unknown JMESPath function {name}()")
    return parsed


def is_true(value: Any) -> bool:
    """JMESPath's truth: null, false, "", [] and {} are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def _parse_problem(error: ParseError) -> str:
    """What went wrong and where, in one line (jmespath's own text spans three)."""
    if isinstance(error, LexerError):  # an unclosed quote or literal
        problem = error.message.lower()
    elif isinstance(error, IncompleteExpressionError):
        problem = "the expression ends too early"
    else:
        problem = error.msg.lower()
    return f"{problem} at character {error.lex_position + 1}"


def _called_functions(node: Any) -> Iterator[str]:
    if not isinstance(node, dict):
        return
    if node.get("type") == "function_expression":
        yield str(node.get("value"))
    for child in node.get("children", []):
        yield from _called_functions(child)
