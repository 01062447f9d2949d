"""The pure half of http_json: a decoded response in, a JobStatus out, by the
JMESPath expressions of one provider block. No I/O: `loadwatch explain` and the
payload tests call it directly."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, NoReturn

from jmespath.exceptions import JMESPathError

from monitor.domain import JobStatus
from monitor.providers.base import FailureKind, PollFailure, Throttled
from monitor.providers.http import reason_text
from monitor.providers.http_json_settings import ErrorKind, ErrorRule, HttpJsonSettings
from monitor.providers.jmespath_support import Expression, is_true
from monitor.providers.sanitize import clean_text
from monitor.providers.timestamps import iso_or_epoch_time

log = logging.getLogger(__name__)

_FACTS = ("message", "children", "started_at", "finished_at", "job_id", "error_message")
_FAILURES = {
    ErrorKind.REJECTED: (FailureKind.REJECTED, "{said}"),
    ErrorKind.AUTH: (FailureKind.AUTH, "credentials refused ({said})"),
    ErrorKind.NOT_FOUND: (FailureKind.NOT_FOUND, "job not found ({said})"),
    ErrorKind.SERVER_ERROR: (FailureKind.SERVER_ERROR, "server error ({said})"),
    ErrorKind.MALFORMED: (FailureKind.MALFORMED, "malformed payload: {said}"),
}


@dataclass(frozen=True)
class Evaluation:
    """A mapped response, and which rule decided its state."""

    status: JobStatus
    rule: int  # index into the block's `rules`


class ResponseMapping:
    """One provider block's expressions, compiled once and applied to responses."""

    def __init__(self, name: str, settings: HttpJsonSettings) -> None:
        self.name = name
        self.settings = settings
        self._status = self._compile("status", settings.status)
        self._rules = [
            (self._compile(f"rules[{i}].when", rule.when), rule.state)
            for i, rule in enumerate(settings.rules)
        ]
        self._errors = [
            (self._compile(f"error_when[{i}].when", rule.when), rule)
            for i, rule in enumerate(settings.error_when)
        ]
        self._error_messages = {
            i: self._compile(f"error_when[{i}].message", rule.message)
            for i, rule in enumerate(settings.error_when)
            if rule.message is not None
        }
        self._facts = {
            key: self._compile(key, getattr(settings, key))
            for key in _FACTS
            if getattr(settings, key) is not None
        }
        for key in ("progress", "counts"):
            paths = getattr(settings, key)
            for field, text in (paths.model_dump() if paths else {}).items():
                if isinstance(text, str):
                    self._facts[f"{key}.{field}"] = self._compile(f"{key}.{field}", text)
        self._details = {
            name: self._compile(f"details.{name}", text) for name, text in settings.details.items()
        }

    def evaluate(self, payload: Any, job_id: str) -> Evaluation:
        """The status `payload` maps to. Raises PollFailure or Throttled for
        error responses and statuses no rule knows."""
        self.raise_for_errors(payload)
        raw_status = self._raw_status(payload)
        rule = self._matching_rule(payload, raw_status, job_id)
        status = JobStatus(
            state=self._rules[rule][1],
            raw_status=raw_status,
            progress=self._progress(payload),
            processed=_count(self._fact("counts.processed", payload)),
            errors=_count(self._fact("counts.errors", payload)),
            total=_count(self._fact("counts.total", payload)),
            message=_text(self._fact("message", payload)),
            children=_texts(self._fact("children", payload)),
            started_at=iso_or_epoch_time(self._fact("started_at", payload)),
            finished_at=iso_or_epoch_time(self._fact("finished_at", payload)),
            job_id=_scalar_text(self._fact("job_id", payload)),
            details={
                name: value
                for name, expression in self._details.items()
                if _worth_keeping(value := self._search(expression, payload))
            },
        )
        return Evaluation(status, rule)

    def raise_for_errors(self, payload: Any) -> None:
        """Raise what the first `error_when` rule that holds for `payload` means."""
        for index, (expression, rule) in enumerate(self._errors):
            if is_true(self._search(expression, payload)):
                self._raise_error(index, rule, payload)

    def _raise_error(self, index: int, rule: ErrorRule, payload: Any) -> NoReturn:
        message = self._error_messages.get(index)
        said = reason_text(
            (_text(self._search(message, payload)) if message else None)
            or _text(self._fact("error_message", payload))
            or _vendor_words(payload)
            or f"error_when matched: {rule.when}"
        )
        if rule.kind is ErrorKind.THROTTLED:
            raise Throttled(f"rate limited ({said})", retry_after=rule.retry_after)
        kind, template = _FAILURES[rule.kind]
        raise PollFailure(kind, template.format(said=said))

    def _raw_status(self, payload: Any) -> str:
        value = self._search(self._status, payload)
        if value is None:
            problem = f"malformed payload: no status at '{self._status.text}'"
            raise PollFailure(FailureKind.MALFORMED, reason_text(problem))
        text = _scalar_text(value)
        if text is None:
            problem = f"malformed payload: the status at '{self._status.text}' is not one value"
            raise PollFailure(FailureKind.MALFORMED, reason_text(problem))
        return text

    def _matching_rule(self, payload: Any, raw_status: str, job_id: str) -> int:
        for index, (expression, _) in enumerate(self._rules):
            if is_true(self._search(expression, payload)):
                return index
        log.warning(
            "http_json provider %s, job %s: no rule matches status '%s'; the rules need updating",
            self.name,
            job_id,
            clean_text(raw_status, 200),
        )
        raise PollFailure(
            FailureKind.UNRECOGNIZED,
            f"unrecognized status '{reason_text(raw_status)}'",
            raw_status=raw_status,
        )

    def _progress(self, payload: Any) -> float | None:
        paths = self.settings.progress
        if paths is None:
            return None
        part: float | None
        whole: float | None
        if paths.value is not None:
            part, whole = _number(self._fact("progress.value", payload)), paths.scale
        else:
            part = _number(self._fact("progress.done", payload))
            whole = _number(self._fact("progress.total", payload))
        if part is None or whole is None or whole <= 0:
            return None
        return min(1.0, max(0.0, part / whole))

    def _fact(self, key: str, payload: Any) -> Any:
        expression = self._facts.get(key)
        return None if expression is None else self._search(expression, payload)

    def _search(self, expression: Expression, payload: Any) -> Any:
        try:
            return expression.search(payload)
        except JMESPathError as error:
            # The response has a shape the expression does not expect.
            problem = f"malformed payload: '{expression.text}' failed: {error}"
            raise PollFailure(FailureKind.MALFORMED, reason_text(problem)) from None

    def _compile(self, key: str, text: str) -> Expression:
        try:
            return Expression(text)
        except ValueError as error:  # validated at load; only a hand-built block gets here
            raise ValueError(f"http_json provider {self.name}: {key}: {error}") from None


def _vendor_words(payload: Any) -> str | None:
    """The usual places a vendor puts its error text, for error_when matches
    with no `error_message`."""
    if not isinstance(payload, dict):
        return None
    for key in ("message", "error_description", "description", "error"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _worth_keeping(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)  # true, 3, 2.5: as the vendor wrote it
    return None


def _text(value: Any) -> str | None:
    """A message from whatever the expression selected: text as is, a list
    joined, an object as compact JSON."""
    if value is None:
        return None
    if isinstance(value, list):
        parts = [_text(item) for item in value]
        text = "; ".join(part for part in parts if part)
    elif isinstance(value, dict):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    else:
        text = _scalar_text(value) or ""
    return text.strip() or None


def _texts(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(text for item in items if (text := _text(item)))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None
