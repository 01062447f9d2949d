"""A provider's status is cleaned once, however many wrappers it passes
through, and a status built from a clean one is cleaned again."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings

from monitor.domain import JobStatus, State
from monitor.providers.sanitize import clean_status
from tests.hostile import assert_safe_status, trouble_text


def test_a_clean_status_comes_back_as_it_is() -> None:
    clean = clean_status(JobStatus(State.RUNNING, "dataloading\x00", message="half way"))
    assert clean_status(clean) is clean
    assert clean.raw_status == "dataloading\\x00"


@settings(max_examples=60, deadline=None)
@given(text=trouble_text)
def test_a_status_rebuilt_from_a_clean_one_is_cleaned_again(text: str) -> None:
    clean = clean_status(JobStatus(State.RUNNING, "dataloading"))
    rebuilt = dataclasses.replace(clean, raw_status=text, message=text, job_id=text)
    again = clean_status(rebuilt)
    assert_safe_status(again)
    assert again == clean_status(JobStatus(State.RUNNING, text, message=text, job_id=text))
