"""`loadwatch check --online`: each provider's credentials and each notifier
URL tried for real (the KPA simulator, a json:// receiver), a line each."""

from __future__ import annotations

import os
import subprocess
import sys

from monitor.config import load_config
from monitor.providers.base import Provider
from monitor.providers.kpa_flex import KpaFlexProvider
from monitor.service import online
from monitor.service.online import check_online
from monitor.simulators.kpa_flex import KpaFlexSimulator
from tests.service.conftest import KPA_TOKEN, service_config
from tests.service.processes import REPOSITORY, free_port


def check_online_command(config) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--online", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPOSITORY,
        env=os.environ,
    )


def test_good_credentials_and_a_working_notifier_pass(tmp_path, kpa, json_receiver):
    config = service_config(tmp_path, "sqlite:///lw.db", kpa, json_receiver.url, watches="[]")

    result = check_online_command(config)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[1] == f"database {tmp_path}/lw.db: no file yet (`run` or `db upgrade` creates it): ok"
    )
    assert lines[2].startswith("provider hr (kpa_flex): ok: token accepted")
    assert lines[3] == f"notifier team json://127.0.0.1:{json_receiver.port}/hook: ok"
    assert json_receiver.wait_for(1)[0]["title"] == "loadwatch test message"


def test_a_refused_token_fails_naming_the_provider(tmp_path, json_receiver):
    with KpaFlexSimulator(token="another-token-entirely", rate_limit=None) as kpa:
        config = service_config(tmp_path, "sqlite:///lw.db", kpa, json_receiver.url, watches="[]")
        result = check_online_command(config)

    assert result.returncode == 1
    assert "provider hr (kpa_flex): FAILED: auth: " in result.stdout
    assert KPA_TOKEN not in result.stdout + result.stderr


def test_an_unreachable_notifier_fails_naming_the_url(tmp_path, kpa):
    nobody = f"json://127.0.0.1:{free_port()}/hook"
    config = service_config(tmp_path, "sqlite:///lw.db", kpa, nobody, watches="[]")

    result = check_online_command(config)

    assert result.returncode == 1
    assert "provider hr (kpa_flex): ok" in result.stdout
    assert f"notifier team {nobody}: FAILED" in result.stdout


class _Uncheckable(KpaFlexProvider):
    check_credentials = Provider.check_credentials  # the interface's: not implemented


async def test_a_provider_without_credential_check_is_skipped(
    tmp_path, kpa, json_receiver, monkeypatch, capsys
):
    monkeypatch.setattr(online, "provider_class", lambda type_name: _Uncheckable)
    path = service_config(tmp_path, "sqlite:///lw.db", kpa, json_receiver.url, watches="[]")

    code = await check_online(load_config(path, environ={}))

    assert code == 0
    assert "provider hr (kpa_flex): skipped: no credential check" in capsys.readouterr().out
