"""Names that point across sections, and names that must not repeat."""

from __future__ import annotations


def test_second_watch_with_a_used_name_is_reported(problems):
    found = problems(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - {name: nightly, provider: hr, job: "1"}
          - {name: weekly, provider: hr, job: "2"}
          - {name: nightly, provider: hr, job: "3"}
        """
    )

    assert found == [
        "config.yaml:6: watches[2].name: watch name 'nightly' is already used by watches[0]"
    ]


def test_unknown_provider_type_is_reported_at_its_type_line(problems):
    found = problems(
        """
        providers:
          hr:
            base_url: https://hr.example.com
            type: workday
        """
    )

    assert len(found) == 1
    assert found[0].startswith(
        "config.yaml:4: providers.hr.type: unknown provider type 'workday' (known: "
    )
    assert "fake_discovery" in found[0]


def test_provider_name_with_spaces_is_refused_at_its_line(problems):
    found = problems(
        """
        providers:
          human resources: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        """
    )

    assert found == [
        "config.yaml:2: providers.human resources: 'human resources' is not a valid name"
        " (use letters, digits, - _ .; at most 200, starting with a letter or digit)"
    ]


def test_provider_block_without_type_is_reported(problems):
    found = problems(
        """
        providers:
          hr:
            base_url: https://hr.example.com
        """
    )

    assert found == ["config.yaml:2: providers.hr: missing key 'type'"]


def test_watch_naming_a_missing_provider_is_reported(problems):
    found = problems(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - name: nightly
            provider: payroll
            job: "1"
        """
    )

    assert found == ["config.yaml:5: watches[0].provider: no provider named 'payroll' (known: hr)"]


def test_watch_notify_naming_a_missing_notifier_is_reported(problems):
    found = problems(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        notifiers:
          team: {urls: ["json://127.0.0.1:8080/hook"]}
        watches:
          - name: nightly
            provider: hr
            job: "1"
            notify: [team, oncall]
        """
    )

    assert found == [
        "config.yaml:9: watches[0].notify[1]: no notifier named 'oncall' (known: team)"
    ]


def test_defaults_notify_naming_a_missing_notifier_is_reported(problems):
    found = problems(
        """
        defaults:
          notify:
            - team
        """
    )

    assert found == [
        "config.yaml:3: defaults.notify[0]: no notifier named 'team' (none are configured)"
    ]


def test_discover_on_a_provider_that_cannot_discover_is_reported(problems):
    found = problems(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - name: every-import
            provider: hr
            discover: {created_by: etl}
        """
    )

    assert found == [
        "config.yaml:6: watches[0].discover: provider 'hr' (type fake) cannot discover jobs;"
        " give a job id instead"
    ]


def test_discover_on_a_provider_that_can_is_kept(load):
    config = load(
        """
        providers:
          cat: {type: fake_discovery, base_url: "https://cat.example.com", token: cat-token}
        watches:
          - name: every-import
            provider: cat
            discover: {created_by: etl@example.com}
        """
    )

    assert config.watches[0].discover == {"created_by": "etl@example.com"}
    assert config.watches[0].job is None


def test_empty_discover_tracks_every_new_job(load):
    config = load(
        """
        providers:
          cat: {type: fake_discovery, base_url: "https://cat.example.com", token: cat-token}
        watches:
          - {name: every-import, provider: cat, discover: {}}
        """
    )

    assert config.watches[0].discover == {}


def test_reference_problems_are_reported_with_validation_problems(problems):
    found = problems(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: hr-token}
        watches:
          - name: nightly
            provider: payroll
            job: "1"
            stall_after: sometime
        """
    )

    assert found == [
        "config.yaml:5: watches[0].provider: no provider named 'payroll' (known: hr)",
        "config.yaml:7: watches[0].stall_after: 'sometime' is not a duration"
        " (use 30s, 5m, 2h, 1d or seconds)",
    ]
