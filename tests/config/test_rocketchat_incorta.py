"""The rocketchat and incorta provider blocks as the config loader reads them."""

from __future__ import annotations

import pytest

from monitor.domain import State
from monitor.redact import redact


def test_rocketchat_block_registers_user_id_and_token_as_secrets(load):
    config = load(
        """
        providers:
          chat:
            type: rocketchat
            base_url: https://chat.example.com
            user_id: ${RC_USER_ID}
            auth_token: ${RC_TOKEN}
        """,
        {"RC_USER_ID": "rc-user-from-env", "RC_TOKEN": "rc-token-from-env"},
    )

    assert config.providers["chat"].max_rps == pytest.approx(4 / 60)
    assert redact("rc-user-from-env rc-token-from-env") == "*** ***"


def test_rocketchat_can_discover(load):
    config = load(
        """
        providers:
          chat: {type: rocketchat, base_url: "https://chat.example.com", user_id: u, auth_token: t}
        watches:
          - {name: every-import, provider: chat, discover: {}}
        """
    )

    assert config.watches[0].discover == {}


def test_incorta_status_map_is_read_in_order_as_states(load):
    config = load(
        """
        providers:
          bi:
            type: incorta
            base_url: https://my-cluster.cloud.incorta.com/incorta
            tenant: Default
            token: incorta-token
            status_map:
              In Queue: pending
              Completed OK: Succeeded
        """
    )

    assert config.providers["bi"].status_map == {
        "In Queue": State.PENDING,
        "Completed OK": State.SUCCEEDED,
    }


def test_incorta_status_map_unknown_state_is_reported_at_its_line(problems):
    found = problems(
        """
        providers:
          bi:
            type: incorta
            base_url: https://my-cluster.cloud.incorta.com/incorta
            tenant: default
            token: incorta-token
            status_map:
              In Queue: pending
              Completed OK: done
        """
    )

    assert found == [
        "config.yaml:9: providers.bi.status_map.Completed OK: 'done' is not a state (use one of:"
        " pending, running, waiting, succeeded, partial, failed, canceled)"
    ]


def test_incorta_level_outside_1_to_4_is_reported_at_its_line(problems):
    found = problems(
        """
        providers:
          bi: {type: incorta, base_url: "https://x/incorta", tenant: default, token: t, level: 5}
        """
    )

    assert found == ["config.yaml:2: providers.bi.level: must be at most 4"]


def test_incorta_cannot_discover(problems):
    found = problems(
        """
        providers:
          bi: {type: incorta, base_url: "https://x/incorta", tenant: default, token: t}
        watches:
          - {name: every-plan, provider: bi, discover: {}}
        """
    )

    assert found == [
        "config.yaml:4: watches[0].discover: provider 'bi' (type incorta) cannot discover jobs;"
        " give a job id instead"
    ]
