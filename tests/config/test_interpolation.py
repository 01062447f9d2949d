"""`${NAME}`, `${NAME:-default}`, `${file:PATH}` and `$${` in config strings."""

from __future__ import annotations

from monitor.redact import redact

HR = """
providers:
  hr:
    type: fake
    base_url: https://hr.example.com
    token: {token}
"""


def test_environment_variable_is_substituted(load):
    config = load(HR.format(token="${HR_TOKEN}"), {"HR_TOKEN": "from-the-env"})

    assert config.providers["hr"].token == "from-the-env"


def test_unset_environment_variable_is_reported_at_its_line(problems):
    found = problems(HR.format(token="${HR_TOKEN}"), {})

    assert found == ["config.yaml:5: providers.hr.token: environment variable HR_TOKEN is not set"]


def test_default_is_used_when_the_variable_is_unset(load):
    config = load(HR.format(token="${HR_TOKEN:-fallback}"), {})

    assert config.providers["hr"].token == "fallback"


def test_default_is_used_when_the_variable_is_empty(load):
    config = load(HR.format(token="${HR_TOKEN:-fallback}"), {"HR_TOKEN": ""})

    assert config.providers["hr"].token == "fallback"


def test_variable_wins_over_its_default_when_set(load):
    config = load(HR.format(token="${HR_TOKEN:-fallback}"), {"HR_TOKEN": "set"})

    assert config.providers["hr"].token == "set"


def test_reference_can_be_part_of_a_longer_string(load):
    config = load(
        """
        providers:
          hr: {type: fake, base_url: "https://${HR_HOST}/v1", token: hr-token}
        """,
        {"HR_HOST": "hr.example.com"},
    )

    assert config.providers["hr"].base_url == "https://hr.example.com/v1"


def test_file_reference_is_read_from_credentials_directory(load, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "hr-token").write_text("  from-a-file\n")

    config = load(HR.format(token="${file:hr-token}"), {"CREDENTIALS_DIRECTORY": str(credentials)})

    assert config.providers["hr"].token == "from-a-file"


def test_file_reference_is_relative_to_the_config_without_credentials_directory(load, workdir):
    (workdir / "secrets").mkdir()
    (workdir / "secrets" / "hr-token").write_text("beside-the-config\n")

    config = load(HR.format(token="${file:secrets/hr-token}"), {})

    assert config.providers["hr"].token == "beside-the-config"


def test_unreadable_file_reference_names_the_path(problems, tmp_path):
    found = problems(HR.format(token="${file:absent}"), {"CREDENTIALS_DIRECTORY": str(tmp_path)})

    assert found == [
        f"config.yaml:5: providers.hr.token: cannot read {tmp_path / 'absent'}:"
        " No such file or directory"
    ]


def test_file_content_is_registered_as_a_secret(load, workdir):
    (workdir / "hr-token").write_text("content-of-the-file")

    load(HR.format(token="${file:hr-token}"), {})

    assert redact("token=content-of-the-file") == "token=***"


def test_environment_value_under_a_secret_name_is_registered_as_a_secret(load):
    load(
        """
        notifiers:
          team:
            urls: [json://127.0.0.1:8080/hook]
            title: "${API_KEY} done"
        """,
        {"API_KEY": "key-from-the-env"},
    )

    assert redact("key-from-the-env") == "***"


def test_environment_value_under_a_plain_name_is_not_a_secret(load):
    load(
        """
        notifiers:
          team:
            urls: [json://127.0.0.1:8080/hook]
            title: "${TEAM_NAME} done"
        """,
        {"TEAM_NAME": "platform-team"},
    )

    assert redact("platform-team") == "platform-team"


def test_double_dollar_writes_a_literal_reference(load):
    config = load(
        """
        notifiers:
          team:
            urls: [json://127.0.0.1:8080/hook]
            body: "cost: $${price}"
        """
    )

    assert config.notifiers["team"].body == "cost: ${price}"


def test_unterminated_reference_is_reported(problems):
    found = problems(
        """
        notifiers:
          team:
            urls: [json://127.0.0.1:8080/hook]
            body: "cost: ${price"
        """
    )

    assert found == [
        "config.yaml:4: notifiers.team.body: unterminated '${' (write $${ for a literal ${)"
    ]


def test_every_failed_reference_in_one_value_is_reported(problems):
    found = problems(
        """
        notifiers:
          team:
            urls: [json://127.0.0.1:8080/hook]
            body: "${FIRST} and ${SECOND}"
        """
    )

    assert found == [
        "config.yaml:4: notifiers.team.body: environment variable FIRST is not set",
        "config.yaml:4: notifiers.team.body: environment variable SECOND is not set",
    ]


def test_failed_reference_is_not_reported_again_by_validation(problems):
    found = problems(
        """
        defaults:
          stall_after: ${STALL}
        """
    )

    assert found == ["config.yaml:2: defaults.stall_after: environment variable STALL is not set"]


def test_interpolated_number_is_validated_as_one(load):
    config = load("defaults: {unreachable_after: '${TRIES}'}\n", {"TRIES": "3"})

    assert config.defaults.unreachable_after == 3
