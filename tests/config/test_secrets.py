"""Secrets from the config never show in errors, and are registered for redaction."""

from __future__ import annotations

from monitor.redact import redact

TOKEN = "tok-3f9a8b7c6d5e"


def test_token_from_env_in_a_wrong_field_is_not_shown(problems):
    found = problems(
        """
        defaults:
          poll: {initial: "${API_TOKEN}"}
        """,
        {"API_TOKEN": TOKEN},
    )

    assert found == [
        "config.yaml:2: defaults.poll.initial: '***' is not a duration"
        " (use 30s, 5m, 2h, 1d or seconds)"
    ]


def test_token_from_env_inside_a_wrong_value_is_not_shown(problems):
    found = problems(
        """
        http:
          listen: "${API_TOKEN}:notaport"
        """,
        {"API_TOKEN": TOKEN},
    )

    assert len(found) == 1
    assert TOKEN not in found[0]


def test_literal_value_under_a_secret_key_is_not_echoed(problems):
    found = problems(
        """
        providers:
          hr:
            type: fake
            base_url: https://hr.example.com
            token: 12345678
            max_concurrency: many
        """
    )

    assert "12345678" not in "\n".join(found)
    assert (
        found[0]
        == "config.yaml:5: providers.hr.token: expected text, not a number (put it in quotes)"
    )


def test_provider_secrets_are_registered(load):
    load(
        """
        providers:
          hr: {type: fake, base_url: "https://hr.example.com", token: literal-hr-token}
        """
    )

    assert redact("sent literal-hr-token") == "sent ***"


def test_http_token_is_registered(load):
    load(
        """
        http:
          token: literal-api-token
        """
    )

    assert redact("literal-api-token") == "***"


def test_notifier_url_password_is_registered(load):
    load(
        """
        notifiers:
          mail:
            urls: ["mailto://ops:mail-pa55word@mail.example.com?to=ops@example.com"]
        """
    )

    assert redact("login with mail-pa55word") == "login with ***"


def test_http_token_is_not_in_the_config_repr(load):
    config = load("http: {token: literal-api-token}\n")

    assert "literal-api-token" not in repr(config)
