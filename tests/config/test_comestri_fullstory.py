"""The comestri and fullstory provider blocks as the config loader reads them."""

from __future__ import annotations

from monitor.redact import redact


def test_comestri_block_with_legacy_email_is_loaded(load):
    config = load(
        """
        providers:
          catalog:
            type: comestri
            token: ${COMESTRI_TOKEN}
            email: ops@example.com
        """,
        {"COMESTRI_TOKEN": "comestri-token-from-env"},
    )
    settings = config.providers["catalog"]
    assert (settings.type, settings.base_url) == ("comestri", "https://product.comestri.com/api/v2")
    assert redact("comestri-token-from-env") == "***"


def test_comestri_discovery_watch_is_accepted(load):
    config = load(
        """
        providers:
          catalog: {type: comestri, token: comestri-token}
        watches:
          - name: catalog-imports
            provider: catalog
            discover: {created_by: etl@example.com, entity: products}
        """
    )
    assert config.watches[0].discover == {"created_by": "etl@example.com", "entity": "products"}


def test_fullstory_block_defaults_to_events(load):
    config = load(
        """
        providers:
          analytics: {type: fullstory, api_key: "${FULLSTORY_KEY}"}
        """,
        {"FULLSTORY_KEY": "fullstory-key-from-env"},
    )
    settings = config.providers["analytics"]
    assert (settings.kind, settings.base_url) == ("events", "https://api.fullstory.com")
    assert redact("fullstory-key-from-env") == "***"


def test_fullstory_unknown_kind_is_reported_at_its_line(problems):
    found = problems(
        """
        providers:
          analytics:
            type: fullstory
            api_key: fullstory-key
            kind: sessions
        """
    )
    assert found == [
        "config.yaml:5: providers.analytics.kind: 'sessions' is not one of 'events' or 'users'"
    ]


def test_fullstory_discovery_watch_is_refused(problems):
    found = problems(
        """
        providers:
          analytics: {type: fullstory, api_key: fullstory-key}
        watches:
          - name: imports
            provider: analytics
            discover: {}
        """
    )
    assert any("cannot discover jobs" in line for line in found), found
