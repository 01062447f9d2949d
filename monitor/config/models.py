"""The validated config (SPEC §4), and the one home of every default."""

from __future__ import annotations

import logging
import re
from datetime import time
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import apprise
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from monitor.config.expect import Expectation
from monitor.config.quiet import QuietWindow
from monitor.config.types import Duration, parse_duration
from monitor.domain import Event
from monitor.notify.console import register_console_scheme
from monitor.notify.templates import check_template
from monitor.providers.base import ProviderSettings
from monitor.providers.sanitize import storable_job_id

_HOUR = 3600.0
_DAY = 24 * _HOUR
# A letter or digit first: no "." or ".." (they read as paths in URLs and
# files), no "-" that a command line would take for an option.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
_TIME_OF_DAY = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_DEADLINE_FORMS = "use a duration like 24h, a time of day like 06:00, auto, or off"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_name(value: str) -> str:
    """`value` if it can name a watch, provider or notifier (it is used in the CLI)."""
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"'{_shown(value)}' is not a valid name"
            " (use letters, digits, - _ .; at most 200, starting with a letter or digit)"
        )
    return value


def _shown(value: str) -> str:
    """A refused name as it may be quoted in an error: controls escaped, cut short."""
    shown = value.encode("unicode_escape", "backslashreplace").decode("ascii")
    return shown if len(shown) <= 60 else shown[:59] + "…"


Name = Annotated[str, AfterValidator(check_name)]


class PollPolicy(_Settings):
    """How often a job is polled: `initial` * `factor`^n, capped at `max`, ± `jitter`."""

    initial: Duration = Field(default=15.0, gt=0)
    factor: float = Field(default=2.0, ge=1)
    max: Duration = Field(default=10 * 60.0, gt=0)
    jitter: float = Field(default=0.1, ge=0, le=1)


class RetryPolicy(_Settings):
    """How a failed delivery is retried: `initial` * `factor`^n, capped at `max`."""

    initial: Duration = Field(default=10.0, gt=0)
    factor: float = Field(default=2.0, ge=1)
    max: Duration = Field(default=30 * 60.0, gt=0)


class Deadline(_Settings):
    """When a job is overdue: `seconds` after its watch began (`after`), past a
    `time_of_day`, at a time learned from past runs (`auto`), or never (`off`)."""

    kind: Literal["after", "time_of_day", "auto", "off"]
    seconds: float | None = None
    time_of_day: time | None = None

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Deadline:
        if (self.kind == "after") != (self.seconds is not None):
            raise ValueError("a deadline has seconds exactly when its kind is 'after'")
        if (self.kind == "time_of_day") != (self.time_of_day is not None):
            raise ValueError("a deadline has a time of day exactly when its kind is 'time_of_day'")
        return self


def parse_deadline(value: Any) -> Any:
    """A Deadline from config text: a duration, "HH:MM", `auto`, or null/`off`."""
    if isinstance(value, Deadline | dict):
        return value
    if value is None or value is False:
        return Deadline(kind="off")
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("off", "auto"):
            return Deadline(kind="off" if word == "off" else "auto")
        if clock := _TIME_OF_DAY.fullmatch(word):
            hour, minute = (int(part) for part in clock.groups())
            return Deadline(kind="time_of_day", time_of_day=time(hour, minute))
    try:
        seconds = parse_duration(value)
    except ValueError:
        shown = f"'{value}' is" if isinstance(value, str) else "this is"
        raise ValueError(f"{shown} not a deadline ({_DEADLINE_FORMS})") from None
    if seconds == 0:
        raise ValueError("a deadline of 0 is always overdue (use off to have none)")
    return Deadline(kind="after", seconds=seconds)


def _every_event_but_started() -> list[Event]:
    return [event for event in Event if event is not Event.STARTED]


class WatchPolicy(_Settings):
    """The watch-level keys: set under `defaults:`, and per watch key by key."""

    poll: PollPolicy = PollPolicy()
    stall_after: Duration = Field(default=2 * _HOUR, gt=0)
    deadline: Annotated[Deadline, BeforeValidator(parse_deadline)] = Deadline(
        kind="after", seconds=_DAY
    )
    deadline_fallback: Duration = Field(default=_DAY, gt=0)  # for `auto` until it has history
    unreachable_after: int = Field(default=5, ge=1)
    repeat: Duration = 4 * _HOUR  # 0: no reminders
    discover_every: Duration = Field(default=60.0, gt=0)
    notify: list[str] = []
    on: list[Event] = Field(default_factory=_every_event_but_started)
    quiet: list[QuietWindow] = []  # times its events are held back (config/quiet.py)


def job_or_discover_problem(job: Any, discover: Any) -> str | None:
    """What is wrong with a watch's choice of `job` and `discover`, if anything."""
    if job is not None and discover is not None:
        return "give job or discover, not both"
    if job is None and discover is None:
        return "give job (a job id) or discover (filters for new jobs)"
    return None


def _job_id_text(value: Any) -> Any:
    # Job ids are strings everywhere; YAML makes an unquoted numeric id a number.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def check_job_id(value: str) -> str:
    """`value` if it can be stored and sent as a job id (the jobs.job_id column)."""
    if storable_job_id(value) is None:
        raise ValueError(
            f"'{_shown(value)}' cannot be a job id (at most 500 characters, no control characters)"
        )
    return value


JobId = Annotated[
    str, BeforeValidator(_job_id_text), Field(min_length=1), AfterValidator(check_job_id)
]


class WatchSettings(WatchPolicy):
    """One watched job (`job`) or stream of new jobs (`discover`), defaults merged in."""

    name: Name
    provider: str
    job: (
        Annotated[
            str, BeforeValidator(_job_id_text), Field(min_length=1), AfterValidator(check_job_id)
        ]
        | None
    ) = None
    discover: dict[str, Any] | None = None  # filters, passed to the provider as given
    expect: Expectation | None = None  # discovery watches: when a new job is due

    @model_validator(mode="after")
    def _job_or_discover(self) -> WatchSettings:
        problem = job_or_discover_problem(self.job, self.discover)
        if problem:
            raise ValueError(problem)
        if self.expect is not None and self.discover is None:
            raise ValueError("expect needs discover: only a discovery watch waits for new jobs")
        return self


def _check_apprise_url(url: str) -> str:
    register_console_scheme()
    # Apprise logs its own complaint (with part of the URL); the config error
    # below says it with the file and line, so keep Apprise quiet here.
    apprise_log = logging.getLogger("apprise")
    was_disabled, apprise_log.disabled = apprise_log.disabled, True
    try:
        usable = apprise.Apprise.instantiate(url) is not None
    finally:
        apprise_log.disabled = was_disabled
    if usable:
        return url
    # Never echo the URL: it may hold a password or a webhook key.
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if scheme is None:
        raise ValueError("not an Apprise URL (it needs a scheme, such as json:// or mailto://)")
    raise ValueError(f"Apprise cannot use this {scheme.group(1)}:// URL (check its parts)")


class NotifierSettings(_Settings):
    """Where and how one notifier delivers: Apprise URLs, grouping, retries, templates."""

    urls: list[Annotated[str, AfterValidator(_check_apprise_url)]] = Field(min_length=1)
    group_wait: Duration = 0.0
    notify_retry_for: Duration = _DAY
    retry: RetryPolicy = RetryPolicy()
    title: str | None = None  # Jinja2 templates, rendered by the notifier
    body: str | None = None
    # "json": the body is a JSON document of the event's facts (notify/json_format.py).
    format: Literal["text", "json"] = "text"

    @field_validator("title", "body")
    @classmethod
    def _template_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            check_template(value)  # a broken template is a config error, not a surprise later
        return value

    @model_validator(mode="after")
    def _json_has_no_body_template(self) -> NotifierSettings:
        if self.format == "json" and self.body is not None:
            raise ValueError("format: json writes the body itself; drop `body` (title still works)")
        return self


class HttpSettings(_Settings):
    """The optional HTTP endpoint: health, metrics, the status page and the API."""

    listen: str = "127.0.0.1:9311"
    token: str | None = Field(default=None, repr=False)  # bearer token for writes (/api/watches)
    # Guards the status page and the read API; None leaves reading open (fine on loopback).
    read_token: str | None = Field(default=None, repr=False)

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        _split_listen(value)
        return value

    @property
    def host(self) -> str:
        return _split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return _split_listen(self.listen)[1]

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach the listener."""
        host = self.host
        if host == "localhost":
            return True
        try:
            return ip_address(host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to anything


def _split_listen(value: str) -> tuple[str, int]:
    problem = f"'{value}' is not host:port (such as 127.0.0.1:9311 or [::1]:9311)"
    try:
        parts = urlsplit(f"//{value}")
        port = parts.port
    except ValueError:
        raise ValueError(problem) from None
    if not parts.hostname or port is None or parts.path or parts.query or "@" in value:
        raise ValueError(problem)
    return parts.hostname, port


class Config(_Settings):
    """A whole, valid config file."""

    path: Path  # the file it came from, absolute
    database: str = "sqlite:///loadwatch.db"  # relative: see config.database.sqlite_base
    timezone: str | None = None  # IANA name; None: the machine's
    # How long a job stays with the instance polling it when that instance
    # stops renewing (it died): its jobs move to the others within this plus
    # one poll interval. Renewed every third of it.
    lease: Duration = Field(default=30.0, ge=1.0, le=3600.0)
    # Finished jobs and delivered notifications older than this are pruned; 0 keeps all.
    retention: Duration = Field(default=90 * _DAY, ge=0)
    http: HttpSettings | None = None
    defaults: WatchPolicy = WatchPolicy()
    providers: dict[str, ProviderSettings] = {}
    notifiers: dict[str, NotifierSettings] = {}
    watches: list[WatchSettings] = []

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                problem = f"'{value}' is not a time zone (use a name like Europe/Paris)"
                raise ValueError(problem) from None
        return value
