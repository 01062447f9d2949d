"""Durations, rates and deadlines as the config file writes them."""

from __future__ import annotations

from datetime import time

import pytest


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("45", 45.0),
        ("90.5", 90.5),
    ],
)
def test_duration_is_read_in_every_form(load, written, seconds):
    config = load(f"defaults: {{stall_after: {written}}}\n")

    assert config.defaults.stall_after == seconds


def test_duration_that_is_not_one_names_the_forms(problems):
    found = problems("defaults: {stall_after: soon}\n")

    assert found == [
        "config.yaml:1: defaults.stall_after: 'soon' is not a duration"
        " (use 30s, 5m, 2h, 1d or seconds)"
    ]


def test_rate_per_minute_is_read_as_per_second(load):
    config = load(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token, max_rps: 20/min}
        """
    )

    assert config.providers["hr"].max_rps == pytest.approx(20 / 60)


def test_deadline_as_a_duration_is_after_the_watch_began(load):
    config = load("defaults: {deadline: 6h}\n")

    assert (config.defaults.deadline.kind, config.defaults.deadline.seconds) == ("after", 21600.0)


@pytest.mark.parametrize("written", ['"06:00"', "06:00", "6:00"])
def test_deadline_as_a_time_of_day(load, written):
    config = load(f"defaults: {{deadline: {written}}}\n")

    assert config.defaults.deadline.kind == "time_of_day"
    assert config.defaults.deadline.time_of_day == time(6, 0)


def test_deadline_time_of_day_unquoted_after_noon_is_not_a_number(load):
    config = load("defaults: {deadline: 18:30}\n")

    assert config.defaults.deadline.time_of_day == time(18, 30)


def test_deadline_auto_learns_from_history(load):
    config = load("defaults: {deadline: auto, deadline_fallback: 12h}\n")

    assert config.defaults.deadline.kind == "auto"
    assert config.defaults.deadline_fallback == 43200.0


@pytest.mark.parametrize("written", ["off", "null", "~"])
def test_deadline_can_be_turned_off(load, written):
    config = load(f"defaults: {{deadline: {written}}}\n")

    assert config.defaults.deadline.kind == "off"
    assert config.defaults.deadline.seconds is None


def test_deadline_that_is_none_of_the_forms_is_refused(problems):
    found = problems("defaults: {deadline: '25:00'}\n")

    assert found == [
        "config.yaml:1: defaults.deadline: '25:00' is not a deadline"
        " (use a duration like 24h, a time of day like 06:00, auto, or off)"
    ]


def test_deadline_of_zero_is_refused(problems):
    found = problems("defaults: {deadline: 0}\n")

    assert found == [
        "config.yaml:1: defaults.deadline: a deadline of 0 is always overdue (use off to have none)"
    ]


def test_poll_factor_below_one_is_refused(problems):
    found = problems("defaults: {poll: {factor: 0.5}}\n")

    assert found == ["config.yaml:1: defaults.poll.factor: must be at least 1"]


def test_poll_jitter_above_one_is_refused(problems):
    found = problems("defaults: {poll: {jitter: 2}}\n")

    assert found == ["config.yaml:1: defaults.poll.jitter: must be at most 1"]


def test_repeat_of_zero_turns_reminders_off(load):
    config = load("defaults: {repeat: 0}\n")

    assert config.defaults.repeat == 0.0
