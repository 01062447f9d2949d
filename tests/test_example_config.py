"""config.example.yaml stays a valid, complete example."""

from __future__ import annotations

from pathlib import Path

from monitor.config import load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.yaml"
ENVIRONMENT = {
    name: f"example-{name.lower()}-value"
    for name in (
        "KPA_TOKEN",
        "COMESTRI_TOKEN",
        "FULLSTORY_KEY",
        "RC_USER_ID",
        "RC_TOKEN",
        "INCORTA_TOKEN",
        "HUBSPOT_TOKEN",
    )
}


def test_example_config_validates_with_the_documented_variables():
    config = load_config(EXAMPLE, environ=ENVIRONMENT)
    assert {p.type for p in config.providers.values()} == {
        "kpa_flex",
        "comestri",
        "fullstory",
        "rocketchat",
        "incorta",
        "http_json",
    }
    assert len(config.watches) == 6


def test_example_config_names_the_variables_the_readme_lists():
    readme = (EXAMPLE.parent / "README.md").read_text()
    for name in ENVIRONMENT:
        assert name in EXAMPLE.read_text()
        assert name in readme
