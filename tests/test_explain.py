"""`loadwatch explain PROVIDER FILE`, run as a user runs it: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parent.parent
PAYLOADS = ROOT / "tests" / "payloads"
SALESFORCE = ROOT / "examples" / "http_json" / "salesforce-bulk2.yaml"
SALESFORCE_TOKEN = "00D5g000004Sk!explain-token"
KPA_TOKEN = "kpa-explain-token-91c2"


def explain(*args: str | Path) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "SALESFORCE_INSTANCE": "acme",
        "SALESFORCE_TOKEN": SALESFORCE_TOKEN,
        "KPA_TOKEN": KPA_TOKEN,
    }
    return subprocess.run(
        [sys.executable, "-m", "monitor", "explain", *map(str, args)],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def kpa_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            providers:
              hr:
                type: kpa_flex
                token: ${KPA_TOKEN}
            """
        )
    )
    return path


def fields(output: str) -> dict[str, str]:
    """`label   value` lines as a mapping (labels are the first 12 columns)."""
    return {line[:12].strip(): line[13:] for line in output.splitlines() if line[:12].strip()}


def test_explain_shows_state_raw_status_counts_and_the_rule_that_matched() -> None:
    saved = PAYLOADS / "http_json" / "salesforce_bulk2" / "job_complete_with_failures.json"
    result = explain("-c", SALESFORCE, "salesforce", saved)
    assert result.returncode == 0, result.stderr
    shown = fields(result.stdout)
    assert shown["provider"] == "salesforce (http_json)"
    assert shown["state"] == "partial"
    assert shown["raw status"] == "JobComplete"
    assert shown["counts"] == "processed 10000, errors 37"
    assert (
        shown["rule"] == "rules[2]: state == 'JobComplete' && numberRecordsFailed > `0` → partial"
    )


def test_explain_json_gives_every_field() -> None:
    saved = PAYLOADS / "http_json" / "salesforce_bulk2" / "failed.json"
    result = explain("-c", SALESFORCE, "salesforce", saved, "--json", "--job", "7505g0000")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["job"] == "7505g0000"
    assert (shown["state"], shown["raw_status"]) == ("failed", "Failed")
    assert shown["message"] == "InvalidBatch : Field name not found : Acount_Number__c"
    assert shown["rule"] == {"index": 4, "when": "state == 'Failed'", "state": "failed"}
    assert shown["finished_at"] == "2026-03-02T06:16:40+00:00"


def test_explain_unrecognized_status_prints_the_failure_and_exits_1(tmp_path: Path) -> None:
    saved = tmp_path / "job.json"
    saved.write_text(json.dumps({"state": "Paused", "numberRecordsFailed": 0}))
    result = explain("-c", SALESFORCE, "salesforce", saved)
    assert result.returncode == 1
    shown = fields(result.stdout)
    assert shown["failure"] == "unrecognized"
    assert shown["reason"] == "unrecognized status 'Paused'"
    assert shown["raw status"] == "Paused"


def test_explain_works_with_a_built_in_provider(tmp_path: Path) -> None:
    saved = PAYLOADS / "kpa_flex" / "status_error.json"
    result = explain("-c", kpa_config(tmp_path), "hr", saved, "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["type"], shown["state"], shown["rule"]) == ("kpa_flex", "failed", None)
    assert "Row 87" in shown["details"]["history"]


def test_explain_throttle_answer_exits_1_with_the_wait(tmp_path: Path) -> None:
    saved = PAYLOADS / "kpa_flex" / "error_rate_limit_exceeded.json"
    result = explain("-c", kpa_config(tmp_path), "hr", saved)
    assert result.returncode == 1
    shown = fields(result.stdout)
    assert (shown["failure"], shown["retry after"]) == ("throttled", "60s")


def test_explain_a_file_that_is_not_json_is_a_malformed_payload(tmp_path: Path) -> None:
    saved = tmp_path / "page.html"
    saved.write_text("<html><body>Sign in</body></html>")
    result = explain("-c", kpa_config(tmp_path), "hr", saved)
    assert result.returncode == 1
    assert fields(result.stdout)["reason"] == "malformed payload: HTML page instead of JSON"


def test_explain_masks_secrets_found_in_the_response(tmp_path: Path) -> None:
    saved = tmp_path / "job.json"
    history = f"request with token {KPA_TOKEN} refused row 3"
    body = {"ok": True, "dataload": {"status": "error", "created": 0, "history": history}}
    saved.write_text(json.dumps(body))
    result = explain("-c", kpa_config(tmp_path), "hr", saved)
    assert result.returncode == 0, result.stderr
    assert "refused row 3" in result.stdout
    assert KPA_TOKEN not in result.stdout


def test_explain_unknown_provider_exits_2_naming_the_known_ones(tmp_path: Path) -> None:
    saved = PAYLOADS / "kpa_flex" / "status_dataload.json"
    result = explain("-c", kpa_config(tmp_path), "nope", saved)
    assert result.returncode == 2
    assert "no provider named 'nope' (known: hr)" in result.stderr


def test_explain_missing_file_exits_2(tmp_path: Path) -> None:
    result = explain("-c", kpa_config(tmp_path), "hr", tmp_path / "missing.json")
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "missing.json" in result.stderr
