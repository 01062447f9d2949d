"""A notifier template renders under a time and size budget: a runaway one
costs at most its budget, the default wording goes out, and the log says why;
`check` refuses what it can tell is unbounded."""

from __future__ import annotations

import logging
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.notify import templates
from monitor.notify.messages import MAX_BODY_CHARS, MAX_TITLE_CHARS, MessageContext, render
from monitor.notify.template_budget import MAX_ITERATIONS, RENDER_SECONDS
from monitor.notify.templates import check_template

FAILED = MessageContext(
    watch="hr-nightly",
    event="failed",
    provider="hr",
    job="42",
    state="failed",
    raw_status="error",
    message="Row 17: invalid email",
    children=["a: Failed", "b: Failed"],
)
# Generous: the budget is a quarter second; anything near this means a hang.
HANG = 5.0


@pytest.fixture(autouse=True)
def _fresh_budgets() -> None:
    """Each test starts with no template resting after an earlier runaway."""
    templates._resting.clear()


RUNAWAY = {
    "nested empty loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        f"more than {MAX_ITERATIONS} times",
    ),
    "exponential macro": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
        "time budget",
    ),
    "percent width": ('{{ "%999999999d" % 1 }}', "format width"),
    "star width": ('{{ "%*d" % (999999999, 1) }}', "format width"),
    "format method width": ('{{ "{:>999999999}".format(1) }}', "format width"),
    "format filter width": ('{{ "%999999999s"|format("x") }}', "format width"),
    "ljust": ('{{ "x".ljust(999999999) }}', "at most"),
    "center filter": ('{{ "x"|center(999999999) }}', "at most"),
    "indent filter": ('{{ "x\ny"|indent(999999999) }}', "at most"),
    "replace filter": ('{{ ("x" * 16000)|replace("x", "y" * 16000) }}', "more than"),
    "replace method": ('{{ ("x" * 16000).replace("x", "y" * 16000) }}', "more than"),
    "doubling concat": (
        '{% set ns = namespace(s="xy") %}{% for i in range(60) %}'
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "more than",
    ),
    "doubling plus": (
        '{% set ns = namespace(s="xy") %}{% for i in range(60) %}'
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
        "more than",
    ),
    "lipsum": ("{{ lipsum(999999) }}", "at most"),
    "slice filter": ("{{ [1]|slice(999999999)|list }}", "at most"),
    "list repetition": ("{{ (range(10000)|list) * 100 }}", "repetition too large"),
    "huge power": ("{{ 9 ** 999999 }}", "number too large"),
    "squaring in a loop": (
        "{% set ns = namespace(x=3) %}{% for i in range(40) %}"
        "{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x % 10 }}",
        "number too large",
    ),
    "recursive loop": (
        "{% for x in range(100000) recursive %}{{ loop(range(100000)) }}{% endfor %}",
        "",
    ),
}


@pytest.mark.parametrize("name", sorted(RUNAWAY))
def test_runaway_template_sends_the_default_wording_and_says_why(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    template, why = RUNAWAY[name]
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="monitor.notify.messages"):
        message = render(FAILED, body_template=template)
    assert time.monotonic() - started < HANG
    assert message.body == render(FAILED).body
    assert "sent the default instead" in caplog.text
    assert why in caplog.text


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{% for a in range(n) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}", "range"),
        ("{% for a in children %}{% for b in range(10**6) %}{% endfor %}{% endfor %}", "range"),
        ('{{ "%999999999d" % 1 }}', "format width"),
        ('{{ "x"|center(999999999) }}', "999999999"),
        ('{{ "x".ljust(1000000) }}', "1000000"),
        ('{{ "ab" * 99999999 }}', "99999999"),
    ],
)
def test_check_refuses_templates_unbounded_by_their_shape(template: str, problem: str) -> None:
    with pytest.raises(ValueError, match="may never finish") as refused:
        check_template(template)
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    "template",
    [
        "{% for child in children %}{{ child }}\n{% endfor %}",
        "{% for a in range(3) %}{% for b in range(3) %}{{ a }}{{ b }}{% endfor %}{% endfor %}",
        "{{ watch|center(40) }} {{ '%5.1f'|format(42) }} {{ '{:>10}'.format(job) }}",
        "{% for job in jobs %}{{ job.watch ~ ': ' ~ job.event }}{% endfor %}",
        "{{ default_body }}",
    ],
)
def test_check_accepts_bounded_templates(template: str) -> None:
    check_template(template)
    assert render(FAILED, body_template=template).body


def test_one_runaway_render_costs_about_its_budget() -> None:
    template = RUNAWAY["exponential macro"][0]
    started = time.monotonic()
    render(FAILED, title_template=template, body_template=template)
    # Two templates, each cut at its budget (plus slack for a loaded machine).
    assert time.monotonic() - started < 2 * RENDER_SECONDS + HANG


def test_a_runaway_template_rests_so_a_burst_of_job_ends_costs_one_budget(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = RUNAWAY["exponential macro"][0]
    with caplog.at_level(logging.WARNING, logger="monitor.notify.messages"):
        render(FAILED, body_template=template)
        started = time.monotonic()
        for _ in range(50):
            assert render(FAILED, body_template=template).body == render(FAILED).body
        rested = time.monotonic() - started
    assert rested < 10 * RENDER_SECONDS  # not fifty budgets: the template was not run again
    assert "template skipped: it ran past its budget" in caplog.text
    monkeypatch.setattr(templates, "RESTING_SECONDS", 0.0)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="monitor.notify.messages"):
        render(FAILED, body_template=template)
    assert "time budget" in caplog.text  # tried again once its rest is over


# --- property: any composition of the pieces a template is made of ------------------

numbers = st.one_of(
    st.integers(0, 5), st.integers(10**4, 10**6), st.integers(10**8, 10**12), st.just(-1)
)
expressions = st.recursive(
    st.one_of(
        st.sampled_from(["watch", "message", "children", "default_body", "'x'", "job"]),
        numbers.map(str),
    ),
    lambda inner: st.one_of(
        st.tuples(inner, numbers).map(lambda t: f"({t[0]}) * {t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) ~ ({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) + ({t[1]})"),
        st.tuples(
            inner,
            st.sampled_from(["center", "indent", "truncate", "wordwrap", "batch", "slice"]),
            numbers,
        ).map(lambda t: f"({t[0]})|{t[1]}({t[2]})"),
        st.tuples(inner, st.sampled_from(["ljust", "rjust", "zfill", "center"]), numbers).map(
            lambda t: f"({t[0]}|string).{t[1]}({t[2]})"
        ),
        st.tuples(numbers, inner).map(lambda t: f'"%{t[0]}s" % ({t[1]})'),
        st.tuples(numbers).map(lambda t: f'"{{:>{t[0]}}}".format(1)'),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}).replace('x', ({t[1]})|string)"),
    ),
    max_leaves=6,
)
statements = st.recursive(
    expressions.map(lambda e: "{{ " + e + " }}"),
    lambda inner: st.one_of(
        st.tuples(numbers, inner).map(
            lambda t: "{% for i in range(" + str(t[0]) + ") %}" + t[1] + "{% endfor %}"
        ),
        st.tuples(inner, inner).map("".join),
    ),
    max_leaves=4,
)


@settings(max_examples=200, deadline=None)
@given(template=statements)
def test_any_template_renders_a_message_within_its_budget(template: str) -> None:
    started = time.monotonic()
    message = render(FAILED, title_template=template, body_template=template)
    assert time.monotonic() - started < HANG
    assert 0 < len(message.title) <= MAX_TITLE_CHARS
    assert 0 < len(message.body) <= MAX_BODY_CHARS
