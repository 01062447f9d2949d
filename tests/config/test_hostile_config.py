"""Config abuse: every hostile file is a `FILE:LINE:` error (or a clear error
without a line), fast, never a traceback; alias expansion, nesting depth and
file sizes are bounded. Property tests feed the loader arbitrary YAML,
wrong types, control characters and invalid UTF-8."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import ConfigError, load_config

BASE = """\
providers:
  hr: {type: kpa_flex, base_url: "https://api.example.com/v1", token: abcd1234}
notifiers:
  team: {urls: ["json://127.0.0.1:9/hook"]}
watches:
  - {name: nightly, provider: hr, job: "1", notify: [team]}
"""
HANG = 5.0  # generous: each of these takes well under a second; this catches a hang


def alias_bomb() -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
    return text


HOSTILE = {
    "control character": (BASE + "# bell \x07 here\n", r"config\.yaml:7: unacceptable character"),
    "alias bomb": (alias_bomb(), r"config\.yaml:\d+: more than 100000 values"),
    "nested brackets": ("x: " + "[" * 1000 + "]" * 1000 + "\n", r"config\.yaml:1: .*nested"),
    "nested blocks": (
        "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n",
        r"config\.yaml:\d+: nested deeper than 64 levels",
    ),
    "5000-digit integer": (
        BASE + "defaults: {unreachable_after: " + "9" * 5000 + "}\n",
        r"config\.yaml:7: defaults\.unreachable_after: a number with too many digits",
    ),
    "malformed http_json URL": (
        "providers:\n  j:\n    type: http_json\n    request: {url: 'http://[::1/jobs/{job}'}\n"
        "    status: status\n    rules: [{when: \"status == 'x'\", state: succeeded}]\n",
        r"config\.yaml:4: providers\.j\.request\.url: ",
    ),
    "malformed base_url": (
        BASE.replace("https://api.example.com/v1", "http://[::1"),
        r"config\.yaml:2: providers\.hr\.base_url: .*not a URL",
    ),
    "file reference to /dev/zero": (
        BASE.replace("token: abcd1234", 'token: "${file:/dev/zero}"'),
        r"config\.yaml:2: providers\.hr\.token: /dev/zero is not a regular file",
    ),
    "huge file": (
        BASE + "# " + "x" * (2 * 1024 * 1024) + "\n",
        r"config\.yaml: the file is larger",
    ),
    "infinite duration": (
        BASE + "defaults: {stall_after: .inf}\n",
        r"config\.yaml:7: defaults\.stall_after: .*finite",
    ),
    "job id with a control character": (
        BASE.replace('job: "1"', 'job: "1\\u001b[2J"'),
        r"config\.yaml:6: watches\[0\]\.job: .*cannot be a job id",
    ),
    "job id longer than its column": (
        BASE.replace('job: "1"', f'job: "{"9" * 600}"'),
        r"config\.yaml:6: watches\[0\]\.job: .*cannot be a job id",
    ),
    "NaN rate": (
        BASE.replace("token: abcd1234", "token: abcd1234, max_rps: .nan"),
        r"config\.yaml:2: providers\.hr\.max_rps: ",
    ),
}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "config.yaml"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_config_is_one_clear_error(config_file: Path, name: str) -> None:
    text, expected = HOSTILE[name]
    config_file.write_text(text)
    started = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        load_config(config_file, environ={})
    assert time.monotonic() - started < HANG
    message = str(refused.value).replace(str(config_file.parent) + "/", "")
    assert len(refused.value.issues) == 1, message
    assert re.match(expected, message), message


def test_check_reports_an_alias_bomb_without_a_traceback(config_file: Path) -> None:
    config_file.write_text(alias_bomb())
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "-c", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "more than 100000 values" in result.stderr + result.stdout


# --- property tests --------------------------------------------------------------------

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
KEYS = [
    "providers", "notifiers", "watches", "defaults", "http", "database", "type", "base_url",
    "token", "urls", "name", "provider", "job", "poll", "initial", "factor", "max", "jitter",
    "stall_after", "deadline", "on", "notify", "request", "url", "status", "rules", "when",
    "state", "listen", "discover", "expect", "quiet", "title", "body", "max_rps", "timeout",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["kpa_flex", "http_json", "1h", "nan", "-5s", "${X}", "${file:/dev/null}"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=25,
)


def loads_or_refuses(path: Path) -> None:
    """The only two outcomes allowed: a Config, or a ConfigError whose every
    line names the file."""
    try:
        load_config(path, environ={"X": "x"})
    except ConfigError as error:
        assert error.issues
        for issue in error.issues:
            assert issue.file == str(path)
            assert "\n" not in issue.message
            assert "Traceback" not in issue.message


@PROPERTY
@given(data=documents)
def test_any_yaml_document_loads_or_is_refused_with_file_and_line(
    config_file: Path, data: object
) -> None:
    config_file.write_text(yaml.safe_dump(data, allow_unicode=True))
    loads_or_refuses(config_file)


@PROPERTY
@given(text=st.text(max_size=300))
def test_any_text_loads_or_is_refused(config_file: Path, text: str) -> None:
    config_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    loads_or_refuses(config_file)


@PROPERTY
@given(data=st.binary(max_size=300))
def test_any_bytes_load_or_are_refused(config_file: Path, data: bytes) -> None:
    config_file.write_bytes(data)
    loads_or_refuses(config_file)


@PROPERTY
@given(
    line=st.integers(0, 7),
    junk=st.one_of(
        st.text(max_size=40),
        st.sampled_from(["\x00", "\x1b[31m", "&a [*a]", "{{{{", "- - -", ": :", "\t", "\ufeff"]),
    ),
)
def test_a_good_config_with_junk_inserted_loads_or_is_refused(
    config_file: Path, line: int, junk: str
) -> None:
    lines = BASE.splitlines()
    lines.insert(min(line, len(lines)), junk)
    config_file.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    loads_or_refuses(config_file)
