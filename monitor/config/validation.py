"""Pydantic's validation errors, told as short FILE:LINE messages that show no secret."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from monitor.config.source import Loc, Source
from monitor.config.suggest import did_you_mean, keys_at
from monitor.redact import MASK

# A value under a key holding one of these words is never echoed.
_SECRET_WORDS = ("token", "key", "password", "secret", "auth")


def add_validation_issues(
    source: Source, error: ValidationError, prefix: Loc, model: type[BaseModel] | None = None
) -> None:
    """Add one issue per error in `error`, for `model` validated from the data at
    `prefix`. Errors in values whose interpolation already failed are left out."""
    for detail in error.errors(include_url=False):
        loc = (*prefix, *detail["loc"])
        if any(loc[:end] in source.broken for end in range(1, len(loc) + 1)):
            continue
        if detail["type"] == "missing":
            source.add_issue(loc[:-1], f"missing key '{loc[-1]}'")
        elif detail["type"] == "extra_forbidden":
            known = keys_at(model, detail["loc"][:-1]) if model is not None else []
            hint = did_you_mean(str(loc[-1]), known)
            source.add_issue(loc[:-1], f"unknown key '{loc[-1]}'{hint}", source.line(loc))
        else:
            masked = _is_secret(loc) or loc in source.interpolated
            source.add_issue(loc, _describe(detail, masked))


def _is_secret(loc: Loc) -> bool:
    words = [part.lower() for part in loc if isinstance(part, str)]
    return any(secret in word for word in words for secret in _SECRET_WORDS)


def _describe(detail: ErrorDetails, masked: bool) -> str:
    kind, value = detail["type"], detail["input"]
    context: dict[str, Any] = dict(detail.get("ctx") or {})
    shown = MASK if masked else _show(value)
    if kind in ("value_error", "assertion_error"):
        return _without_value(str(context.get("error", detail["msg"])), value, masked)
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{shown} is not a whole number"
    if kind in ("float_parsing", "float_type"):
        return f"{shown} is not a number"
    if kind in ("bool_parsing", "bool_type"):
        return f"{shown} is not true or false"
    if kind == "string_type":
        hint = " (put it in quotes)" if isinstance(value, int | float) else ""
        return f"expected text, not {_kind(value)}{hint}"
    if kind == "list_type":
        return f"expected a list, not {_kind(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys, not {_kind(value)}"
    if kind in ("enum", "literal_error"):
        return f"{shown} is not one of {context.get('expected')}"
    if kind in ("too_short", "string_too_short"):
        return "cannot be empty" if context.get("min_length") == 1 else detail["msg"]
    bounds = {
        "greater_than": "greater than {gt}",
        "greater_than_equal": "at least {ge}",
        "less_than": "less than {lt}",
        "less_than_equal": "at most {le}",
    }
    if kind in bounds:
        limits = {name: f"{limit:g}" for name, limit in context.items()}
        return "must be " + bounds[kind].format(**limits)
    return detail["msg"]


def _without_value(message: str, value: Any, masked: bool) -> str:
    if masked and isinstance(value, str) and value.strip():
        for text in (value, value.strip()):
            message = message.replace(text, MASK)
    return message


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else f"'{value[:57]}...'"
    if isinstance(value, bool | int | float) or value is None:
        return str(value)
    return _kind(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "nothing (null)"
    return "text" if isinstance(value, str) else type(value).__name__
