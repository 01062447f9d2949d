"""Loading a config file: what it yields, and where each problem is reported."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from monitor.config import ConfigError, load_config
from monitor.domain import Event

from .conftest import FakeSettings


def test_empty_file_is_an_error(problems):
    assert problems("") == [
        "config.yaml: the file is empty: nothing to watch (config.example.yaml shows every key)"
    ]


def test_file_with_no_sections_is_a_config_with_no_watches(load):
    config = load("watches: []\n")

    assert config.watches == []
    assert config.providers == {}


def test_config_path_is_absolute(load, workdir):
    config = load("watches: []\n")

    assert config.path == workdir / "config.yaml"
    assert config.path.is_absolute()


def test_file_without_defaults_gets_the_documented_ones(load):
    config = load(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - {name: nightly, provider: hr, job: "1"}
        """
    )

    watch = config.watches[0]
    assert (watch.poll.initial, watch.poll.factor, watch.poll.max, watch.poll.jitter) == (
        15.0,
        2.0,
        600.0,
        0.1,
    )
    assert (watch.stall_after, watch.unreachable_after, watch.repeat) == (7200.0, 5, 14400.0)
    assert (watch.deadline.kind, watch.deadline.seconds) == ("after", 86400.0)
    assert watch.deadline_fallback == 86400.0
    assert watch.notify == []
    assert Event.STARTED not in watch.on
    assert set(watch.on) == set(Event) - {Event.STARTED}


def test_defaults_block_applies_to_every_watch(load):
    config = load(
        """
        defaults:
          stall_after: 30m
          on: [failed]
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - {name: one, provider: hr, job: "1"}
          - {name: two, provider: hr, job: "2"}
        """
    )

    assert [watch.stall_after for watch in config.watches] == [1800.0, 1800.0]
    assert [watch.on for watch in config.watches] == [[Event.FAILED], [Event.FAILED]]


def test_watch_key_overrides_the_default(load):
    config = load(
        """
        defaults:
          repeat: 1h
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - {name: one, provider: hr, job: "1", repeat: 0}
        """
    )

    assert config.watches[0].repeat == 0.0
    assert config.defaults.repeat == 3600.0


def test_watch_poll_keeps_the_default_poll_keys_it_does_not_set(load):
    config = load(
        """
        defaults:
          poll: {initial: 30s, factor: 3}
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - {name: one, provider: hr, job: "1", poll: {max: 5m}}
        """
    )

    poll = config.watches[0].poll
    assert (poll.initial, poll.factor, poll.max, poll.jitter) == (30.0, 3.0, 300.0, 0.1)


def test_job_written_as_a_number_becomes_text(load):
    config = load(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - {name: one, provider: hr, job: 12345}
        """
    )

    assert config.watches[0].job == "12345"


def test_job_written_as_a_number_keeps_its_leading_zero(load):
    config = load(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - {name: one, provider: hr, job: 007}
        """
    )

    assert config.watches[0].job == "007"


def test_on_is_a_key_and_off_a_word_not_booleans(load):
    config = load(
        """
        defaults:
          on: [failed]
          deadline: off
        """
    )

    assert config.defaults.on == [Event.FAILED]
    assert config.defaults.deadline.kind == "off"


def test_provider_block_becomes_its_type_settings_model(load):
    config = load(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token, max_rps: 2}
        """
    )

    settings = config.providers["hr"]
    assert isinstance(settings, FakeSettings)
    assert (settings.token, settings.max_rps) == ("hr-token", 2.0)


def test_notifier_keeps_urls_and_defaults(load):
    config = load(
        """
        notifiers:
          team:
            urls: [json://127.0.0.1:8080/hook, mailto://ops@example.com]
            group_wait: 30s
        """
    )

    team = config.notifiers["team"]
    assert team.urls == ["json://127.0.0.1:8080/hook", "mailto://ops@example.com"]
    assert (team.group_wait, team.notify_retry_for) == (30.0, 86400.0)
    assert (team.retry.initial, team.retry.factor, team.retry.max) == (10.0, 2.0, 1800.0)


def test_http_listen_gives_host_and_port(load):
    config = load(
        """
        http:
          listen: "[::1]:8080"
        """
    )

    assert config.http is not None
    assert (config.http.host, config.http.port) == ("::1", 8080)


def test_http_listen_without_port_is_refused_at_its_line(problems):
    found = problems(
        """
        http:
          listen: localhost
        """
    )

    assert found == [
        "config.yaml:2: http.listen: 'localhost' is not host:port"
        " (such as 127.0.0.1:9311 or [::1]:9311)"
    ]


def test_unknown_timezone_is_refused(problems):
    found = problems("timezone: Mars/Olympus\n")

    assert found == [
        "config.yaml:1: timezone: 'Mars/Olympus' is not a time zone (use a name like Europe/Paris)"
    ]


def test_config_cannot_be_changed_after_loading(load):
    config = load("timezone: UTC\n")

    with pytest.raises(pydantic.ValidationError):
        config.timezone = "Europe/Paris"  # type: ignore[misc]


def test_unknown_key_is_reported_at_its_line(problems):
    found = problems(
        """
        providers:
          hr:
            type: fake
            base_url: https://hr.example.com
            token: hr-token
            tokn: hr-token
        """
    )

    assert found == ["config.yaml:6: providers.hr: unknown key 'tokn' (did you mean 'token'?)"]


def test_unknown_top_level_key_is_reported(problems):
    found = problems(
        """
        watches: []
        wathces: []
        """
    )

    assert found == ["config.yaml:2: unknown key 'wathces' (did you mean 'watches'?)"]


def test_missing_key_is_reported_at_the_mapping_that_lacks_it(problems):
    found = problems(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - name: one
            job: "1"
        """
    )

    assert found == ["config.yaml:4: watches[0]: missing key 'provider'"]


def test_every_problem_is_reported_at_once_with_its_line(problems):
    found = problems(
        """
        defaults:
          unreachable_after: 0
        providers:
          hr:
            type: fake
            base_url: https://hr.example.com
            token: hr-token
            max_rps: fast
        watches:
          - name: one
            provider: hr
            job: "1"
            poll:
              initial: fast
          - name: two
            provider: hr
            job: "2"
            on: [finished]
        """
    )

    assert found == [
        "config.yaml:2: defaults.unreachable_after: must be at least 1",
        "config.yaml:8: providers.hr.max_rps: 'fast' is not a rate (use a number per second,"
        " or 20/min)",
        "config.yaml:14: watches[0].poll.initial: 'fast' is not a duration"
        " (use 30s, 5m, 2h, 1d or seconds)",
        "config.yaml:18: watches[1].on[0]: 'finished' is not one of 'started', 'succeeded',"
        " 'partial', 'failed', 'canceled', 'waiting', 'stalled', 'overdue', 'unreachable',"
        " 'missing' or 'recovered'",
    ]


def test_error_issues_carry_file_line_and_message(write_config):
    write_config("watches: {}\n")

    with pytest.raises(ConfigError) as caught:
        load_config("config.yaml", {})

    [issue] = caught.value.issues
    assert (issue.file, issue.line) == ("config.yaml", 1)
    assert issue.message == "watches: expected a list, not a mapping"


def test_file_part_of_an_error_is_the_path_as_given(write_config, workdir):
    write_config("wathces: []\n")

    with pytest.raises(ConfigError) as caught:
        load_config(workdir / "config.yaml", {})

    assert (
        str(caught.value)
        == f"{workdir / 'config.yaml'}:1: unknown key 'wathces' (did you mean 'watches'?)"
    )


def test_yaml_syntax_error_reports_its_own_line(problems):
    found = problems(
        """
        providers:
          hr:
            type: fake
           base_url: https://hr.example.com
        """
    )

    assert len(found) == 1
    assert found[0].startswith("config.yaml:4: YAML: ")


def test_yaml_syntax_error_does_not_quote_the_line(problems):
    found = problems('token: "hunter2-secret\n')

    assert "hunter2-secret" not in "\n".join(found)


def test_duplicate_key_is_reported_at_the_second_one(problems):
    found = problems(
        """
        providers:
          hr:
            type: fake
            base_url: https://hr.example.com
            token: hr-token
            base_url: https://other.example.com
        """
    )

    assert found == ["config.yaml:6: providers.hr: duplicate key 'base_url'"]


def test_watch_with_both_job_and_discover_is_refused(problems):
    found = problems(
        """
        providers:
          cat: {type: fake_discovery, base_url: "https://cat.example.com", token: cat-token}
        watches:
          - name: one
            provider: cat
            job: "1"
            discover: {created_by: etl}
        """
    )

    assert found == ["config.yaml:4: watches[0]: give job or discover, not both"]


def test_watch_with_neither_job_nor_discover_is_refused(problems):
    found = problems(
        """
        providers:
          cat: {type: fake_discovery, base_url: "https://cat.example.com", token: cat-token}
        watches:
          - name: one
            provider: cat
        """
    )

    assert found == [
        "config.yaml:4: watches[0]: give job (a job id) or discover (filters for new jobs)"
    ]


def test_job_or_discover_is_reported_beside_other_watch_problems(problems):
    found = problems(
        """
        providers:
          cat: {type: fake_discovery, base_url: "https://cat.example.com", token: cat-token}
        watches:
          - name: one
            provider: cat
            repeat: often
        """
    )

    assert found == [
        "config.yaml:4: watches[0]: give job (a job id) or discover (filters for new jobs)",
        "config.yaml:6: watches[0].repeat: 'often' is not a duration"
        " (use 30s, 5m, 2h, 1d or seconds)",
    ]


def test_watch_name_with_spaces_is_refused(problems):
    found = problems(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - {name: hr nightly, provider: hr, job: "1"}
        """
    )

    assert found == [
        "config.yaml:4: watches[0].name: 'hr nightly' is not a valid name"
        " (use letters, digits, - _ .; at most 200, starting with a letter or digit)"
    ]


def test_notifier_without_urls_is_refused(problems):
    found = problems(
        """
        notifiers:
          team:
            urls: []
        """
    )

    assert found == ["config.yaml:3: notifiers.team.urls: cannot be empty"]


def test_notifier_url_apprise_cannot_use_is_named_by_index_not_text(problems):
    found = problems(
        """
        notifiers:
          team:
            urls:
              - json://127.0.0.1:8080/hook
              - nosuchservice://admin:pa55word@example.com
        """
    )

    assert found == [
        "config.yaml:5: notifiers.team.urls[1]: Apprise cannot use this nosuchservice:// URL"
        " (check its parts)"
    ]


def test_missing_file_is_reported_without_a_line(workdir):
    with pytest.raises(ConfigError) as caught:
        load_config(Path("absent.yaml"), {})

    assert str(caught.value) == "absent.yaml: cannot read the file: No such file or directory"


def test_file_holding_a_list_is_refused(problems):
    found = problems("- name: one\n")

    assert found == ["config.yaml:1: the file must be a mapping of keys (providers, watches, ...)"]


def test_misspelt_watch_key_suggests_the_right_one(problems):
    found = problems(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: t}
        watches:
          - {name: nightly, provider: hr, job: "1", stall_afer: 1h}
        """
    )

    assert found == [
        "config.yaml:4: watches[0]: unknown key 'stall_afer' (did you mean 'stall_after'?)"
    ]


def test_misspelt_provider_name_and_type_suggest_the_right_ones(problems):
    found = problems(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: t}
          chat: {type: rocketchta, base_url: "https://chat.example.com"}
        watches:
          - {name: nightly, provider: hrr, job: "1"}
        """
    )

    assert found[0].startswith(
        "config.yaml:3: providers.chat.type: unknown provider type 'rocketchta'"
        " (did you mean 'rocketchat'?) (known: "
    )
    assert found[1] == (
        "config.yaml:5: watches[0].provider: no provider named 'hrr' (did you mean 'hr'?)"
    )
