"""A notifier template that does not compile is a config error at load,
naming the file and line; one that compiles is accepted as written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config


def load(folder: Path, notifier_block: str):
    path = folder / "config.yaml"
    path.write_text(
        "notifiers:\n  team:\n    urls: [json://127.0.0.1:9/hook]\n"
        + textwrap.indent(textwrap.dedent(notifier_block), "    ")
    )
    return load_config(path, environ={})


def test_a_title_that_does_not_compile_is_an_error_at_its_line(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, "title: '{{ watch '\n")
    (issue,) = raised.value.issues
    assert str(issue).startswith(f"{tmp_path / 'config.yaml'}:4: ")
    assert "invalid template: TemplateSyntaxError" in issue.message


def test_a_body_with_an_unclosed_block_names_the_template_line(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, "body: |\n  {{ watch }}\n  {% if jobs %}\n    {{ summary }}\n")
    (issue,) = raised.value.issues
    assert issue.line == 4
    assert "template line" in issue.message


def test_an_oversized_template_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="more than 8192"):
        load(tmp_path, f"body: '{'x' * 9000}'\n")


def test_a_template_that_compiles_is_kept_as_written(tmp_path):
    config = load(tmp_path, "title: '{{ watch }} {{ event | upper }}'\n")
    assert config.notifiers["team"].title == "{{ watch }} {{ event | upper }}"
