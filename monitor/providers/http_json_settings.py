"""The `type: http_json` provider block (PROVIDERS.md, http_json): a request
template and JMESPath expressions, each compiled at config load so that a typo
is a FILE:LINE error, not a failure at the first poll."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.config.types import Duration
from monitor.domain import State
from monitor.providers.base import ProviderSettings
from monitor.providers.jmespath_support import compile_expression

JOB_PLACEHOLDER = "{job}"

# Header names, body keys and query parameters holding one of these words carry
# credentials: their values are registered as secrets.
_CREDENTIAL_WORDS = ("auth", "token", "key", "secret", "password", "session", "cookie")


def _compiles(text: str) -> str:
    compile_expression(text)
    return text


JMESPath = Annotated[str, AfterValidator(_compiles)]
ErrorStatus = Annotated[int, Field(ge=400, le=599)]


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _http_url(value: str) -> str:
    if value.startswith("/"):
        return value  # joined to base_url; checked with it below
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must start with http:// or https://, or with / to follow base_url")
    return value


class RequestTemplate(_Block):
    """The one request that asks about a job; `{job}` is replaced by the job id
    in the url (URL-encoded), the header values and the body's strings."""

    method: Annotated[Literal["GET", "POST"], BeforeValidator(_upper)] = "GET"
    url: Annotated[str, AfterValidator(_http_url)]
    headers: dict[str, str] = {}
    body: Any = None  # any JSON value, sent with POST

    @model_validator(mode="after")
    def _body_only_with_post(self) -> RequestTemplate:
        if self.body is not None and self.method != "POST":
            raise ValueError("a body is sent only with method: POST")
        return self


class ProgressPaths(_Block):
    """Progress as `done` / `total`, or as `value` / `scale` (JMESPath has no
    arithmetic, so the division is ours)."""

    done: JMESPath | None = None
    total: JMESPath | None = None
    value: JMESPath | None = None
    scale: float = Field(default=1.0, gt=0)  # 100 for a percentage

    @model_validator(mode="after")
    def _one_form(self) -> ProgressPaths:
        ratio = self.done is not None or self.total is not None
        if ratio == (self.value is not None):
            raise ValueError("give progress as {done, total} or as {value, scale}")
        if ratio and (self.done is None or self.total is None):
            raise ValueError("progress needs both done and total")
        return self


class CountPaths(_Block):
    """Where the record counts are; each optional."""

    processed: JMESPath | None = None
    errors: JMESPath | None = None
    total: JMESPath | None = None


def _not_unknown(state: State) -> State:
    if state is State.UNKNOWN:
        raise ValueError("a rule must name a state a job can be in, not unknown")
    return state


class Rule(_Block):
    """`when` holds for the response (JMESPath truth): the job is in `state`."""

    when: JMESPath
    state: Annotated[State, AfterValidator(_not_unknown)]


class ErrorKind(enum.StrEnum):
    """What a response that `error_when` matches means."""

    REJECTED = "rejected"  # a failed poll, the vendor's words as reason
    AUTH = "auth"  # credentials refused: reported once per provider
    NOT_FOUND = "not_found"
    SERVER_ERROR = "server_error"
    MALFORMED = "malformed"  # not the shape a status answer has
    THROTTLED = "throttled"  # not a failed poll: the provider pauses


class ErrorRule(_Block):
    """`when` holds for the response: it is an error of `kind`, not a status."""

    when: JMESPath
    kind: ErrorKind = ErrorKind.REJECTED
    message: JMESPath | None = None  # the reason; default: the block's error_message
    retry_after: Duration | None = None  # throttled: how long to pause

    @model_validator(mode="after")
    def _retry_after_only_when_throttled(self) -> ErrorRule:
        if self.retry_after is not None and self.kind is not ErrorKind.THROTTLED:
            raise ValueError("retry_after is only for kind: throttled")
        return self


def _error_rules(value: Any) -> Any:
    """`error_when: EXPR` is short for `error_when: [{when: EXPR}]`."""
    if isinstance(value, str):
        return [{"when": _compiles(value)}]
    return value


class ListSettings(_Block):
    """The block's job list endpoint, for `discover:` (http_json_list.py)."""

    url: str
    items: JMESPath
    id: JMESPath
    created: JMESPath | None = None
    next: JMESPath | None = None
    max_pages: int = Field(default=10, ge=1, le=1000)


class HttpJsonSettings(ProviderSettings):
    """A `type: http_json` provider block."""

    type: Literal["http_json"] = "http_json"
    base_url: str = ""  # optional: a request.url starting with / is joined to it
    request: RequestTemplate
    status: JMESPath  # the raw status
    rules: list[Rule] = Field(min_length=1)  # ordered; the first that holds wins
    progress: ProgressPaths | None = None
    counts: CountPaths | None = None
    message: JMESPath | None = None
    children: JMESPath | None = None  # a list of texts: the parts that did not succeed
    started_at: JMESPath | None = None  # ISO 8601 text, or epoch seconds or milliseconds
    finished_at: JMESPath | None = None
    job_id: JMESPath | None = None  # the vendor's id, when it differs from the one asked
    details: dict[str, JMESPath] = {}  # kept facts; `history` is shown in failure messages
    error_when: Annotated[list[ErrorRule], BeforeValidator(_error_rules)] = []
    error_message: JMESPath | None = None  # the reason given for an error_when match
    not_found_status: list[ErrorStatus] = [404]
    auth_status: list[ErrorStatus] = [401, 403]
    # The job list endpoint, for `discover:` and `expect:` (http_json_list.py).
    listing: ListSettings | None = Field(default=None, alias="list")

    @field_validator("request")
    @classmethod
    def _relative_url_needs_base_url(
        cls, request: RequestTemplate, info: ValidationInfo
    ) -> RequestTemplate:
        if request.url.startswith("/"):
            base_url = info.data.get("base_url") or ""
            if not base_url:
                raise ValueError("request.url starts with / but there is no base_url")
            _http_url(base_url)
        return request

    def request_url(self) -> str:
        """The url template, joined to base_url when it is a path."""
        url = self.request.url
        if url.startswith("/"):
            return self.base_url.rstrip("/") + url
        return url

    def secrets(self) -> list[str]:
        """Credential-looking header values (and the credential after an
        `Authorization` scheme), body values and query values, and a URL password."""
        found: list[str] = []
        for name, value in self.request.headers.items():
            if _is_credential(name):
                found.append(value)
                scheme, _, credential = value.partition(" ")
                if credential.strip() and scheme.isalpha():
                    found.append(credential.strip())
        found += _credentials_in_body(self.request.body)
        for url in (self.request.url, self.base_url):
            parts = urlsplit(url)
            found += [value for key, value in parse_qsl(parts.query) if _is_credential(key)]
            if parts.password:
                found.append(unquote(parts.password))
        return [value for value in found if value]


def _is_credential(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _CREDENTIAL_WORDS)


def _credentials_in_body(body: Any, key: str = "") -> list[str]:
    if isinstance(body, dict):
        return [found for k, v in body.items() for found in _credentials_in_body(v, str(k))]
    if isinstance(body, list):
        return [found for item in body for found in _credentials_in_body(item, key)]
    if isinstance(body, str) and _is_credential(key):
        return [body]
    return []
