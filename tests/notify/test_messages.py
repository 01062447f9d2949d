"""What a notification says: default wording, templates, sandbox, secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitor import redact
from monitor.notify.formatting import format_duration
from monitor.notify.messages import (
    MAX_BODY_CHARS,
    MAX_TITLE_CHARS,
    MessageContext,
    context_from_data,
    context_to_data,
    render,
)
from monitor.notify.templates import MAX_TEMPLATE_BYTES, check_template

FAILED = MessageContext(
    watch="hr-nightly",
    event="failed",
    provider="hr",
    provider_type="kpa_flex",
    job="5804f0f30ef50473af5870c6",
    state="failed",
    raw_status="error",
    progress=0.42,
    counts={"processed": 1200, "errors": 3, "total": 1250},
    message="Row 17: invalid email",
    children=["Group 1 / OnlineStore / OnlineStore.productmodel: Failed"],
    history="10:00 load started\n10:04 row 17 rejected\n10:04 load aborted",
    duration=252.0,
    idempotency_key="hr-nightly/5804f0f30ef50473af5870c6:failed",
)
BARE = MessageContext(watch="catalog", event="succeeded", job="77", state="succeeded")


@pytest.fixture(autouse=True)
def _no_secrets() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


def test_default_title_names_the_watch_and_the_event() -> None:
    assert render(FAILED).title == "hr-nightly failed"


def test_notify_type_follows_the_event() -> None:
    assert render(FAILED).notify_type == "failure"
    assert render(BARE).notify_type == "success"
    assert render(replace(BARE, event="stalled")).notify_type == "warning"


def test_default_body_gives_the_known_facts_one_per_line() -> None:
    lines = render(FAILED).body.splitlines()
    assert "provider: hr (kpa_flex)" in lines
    assert "job: 5804f0f30ef50473af5870c6" in lines
    assert "status: error (failed)" in lines
    assert "ran for: 4m 12s" in lines
    assert "progress: 42%" in lines
    assert "counts: processed 1,200 · errors 3 · total 1,250" in lines
    assert "message: Row 17: invalid email" in lines


def test_failure_body_lists_the_children_that_did_not_succeed() -> None:
    body = render(FAILED).body
    assert "  - Group 1 / OnlineStore / OnlineStore.productmodel: Failed" in body.splitlines()


def test_failure_body_shows_the_providers_history() -> None:
    body = render(FAILED).body
    assert "history:\n  10:00 load started\n  10:04 row 17 rejected\n  10:04 load aborted" in body


def test_long_lists_are_capped() -> None:
    context = replace(
        FAILED,
        children=[f"table {n}: Failed" for n in range(25)],
        history="\n".join(f"entry {n}" for n in range(100)),
    )
    body = render(context).body
    assert "table 19: Failed" in body and "table 20: Failed" not in body
    assert "… and 5 more" in body
    assert "entry 99" in body and "entry 79" not in body  # the end is kept
    assert "… 80 earlier lines" in body


def test_unknown_facts_are_left_out() -> None:
    assert render(BARE).body.splitlines() == ["job: 77", "status: succeeded"]


def test_durations_read_like_a_person_would_say_them() -> None:
    body = render(replace(BARE, duration=2 * 3600 + 3 * 60 + 9)).body
    assert "ran for: 2h 03m" in body.splitlines()


def test_condition_events_lead_with_the_reason() -> None:
    context = replace(BARE, event="unreachable", state="running", reason="connection refused")
    lines = render(context).body.splitlines()
    assert lines[0] == "reason: connection refused"


def test_idempotency_key_is_the_last_line() -> None:
    assert render(FAILED).body.splitlines()[-1] == (
        "key: hr-nightly/5804f0f30ef50473af5870c6:failed"
    )


def test_grouped_title_counts_the_events_of_one_watch() -> None:
    jobs = [replace(BARE, job=str(n)) for n in range(37)]
    jobs += [replace(BARE, job=f"p{n}", event="partial") for n in range(2)]
    jobs += [replace(BARE, job="f1", event="failed")]
    group = MessageContext(watch="catalog", event="", jobs=jobs)
    assert render(group).title == "catalog: 37 succeeded, 2 partial, 1 failed"


def test_grouped_title_of_several_watches_counts_the_jobs() -> None:
    group = MessageContext(watch="", event="", jobs=[FAILED, BARE])
    assert render(group).title == "2 jobs: 1 succeeded, 1 failed"


def test_grouped_message_takes_the_most_severe_type() -> None:
    group = MessageContext(watch="", event="", jobs=[BARE, FAILED])
    assert render(group).notify_type == "failure"


def test_grouped_body_has_one_line_per_job_worst_first_with_its_key() -> None:
    group = MessageContext(watch="", event="", jobs=[BARE, FAILED])
    assert render(group).body.splitlines() == [
        "hr-nightly/5804f0f30ef50473af5870c6:failed · error · ran 4m 12s · errors 3"
        " · Row 17: invalid email",
        "catalog/77:succeeded",
    ]


def test_grouped_body_lists_a_hundred_jobs() -> None:
    jobs = [replace(BARE, job=f"job-{n:03d}") for n in range(100)]
    body = render(MessageContext(watch="catalog", event="", jobs=jobs)).body
    assert [line.split(":")[0] for line in body.splitlines()] == [
        f"catalog/job-{n:03d}" for n in range(100)
    ]


def test_grouped_templates_see_the_jobs_and_the_summary() -> None:
    group = MessageContext(watch="catalog", event="", jobs=[BARE, replace(BARE, job="78")])
    message = render(
        group,
        title_template="{{ watch }}: {{ summary }}",
        body_template="{% for j in jobs %}{{ j.job }} {{ j.event }}\n{% endfor %}",
    )
    assert message.title == "catalog: 2 succeeded"
    assert message.body == "77 succeeded\n78 succeeded"


def test_context_survives_the_round_trip_through_stored_data() -> None:
    context = replace(FAILED, started_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    assert context_from_data(json.loads(json.dumps(context_to_data(context)))) == context


def test_stored_context_masks_secrets_and_keeps_only_the_history_tail() -> None:
    redact.add_secret("tok-4f9a8b7c")
    context = replace(FAILED, message="tok-4f9a8b7c refused", history="x" * 10_000 + "\nlast")
    data = context_to_data(context)
    assert "tok-4f9a8b7c" not in json.dumps(data)
    assert len(data["history"]) < 5000 and data["history"].endswith("last")


def test_notifier_templates_replace_the_defaults() -> None:
    message = render(
        FAILED,
        title_template="[{{ provider_type }}] {{ watch }}: {{ event | upper }}",
        body_template="{{ job }} ran {{ duration | duration }}, {{ counts.errors }} errors\n"
        "{% for child in children %}* {{ child }}\n{% endfor %}",
    )
    assert message.title == "[kpa_flex] hr-nightly: FAILED"
    assert message.body == (
        "5804f0f30ef50473af5870c6 ran 4m 12s, 3 errors\n"
        "* Group 1 / OnlineStore / OnlineStore.productmodel: Failed"
    )


def test_a_template_can_extend_the_default_body() -> None:
    message = render(FAILED, body_template="{{ default_body }}\nrunbook: https://wiki/hr")
    assert message.body.startswith("provider: hr (kpa_flex)")
    assert message.body.endswith("runbook: https://wiki/hr")


def test_undefined_names_render_as_nothing() -> None:
    assert render(FAILED, title_template="{{ watch }}{{ nonsense.deeper }}").title == "hr-nightly"


def test_broken_template_falls_back_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="monitor.notify.messages"):
        message = render(FAILED, title_template="{{ watch ", body_template="{{ 1 / 0 }}")
    assert message.title == "hr-nightly failed"
    assert message.body == render(FAILED).body
    assert "title template unusable for hr-nightly failed" in caplog.text
    assert "TemplateSyntaxError" in caplog.text
    assert "ZeroDivisionError" in caplog.text


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ lipsum.__globals__.os.popen('id').read() }}",
        "{{ open('/etc/passwd').read() }}",
        "{% include '/etc/passwd' %}",
        "{{ counts.update(errors=0) }}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 99999999 }}",
        "{{ ((2 ** 64) ** 64) ** 64 }}",
        "{{ '{0.__class__}'.format('') }}",
    ],
)
def test_escaping_the_sandbox_falls_back_to_the_default(
    escape: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="monitor.notify.messages"):
        message = render(FAILED, title_template=f"x{escape}", body_template=escape)
    assert message.title == "hr-nightly failed"
    assert message.body == render(FAILED).body
    assert "unusable" in caplog.text


def test_oversized_template_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    huge = "{{ watch }}" + "x" * MAX_TEMPLATE_BYTES
    with caplog.at_level(logging.WARNING, logger="monitor.notify.messages"):
        assert render(FAILED, body_template=huge).body == render(FAILED).body
    assert f"more than {MAX_TEMPLATE_BYTES}" in caplog.text
    with pytest.raises(ValueError, match="bytes"):
        check_template(huge)


def test_check_template_reports_syntax_errors() -> None:
    check_template("{{ watch }} {{ event }}")
    with pytest.raises(ValueError, match="TemplateSyntaxError"):
        check_template("{% if watch %}")


def test_output_is_capped() -> None:
    endless = "{% for i in range(100000) %}{{ default_body }}{% endfor %}"
    message = render(FAILED, title_template=endless, body_template=endless)
    assert len(message.title) == MAX_TITLE_CHARS and message.title.endswith("…")
    assert len(message.body) == MAX_BODY_CHARS and message.body.endswith("…")


def test_registered_secrets_are_masked_in_defaults_and_templates() -> None:
    redact.add_secret("tok-4f9a8b7c")
    context = replace(FAILED, message="auth with tok-4f9a8b7c refused")
    assert "tok-4f9a8b7c" not in render(context).body
    assert "message: auth with *** refused" in render(context).body
    templated = render(context, title_template="{{ message }}", body_template="{{ message }}!")
    assert templated.title == "auth with *** refused"
    assert templated.body == "auth with *** refused!"


def test_broken_template_warning_masks_secrets(caplog: pytest.LogCaptureFixture) -> None:
    redact.add_secret("tok4f9a8b7c")
    with caplog.at_level(logging.WARNING, logger="monitor.notify.messages"):
        render(FAILED, body_template="{% tok4f9a8b7c %}")
    assert "unknown tag '***'" in caplog.text
    assert "tok4f9a8b7c" not in caplog.text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (0.0004, "1ms"), (0.05, "50ms"), (0.9996, "1s"), (1, "1s"), (45.7, "45s"),
     (252, "4m 12s"), (7380, "2h 03m"), (273600, "3d 04h")],
)  # fmt: skip
def test_a_duration_reads_in_at_most_two_units_and_a_short_one_in_milliseconds(seconds, shown):
    assert format_duration(seconds) == shown
