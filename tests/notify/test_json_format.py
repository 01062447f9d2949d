"""The `format: json` document for one context: fields, caps, valid JSON always."""

from __future__ import annotations

import json

from monitor.notify.json_format import MAX_CHILDREN, json_body
from monitor.notify.messages import MessageContext
from monitor.redact import add_secret


def test_the_document_holds_the_events_facts():
    context = MessageContext(
        watch="hr",
        event="partial",
        provider="hr",
        provider_type="kpa_flex",
        job="J1",
        state="partial",
        raw_status="complete",
        progress=1.0,
        counts={"errors": 3},
        children=["Group 1 / t1: Failed"],
        idempotency_key="hr/J1:partial",
    )
    document = json.loads(json_body(context))
    assert document["type"] == "warning"
    assert document["counts"] == {"errors": 3}
    assert document["children"] == ["Group 1 / t1: Failed"]
    assert document["key"] == "hr/J1:partial"


def test_many_children_are_capped_and_counted_and_the_json_stays_valid():
    children = [f"table {n}: Failed" for n in range(MAX_CHILDREN + 25)]
    context = MessageContext(watch="w", event="failed", children=children, progress=float("nan"))
    document = json.loads(json_body(context))
    assert len(document["children"]) == MAX_CHILDREN
    assert document["more_children"] == 25
    assert document["progress"] is None  # JSON has no NaN


def test_secrets_are_masked_inside_the_document():
    add_secret('s3cr3t-value-quote"d')
    context = MessageContext(
        watch="w", event="failed", message='token s3cr3t-value-quote"d refused'
    )
    body = json_body(context)
    assert "s3cr3t" not in body
    assert json.loads(body)["message"] == "token *** refused"
