"""The real kpa_flex provider block; skipped until monitor.providers.kpa_flex exists."""

from __future__ import annotations

import pytest

from monitor.redact import redact

pytest.importorskip("monitor.providers.kpa_flex")


def test_kpa_flex_block_is_validated_by_its_settings_model(load):
    config = load(
        """
        providers:
          hr:
            type: kpa_flex
            base_url: https://api.kpaflextest.com/v1
            token: ${KPA_TOKEN}
            max_rps: 20/min
        """,
        {"KPA_TOKEN": "kpa-token-from-env"},
    )

    settings = config.providers["hr"]
    assert settings.type == "kpa_flex"
    assert settings.max_rps == pytest.approx(20 / 60)
    assert redact("kpa-token-from-env") == "***"


def test_kpa_flex_unknown_key_is_reported_at_its_line(problems):
    found = problems(
        """
        providers:
          hr:
            type: kpa_flex
            base_url: https://api.kpaflextest.com/v1
            token: kpa-token
            tokn: kpa-token
        """
    )

    assert found == ["config.yaml:6: providers.hr: unknown key 'tokn' (did you mean 'token'?)"]


def test_kpa_flex_cannot_discover(problems):
    found = problems(
        """
        providers:
          hr: {type: kpa_flex, base_url: "https://api.kpaflextest.com/v1", token: kpa-token}
        watches:
          - {name: every-load, provider: hr, discover: {}}
        """
    )

    assert found == [
        "config.yaml:4: watches[0].discover: provider 'hr' (type kpa_flex) cannot discover jobs;"
        " give a job id instead"
    ]
