"""The command line itself: every flag explains itself, options that make no
sense for a command are refused, and result lines stand alone."""

from __future__ import annotations

import argparse
import textwrap

from monitor.cli import _parser
from tests.cli.process import loadwatch


def _parsers(parser: argparse.ArgumentParser, path: str = "loadwatch"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_flag_of_every_command_has_help_text():
    undocumented = [
        f"{path} {action.option_strings or action.dest}"
        for path, parser in _parsers(_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and (action.help is None or not action.help.strip())
    ]
    assert undocumented == []


def test_help_shows_the_log_options_and_json():
    result = loadwatch("status", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--json print JSON for scripts instead of a table" in text
    assert "--log-format {text,json} log lines as text, or one JSON object per line" in text
    assert "--all also the jobs of retired (removed) watches" in text


def test_demo_refuses_a_config_file_and_says_what_to_use(tmp_path):
    result = loadwatch("demo", "-c", str(tmp_path / "config.yaml"))
    assert result.returncode == 2
    assert "takes no -c" in result.stderr and "loadwatch simulate" in result.stderr


def test_notify_test_prints_only_its_own_result_lines(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            providers:
              hr: {type: kpa_flex, base_url: "http://127.0.0.1:9/v1", token: t}
            notifiers:
              team:
                urls: ["json://127.0.0.1:9/hook"]
            """
        )
    )
    result = loadwatch("notify-test", "-c", str(config))
    assert result.returncode == 1
    assert result.stdout.startswith("team json://127.0.0.1:9/hook: FAILED: ")
    assert result.stderr == ""  # Apprise's own warning would say it again here

    online = loadwatch("check", "--online", "-c", str(config))
    assert "notifier team json://127.0.0.1:9/hook: FAILED" in online.stdout
    assert "apprise" not in online.stderr.lower()
