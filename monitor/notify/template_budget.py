"""The time and size budget a notifier template renders under.

Jinja's sandbox keeps a template away from Python internals but not from
burning time or memory: nested loops, recursive macros, `%`-format widths,
`center(10**9)`, `replace` on a long string. A template is config, and a
careless one must never freeze the daemon or cost a message. So every loop,
call, filter and operator a template runs goes through a check here: the
render stops (and the default wording goes out) once it passes its time
budget, its iteration budget, or would build a value larger than any message.

`unbounded_parts` is the static half, for `loadwatch check`: constructs that
are unbounded by their shape (a loop over `range` inside another loop, huge
number literals fed to repetition, widths or calls).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.sandbox import SecurityError

RENDER_SECONDS = 0.25  # a template that needs longer is not a message template
MAX_ITERATIONS = 20_000  # loop turns per render, all loops together
MAX_VALUE_SIZE = 64 * 1024  # characters (or items) any one value may hold
MAX_ARGUMENT = 16 * 1024  # widths, counts and lengths handed to calls and filters
_WIDE_FORMAT = re.compile(r"\d{5,}|\*")  # a width or precision of 10,000 or more, or from args


class BudgetExceeded(SecurityError):
    """The template went past its budget; the text says which. `costly` when
    it spent its time (or loop turns) getting there."""

    def __init__(self, message: str, *, costly: bool = False) -> None:
        super().__init__(message)
        self.costly = costly


class _Budget(threading.local):
    deadline: float | None = None
    iterations: int = 0


_budget = _Budget()


class budget:
    """Context manager: the render inside it runs under the budget."""

    def __init__(self, seconds: float = RENDER_SECONDS) -> None:
        self._seconds = seconds

    def __enter__(self) -> None:
        _budget.deadline = time.monotonic() + self._seconds
        _budget.iterations = 0

    def __exit__(self, *exc: object) -> None:
        _budget.deadline = None


def check_time() -> None:
    """Raise BudgetExceeded once the render has used up its time."""
    deadline = _budget.deadline
    if deadline is not None and time.monotonic() > deadline:
        raise BudgetExceeded(
            f"template ran past its time budget of {RENDER_SECONDS:g}s", costly=True
        )


def bounded_loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """What a template's `{% for %}` iterates: the same items, each one
    counted against the render's budget."""
    for item in iterable:
        _budget.iterations += 1
        if _budget.iterations > MAX_ITERATIONS:
            raise BudgetExceeded(
                f"template loops ran more than {MAX_ITERATIONS} times", costly=True
            )
        check_time()
        yield item


def bounded_join(values: list[Any]) -> str:
    """What a template's `~` concatenation does, refusing a giant result."""
    text = "".join(str(value) for value in values)
    check_size(text)
    return text


def check_size(value: Any) -> Any:
    """`value`, unless it is a string or container too large for any message."""
    if isinstance(value, str | list | tuple | dict | set) and len(value) > MAX_VALUE_SIZE:
        raise BudgetExceeded(f"template built a value of more than {MAX_VALUE_SIZE} items")
    return value


def check_arguments(args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    """Refuse a number too large to be a width, count or length."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT:
            raise BudgetExceeded(f"template passed {value} where at most {MAX_ARGUMENT} is allowed")


def check_format(pattern: Any, arguments: Any = ()) -> None:
    """Refuse a `%` or `.format` pattern with a huge width or precision."""
    if isinstance(pattern, str) and _WIDE_FORMAT.search(pattern):
        values = arguments if isinstance(arguments, tuple | list) else (arguments,)
        if "*" not in pattern or any(isinstance(v, int) and abs(v) > MAX_ARGUMENT for v in values):
            raise BudgetExceeded("template format width or precision too large")


def check_replace(value: Any, old: Any, new: Any, *rest: Any) -> None:
    """Refuse a `replace` whose result would be too large (counted before it is built)."""
    if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
        growth = (value.count(old) if old else len(value) + 1) * max(0, len(new) - len(old))
        check_size_of(len(value) + growth)


def check_size_of(size: int) -> None:
    if size > MAX_VALUE_SIZE:
        raise BudgetExceeded(f"template built a value of more than {MAX_VALUE_SIZE} items")


def guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja's built-in filter `function`, under the budget."""

    @functools.wraps(function)  # keeps Jinja's pass_context marks
    def filter_under_budget(*args: Any, **kwargs: Any) -> Any:
        check_time()
        values = [a for a in args if not _is_jinja_object(a)]
        check_arguments(values[1:], kwargs)
        if name == "format" and values:
            check_format(values[0], tuple(values[1:]))
        if name == "replace" and len(values) >= 3:
            check_replace(*values)
        return check_size(function(*args, **kwargs))

    return filter_under_budget


def _is_jinja_object(value: Any) -> bool:
    return type(value).__module__.startswith("jinja2.")


def guard_tree(tree: nodes.Template) -> nodes.Template:
    """The parsed template with each loop and `~` routed through the budget."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, "budgeted_loop", [], [], None, None)
    for concat in list(tree.find_all(nodes.Concat)):
        joined = nodes.Filter(nodes.List(concat.nodes), "budgeted_join", [], [], None, None)
        concat.nodes = [joined]
    return tree


def unbounded_parts(tree: nodes.Template) -> list[str]:
    """What in the template is unbounded by its shape, in words (empty: none)."""
    problems: list[str] = []
    for outer in tree.find_all(nodes.For):
        for inner in outer.find_all(nodes.For):
            if _large_range(inner.iter) or _large_range(outer.iter):
                problems.append(f"a loop over range() inside another loop (line {inner.lineno})")
                break
    for call in tree.find_all((nodes.Call, nodes.Filter)):
        if isinstance(call, nodes.Call) and _is_range(call):
            continue  # a single loop over range counts its turns
        assert isinstance(call, nodes.Call | nodes.Filter)
        for argument in [*call.args, *(k.value for k in call.kwargs)]:
            if isinstance(argument, nodes.Const) and _huge_constant(argument):
                problems.append(f"the number {argument.value} as an argument (line {call.lineno})")
    for operation in tree.find_all((nodes.Mul, nodes.Pow, nodes.Mod)):
        assert isinstance(operation, nodes.BinExpr)
        for side in (operation.left, operation.right):
            if not isinstance(side, nodes.Const):
                continue
            if _huge_constant(side):
                problems.append(f"the number {side.value} in arithmetic (line {operation.lineno})")
            wide = isinstance(side.value, str) and _WIDE_FORMAT.search(side.value)
            if wide and isinstance(operation, nodes.Mod):
                problems.append(f"a huge format width (line {operation.lineno})")
    return problems


_SMALL_RANGE = 100  # nested loops over range(100) or less stay bounded


def _large_range(node: nodes.Node) -> bool:
    """Whether `node` calls range() with anything but small constants."""
    calls = [node, *node.find_all(nodes.Call)] if isinstance(node, nodes.Call) else []
    calls += [call for call in node.find_all(nodes.Call) if call not in calls]
    for call in calls:
        if _is_range(call):
            arguments = [*call.args, *(k.value for k in call.kwargs)]
            if call.dyn_args or call.dyn_kwargs or not all(_small(a) for a in arguments):
                return True
    return False


def _is_range(call: nodes.Call) -> bool:
    return isinstance(call.node, nodes.Name) and call.node.name == "range"


def _small(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Const)
        and isinstance(node.value, int)
        and (abs(node.value) <= _SMALL_RANGE)
    )


def _huge_constant(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Const)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
        and abs(node.value) > MAX_ARGUMENT
    )
