"""A YAML config file read into plain data, keeping the line of every value.

Scalars follow YAML 1.2's core schema rather than PyYAML's YAML 1.1 one, because
1.1 reads the `on:` key and `deadline: off` as booleans, `18:30` as a base-60
number and `0123` as octal. Keys are always their text. Every string value is
interpolated (see interpolate.py) on the way in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.config.errors import ConfigIssue
from monitor.config.interpolate import Interpolator
from monitor.providers.sanitize import escape_controls

Loc = tuple[str | int, ...]
"""Where a value sits in the file: keys and list indexes from the top."""

_TAG = "tag:yaml.org,2002:"
_YAML_1_1_ONLY = {_TAG + "bool", _TAG + "int", _TAG + "float", _TAG + "timestamp"}


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core booleans and numbers, and no timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML_1_1_ONLY]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _TAG + "int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _TAG + "float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text, 10)


_Loader.add_constructor(_TAG + "int", _construct_int)


@dataclass
class Source:
    """The data of one config file, and where each value was written."""

    file: str  # as the caller named it: the FILE in FILE:LINE
    data: Any = None
    lines: dict[Loc, int] = field(default_factory=dict)
    number_texts: dict[Loc, str] = field(default_factory=dict)  # numbers as written
    interpolated: set[Loc] = field(default_factory=set)  # values that hold substitutions
    broken: set[Loc] = field(default_factory=set)  # values whose interpolation failed
    # Where a reference that cannot be resolved is no error (see `read_source`).
    optional: frozenset[str] = frozenset()
    issues: list[ConfigIssue] = field(default_factory=list)

    def line(self, loc: Loc) -> int:
        """The line of `loc`, or of the nearest enclosing value that has one."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return 1

    def add_issue(self, loc: Loc, message: str, line: int | None = None) -> None:
        """Record a problem at `line` (by default the line of `loc`), naming `loc`
        when it is not the top."""
        where = display(loc)
        text = f"{where}: {message}" if where else message
        self.issues.append(ConfigIssue(self.file, self.line(loc) if line is None else line, text))


def display(loc: Loc) -> str:
    """`loc` as a person writes it: watches[0].poll.initial."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def read_source(
    file: str, path: Path, interpolator: Interpolator, optional: frozenset[str] = frozenset()
) -> Source:
    """Read and parse the file at `path`. Problems that stop reading (the file is
    unreadable or not YAML) leave `data` None; the others leave it complete.
    In the top-level sections named in `optional`, a reference that cannot be
    resolved is left as written and reported nowhere."""
    source = Source(file, optional=optional)
    try:
        text = _read_text(path)
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        source.issues.append(ConfigIssue(file, line, "the file is not UTF-8 text"))
        return source
    except OSError as exc:
        source.issues.append(ConfigIssue(file, 0, f"cannot read the file: {exc.strerror or exc}"))
        return source
    except _TooLarge as exc:
        source.issues.append(ConfigIssue(file, 0, str(exc)))
        return source
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # refuses control characters at once
        root = loader.get_single_node()
        source.data = {} if root is None else _Builder(loader, source, interpolator).build(root)
        if source.data is None and not source.issues:
            source.data = {}  # `null` or `~` alone: as empty as an empty file
    except yaml.MarkedYAMLError as exc:
        source.issues.append(_syntax_issue(file, exc))
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", 0)
        message = escape_controls(str(exc).splitlines()[0]) if str(exc) else "not valid YAML"
        source.issues.append(ConfigIssue(file, text.count("\n", 0, position) + 1, message))
    except (RecursionError, _TooLarge) as exc:
        line = getattr(loader, "line", 0) + 1
        source.data = None
        reason = "the YAML is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        source.issues.append(ConfigIssue(file, line, reason))
    finally:
        if loader is not None:
            loader.dispose()
    return source


MAX_FILE_BYTES = 1024 * 1024  # a config is a few kilobytes; a megabyte is a mistake
MAX_VALUES = 100_000  # values built, aliases expanded: a "billion laughs" stops here
MAX_DEPTH = 64  # nesting of blocks and lists


class _TooLarge(Exception):
    """The file, or what its aliases expand to, is past our bounds."""


def _read_text(path: Path) -> str:
    if path.exists() and not path.is_file():
        raise _TooLarge("not a regular file")
    with path.open("rb") as config_file:
        data = config_file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _TooLarge(f"the file is larger than {MAX_FILE_BYTES // 1024} KiB")
    return data.decode("utf-8")


def _syntax_issue(file: str, error: yaml.MarkedYAMLError) -> ConfigIssue:
    # Built from the parts, leaving out PyYAML's snippet of the line: it may hold a secret.
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else 1
    problem, context = error.problem or "", error.context or ""
    if context and error.context_mark and error.context_mark.line + 1 != line:
        context += f" from line {error.context_mark.line + 1}"
    if problem.startswith("but "):
        message = f"{context}, {problem}"
    elif context:
        message = f"{problem} ({context})" if problem else context
    else:
        message = problem or "not valid YAML"
    return ConfigIssue(file, line, f"YAML: {message}")


class _Builder:
    """Turns composed YAML nodes into dicts, lists and scalars, noting lines."""

    def __init__(self, loader: _Loader, source: Source, interpolator: Interpolator) -> None:
        self._loader = loader
        self._source = source
        self._interpolator = interpolator
        self._open: set[int] = set()  # nodes being built, to catch recursive aliases
        self._built = 0

    def build(self, node: Node, loc: Loc = ()) -> Any:
        self._source.lines[loc] = node.start_mark.line + 1
        self._built += 1
        if self._built > MAX_VALUES:
            raise _TooLarge(f"more than {MAX_VALUES} values (aliases expanding without bound?)")
        if len(loc) > MAX_DEPTH:
            raise _TooLarge(f"nested deeper than {MAX_DEPTH} levels")
        if id(node) in self._open:
            self._source.add_issue(loc, "an alias refers to itself")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, SequenceNode):
                return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]
            return self._scalar(node, loc)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        self._reject_duplicate_keys(node, loc)
        self._loader.flatten_mapping(node)  # applies `<<: *anchor` merge keys
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._source.add_issue(loc, "a key must be plain text")
                continue
            key = str(key_node.value)
            result[key] = self.build(value_node, (*loc, key))
            if not isinstance(value_node, ScalarNode):
                # A block or list is pointed at by its key.
                self._source.lines[(*loc, key)] = key_node.start_mark.line + 1
        return result

    def _reject_duplicate_keys(self, node: MappingNode, loc: Loc) -> None:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _TAG + "merge":
                continue
            if key_node.value in seen:
                line = key_node.start_mark.line + 1
                self._source.add_issue(loc, f"duplicate key '{key_node.value}'", line)
            seen.add(key_node.value)

    def _scalar(self, node: Node, loc: Loc) -> Any:
        try:
            value = self._loader.construct_object(node)
        except yaml.MarkedYAMLError as exc:
            self._source.add_issue(loc, exc.problem or "cannot read this value")
            self._source.broken.add(loc)
            return None
        except ValueError:  # an integer of thousands of digits
            self._source.add_issue(loc, "a number with too many digits")
            self._source.broken.add(loc)
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            self._source.number_texts[loc] = str(node.value)
        if not isinstance(value, str):
            return value
        expansion = self._interpolator.expand(value)
        if expansion.errors and loc and loc[0] in self._source.optional:
            self._source.broken.add(loc)  # its validation errors are not news either
            return expansion.text
        for error in expansion.errors:
            self._source.add_issue(loc, error)
        if expansion.errors:
            self._source.broken.add(loc)
        if expansion.substituted:
            self._source.interpolated.add(loc)
        return expansion.text
